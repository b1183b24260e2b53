"""as_of: the analysis exactly as the data stood at a past instant."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from fastapi.testclient import TestClient

from tests.analytics.model import Cohort
from tests.support import Api, Registry


def _instant() -> str:
    """An instant strictly between the writes before and after it."""
    time.sleep(0.02)
    when = dt.datetime.now(dt.UTC).isoformat()
    time.sleep(0.02)
    return when


def _pain(api: Api, **params: Any) -> dict[str, Any]:
    body = api.ok("GET", "/v1/analytics/cohort", params=params)
    return body["scales"]["pain"]  # type: ignore[no-any-return]


def test_as_of_before_and_after_amendments_and_retractions(
    registry: Registry, open_client: TestClient
) -> None:
    clinic = registry.new_clinic()
    api = Api(open_client, clinic.token, "clinic", clinic.site)
    c = Cohort(clinic)
    before_anything = _instant()
    p = c.patient()
    c.infusion(p, 10)
    base = c.pain(p, "baseline", 8, 8)
    last = c.pain(p, "follow_up", 40, 6)
    c.pain(p, "follow_up", 20, 7)
    created = _instant()
    c.amend(last, {"score": 2})
    amended = _instant()
    c.retract(last)
    retracted = _instant()
    c.amend(base, {"score": 9})

    assert (
        api.ok("GET", "/v1/analytics/cohort", params={"as_of": before_anything})["n_patients"] == 0
    )
    expected = {created: (8, 6), amended: (8, 2), retracted: (8, 7), None: (9, 7)}
    for as_of, (baseline, final) in expected.items():
        pain = _pain(api, **({"as_of": as_of} if as_of else {}))
        assert (pain["baseline"]["mean"], pain["final"]["mean"]) == (baseline, final), as_of


def test_as_of_ignores_later_infusions_and_patient_edits(
    registry: Registry, open_client: TestClient
) -> None:
    clinic = registry.new_clinic()
    api = Api(open_client, clinic.token, "clinic", clinic.site)
    c = Cohort(clinic)
    p = c.patient(sex="male")
    first = c.infusion(p, 10)
    c.pain(p, "pre_infusion", 10, 6, first, hour=8)
    c.pain(p, "post_infusion", 10, 3, first, hour=12)
    c.pain(p, "follow_up", 5, 5)
    then = _instant()
    c.infusion(p, 2)  # registered late: it becomes infusion 1 from now on
    clinic.ok("PATCH", f"/v1/patients/{p.id}", json={"sex": "female"})
    old = api.ok("GET", "/v1/analytics/by-infusion", params={"as_of": then, "max_k": 2})
    assert [row["n"] for row in old["rows"]] == [1, 0]
    assert old["rows"][0]["delta"]["mean"] == -3
    now = api.ok("GET", "/v1/analytics/by-infusion", params={"max_k": 2})
    assert [row["n"] for row in now["rows"]] == [0, 1]  # the renumbered infusion 2
    then_sex = api.ok("GET", "/v1/analytics/cohort", params={"as_of": then})["sex"]
    assert then_sex["male"]["n"] == 1
    assert api.ok("GET", "/v1/analytics/cohort")["sex"]["female"]["n"] == 1
