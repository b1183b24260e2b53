"""Rescoring after a scoring change appends versions and leaves retracted responses alone."""

from __future__ import annotations

import pytest

from app.instruments import INSTRUMENTS
from app.services.rescore import rescore_batch
from tests.support import Api, Registry, hads, run_db


def test_rescore_appends_a_version(
    clinic: Api, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid = clinic.make_patient()["id"]
    kept = clinic.make_response(pid, instrument="hads", answers=hads(2))["id"]
    retracted = clinic.make_response(pid, instrument="hads", answers=hads(1))["id"]
    clinic.ok("POST", f"/v1/responses/{retracted}/retract", json={"reason": "duplicate"})
    monkeypatch.setattr(INSTRUMENTS["hads"], "scoring_version", "hads/2")
    while run_db(registry.database_url, lambda s: rescore_batch(s, limit=50)):
        pass
    history = clinic.ok("GET", f"/v1/responses/{kept}")["history"]
    assert [(v["version"], v["scoring_version"]) for v in history] == [(1, "hads/1"), (2, "hads/2")]
    assert history[1]["reason"] == "rescored: hads/1 -> hads/2"
    assert history[1]["scores"] == history[0]["scores"]
    assert history[1]["answers"] == history[0]["answers"]
    untouched = clinic.ok("GET", f"/v1/responses/{retracted}")
    assert (untouched["version"], untouched["scoring_version"]) == (2, "hads/1")
