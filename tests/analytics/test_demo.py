"""The demo cohort reproduces the published figures, through the API, on a fresh database."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from app import cli
from app.config import Settings, get_settings
from app.db import make_engine, make_sessionmaker
from app.demo import generate, load_demo
from app.main import create_app
from app.services import keys
from tests.conftest import PG_URL
from tests.support import Api, create_database, drop_database, run_db


@pytest.fixture(scope="module")
def demo_url(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh database of the current backend holding only the demo cohort."""
    if database_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path_factory.mktemp('demo') / 'demo.db'}"
        asyncio.run(create_database(url))
    else:
        assert PG_URL is not None
        url = asyncio.run(create_database(PG_URL, name=f"proreg_demo_{uuid.uuid4().hex[:8]}"))

    async def load() -> None:
        engine = make_engine(url)
        try:
            await load_demo(make_sessionmaker(engine), patients=329, sites=30, seed=0)
        finally:
            await engine.dispose()

    asyncio.run(load())
    yield url
    if not url.startswith("sqlite"):
        asyncio.run(drop_database(url))


@pytest.fixture(scope="module")
def demo_analyst(demo_url: str) -> Iterator[Api]:
    token, _ = run_db(demo_url, lambda s: keys.create_key(s, role="analyst", label="test"))
    settings = Settings(database_url=demo_url, rate_limit_per_minute=0, min_cell=11)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield Api(client, token, "analyst")


def test_demo_reproduces_the_published_table(demo_analyst: Api) -> None:
    body = demo_analyst.ok("GET", "/v1/analytics/cohort", params={"min_infusions": 2})
    assert body["n_patients"] == 329
    assert body["n_sites"] == 30
    assert body["age"]["mean"] == pytest.approx(51.4, abs=0.2)
    assert body["age"]["sd"] == pytest.approx(11.0, abs=0.5)
    assert body["sex"]["female"]["pct"] == pytest.approx(75.7, abs=2)
    published = {"pain": (6.7, 5.6), "hads_depression": (8.8, 7.5), "hads_anxiety": (10.4, 8.7)}
    for scale, (baseline, final) in published.items():
        block = body["scales"][scale]
        assert block["baseline"]["mean"] == pytest.approx(baseline, abs=0.2), scale
        assert block["final"]["mean"] == pytest.approx(final, abs=0.2), scale
        assert block["change"]["p_paired_t"] < 0.001
    assert body["depression"]["pct"] == pytest.approx(64, abs=2)


def test_demo_shapes_the_study_findings(demo_analyst: Api) -> None:
    first = demo_analyst.ok("GET", "/v1/analytics/pain-deltas", params={"window": "first_infusion"})
    depressed, not_depressed = first["strata"]
    assert depressed["delta"]["mean"] < not_depressed["delta"]["mean"] < 0
    rows = demo_analyst.ok("GET", "/v1/analytics/by-infusion", params={"max_k": 3})["rows"]
    assert abs(rows[1]["delta"]["mean"]) < abs(rows[0]["delta"]["mean"]) / 2
    events = demo_analyst.ok("GET", "/v1/analytics/adverse-events")["types"]
    leading = sorted(events, key=lambda t: events[t]["n"] or 0, reverse=True)[:3]
    assert leading == ["fatigue", "nausea", "headache"]
    months = demo_analyst.ok("GET", "/v1/analytics/trajectory")["rows"]
    assert months[12]["overall"]["n"] < months[1]["overall"]["n"]  # dropout
    audit = demo_analyst.ok("GET", "/v1/analytics/cohort", params={"as_of": "2020-01-01T00:00Z"})
    assert audit["n_patients"] == 0  # everything was recorded when the demo ran


def test_demo_is_deterministic_by_seed() -> None:
    assert generate(40, 5, seed=1) == generate(40, 5, seed=1)
    assert generate(40, 5, seed=1) != generate(40, 5, seed=2)
    cohort = generate(329, 30, seed=0)
    responses = [r for p in cohort for r in p.responses]
    assert any(r.first_answers is not None for r in responses)
    assert any(r.retracted for r in responses)
    assert all(len(p.infusions) >= 2 for p in cohort)


def test_cli_demo_and_bootstrap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    asyncio.run(create_database(url))
    monkeypatch.setenv("PROREG_DATABASE_URL", url)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        result = runner.invoke(cli.app, ["demo", "--patients", "12", "--sites", "3", "--seed", "4"])
        assert result.exit_code == 0, result.output
        assert "loaded 12 demo patients" in result.output
        again = runner.invoke(cli.app, ["demo", "--patients", "12", "--sites", "3"])
        assert again.exit_code == 1
        assert "already loaded" in again.output
        boot = runner.invoke(cli.app, ["bootstrap"])  # patients exist: no second cohort
        assert boot.exit_code == 0, boot.output
        assert "analyst" in boot.output
    finally:
        get_settings.cache_clear()
