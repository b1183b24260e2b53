"""De-identified exports: Safe Harbor shape, CSV/Parquet agreement, versions, access, audit."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.config import Settings
from app.main import create_app
from app.models import AuditEvent
from tests.support import Api, Registry, hads, run_db, table_locked

DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
T1 = dt.datetime(2024, 2, 1, 9, 0, tzinfo=dt.UTC)


def _iso(when: dt.datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


@pytest.fixture(scope="module")
def cohort(registry: Registry) -> dict[str, Any]:
    """One site: a treated patient (amended and retracted responses), an untreated one aged
    over 90, and a male patient; returns what the tests need to check the export."""
    clinic = registry.new_clinic()
    treated = clinic.make_patient(birth_year=1970, conditions=["neuropathic", "fibromyalgia"])
    first = clinic.make_infusion(treated["id"], started_at=_iso(T1))
    clinic.make_infusion(treated["id"], started_at=_iso(T1 + dt.timedelta(days=7)))
    base = clinic.make_response(treated["id"], collected_at=_iso(T1 - dt.timedelta(days=3)))
    post = clinic.make_response(
        treated["id"], instrument="hads", timepoint="post_infusion", infusion_id=first["id"],
        collected_at=_iso(T1 + dt.timedelta(hours=6)), answers=hads(2, 1, 2, 1, 2, 1, 2, 1, 2,
        1, 2, 1, None, 1),
    )  # fmt: skip
    amended = clinic.make_response(
        treated["id"], timepoint="follow_up", visit="M1",
        collected_at=_iso(T1 + dt.timedelta(days=30, hours=12)),
    )  # fmt: skip
    clinic.ok("POST", f"/v1/responses/{amended['id']}/amend",
              json={"answers": {"score": 3}, "reason": "Transcription error"})  # fmt: skip
    retracted = clinic.make_response(treated["id"], timepoint="follow_up", visit="M2")
    clinic.ok("POST", f"/v1/responses/{retracted['id']}/retract", json={"reason": "Wrong patient"})
    old = clinic.make_patient(birth_year=1920, enrolled_on="2024-03-01", sex="male",
                              conditions=[])  # fmt: skip
    old_resp = clinic.make_response(old["id"], collected_at="2024-03-02T18:00:00Z")
    return {
        "clinic": clinic, "treated": treated, "old": old, "base": base, "post": post,
        "amended": amended, "retracted": retracted, "old_resp": old_resp,
    }  # fmt: skip


def _csv_rows(api: Api, **params: Any) -> tuple[str, list[dict[str, str]]]:
    r = api.get("/v1/exports/responses.csv", params=params)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    return r.text, list(csv.DictReader(io.StringIO(r.text)))


def _parquet(api: Api, **params: Any) -> pa.Table:
    r = api.get("/v1/exports/responses.parquet", params=params)
    assert r.status_code == 200, r.text
    return pq.read_table(io.BytesIO(r.content))


def test_csv_is_deidentified(cohort: dict[str, Any], analyst: Api) -> None:
    text, rows = _csv_rows(analyst, site=cohort["clinic"].site)
    assert cohort["treated"]["pseudonym"] not in text
    assert cohort["old"]["pseudonym"] not in text
    assert not DATE.search(text), "no absolute date may leave in an export"
    assert "Transcription error" not in text
    assert "Wrong patient" not in text
    assert {r["patient_id"] for r in rows} == {cohort["treated"]["id"], cohort["old"]["id"]}


def test_header_follows_the_dictionary(cohort: dict[str, Any], analyst: Api) -> None:
    names = [c["name"] for c in analyst.ok("GET", "/v1/exports/dictionary")["columns"]]
    assert names == [
        "patient_id", "site", "birth_year", "sex", "conditions", "response_id", "version",
        "instrument", "timepoint", "visit", "infusion_number", "day", "pain", "hads_anxiety",
        "hads_depression", "prorated",
    ]  # fmt: skip
    text, _ = _csv_rows(analyst, site=cohort["clinic"].site)
    assert text.splitlines()[0].split(",") == names


def test_versions_retractions_and_offsets(cohort: dict[str, Any], analyst: Api) -> None:
    _, rows = _csv_rows(analyst, site=cohort["clinic"].site)
    by_id = {r["response_id"]: r for r in rows}
    assert cohort["retracted"]["id"] not in by_id
    amended = by_id[cohort["amended"]["id"]]
    assert (amended["version"], float(amended["pain"])) == ("2", 3.0)
    assert float(amended["day"]) == pytest.approx(30.5)
    assert float(by_id[cohort["base"]["id"]]["day"]) == pytest.approx(-3.0)
    post = by_id[cohort["post"]["id"]]
    assert (post["infusion_number"], post["prorated"], post["pain"]) == ("1", "true", "")
    assert float(post["day"]) == pytest.approx(0.25)
    assert float(post["hads_anxiety"]) == pytest.approx(14.0)
    assert by_id[cohort["base"]["id"]]["conditions"] == "fibromyalgia;neuropathic"


def test_untreated_patient_counts_from_enrolment_and_old_age_is_collapsed(
    cohort: dict[str, Any], analyst: Api
) -> None:
    _, rows = _csv_rows(analyst, site=cohort["clinic"].site)
    old = next(r for r in rows if r["response_id"] == cohort["old_resp"]["id"])
    assert float(old["day"]) == pytest.approx(1.75)
    assert int(old["birth_year"]) == dt.datetime.now(dt.UTC).year - 90
    assert old["infusion_number"] == ""
    assert old["conditions"] == ""
    treated = next(r for r in rows if r["patient_id"] == cohort["treated"]["id"])
    assert treated["birth_year"] == "1970"


def _typed(value: str, kind: str) -> Any:
    if value == "" and kind != "list<string>":
        return None
    return {
        "string": str, "int32": int, "float64": float, "bool": lambda v: v == "true",
        "list<string>": lambda v: v.split(";") if v else [],
    }[kind](value)  # fmt: skip


def test_parquet_has_the_documented_schema_and_agrees_with_csv(
    cohort: dict[str, Any], analyst: Api
) -> None:
    columns = analyst.ok("GET", "/v1/exports/dictionary")["columns"]
    table = _parquet(analyst, site=cohort["clinic"].site)
    arrow = {"string": pa.string(), "int32": pa.int32(), "float64": pa.float64(),
             "bool": pa.bool_(), "list<string>": pa.list_(pa.string())}  # fmt: skip
    assert table.schema.names == [c["name"] for c in columns]
    for c in columns:
        assert table.schema.field(c["name"]).type == arrow[c["type"]], c["name"]
    _, rows = _csv_rows(analyst, site=cohort["clinic"].site)
    from_csv = [{c["name"]: _typed(r[c["name"]], c["type"]) for c in columns} for r in rows]
    assert table.to_pylist() == from_csv
    assert table.num_rows == 4


def test_filters_narrow_the_export(cohort: dict[str, Any], analyst: Api) -> None:
    site = cohort["clinic"].site
    _, men = _csv_rows(analyst, site=site, sex="male")
    assert {r["patient_id"] for r in men} == {cohort["old"]["id"]}
    _, treated = _csv_rows(analyst, site=site, min_infusions=2)
    assert {r["patient_id"] for r in treated} == {cohort["treated"]["id"]}
    assert _parquet(analyst, site=site, condition="crps").num_rows == 0


def test_as_of_shows_versions_as_they_stood(cohort: dict[str, Any], analyst: Api) -> None:
    before = cohort["amended"]["submitted_at"]
    _, rows = _csv_rows(analyst, site=cohort["clinic"].site, as_of=before)
    by_id = {r["response_id"]: r for r in rows}
    assert by_id[cohort["amended"]["id"]]["version"] == "1"
    assert float(by_id[cohort["amended"]["id"]]["pain"]) == 6.0
    assert cohort["old_resp"]["id"] not in by_id


def test_clinic_keys_cannot_export(cohort: dict[str, Any]) -> None:
    clinic: Api = cohort["clinic"]
    for path in ("responses.csv", "responses.parquet", "dictionary"):
        r = clinic.get(f"/v1/exports/{path}")
        assert r.status_code == 403
        assert r.headers["content-type"] == "application/problem+json"


def test_every_export_is_audited(registry: Registry, admin: Api, cohort: dict[str, Any]) -> None:
    prefix = admin.token[:12]
    admin.get("/v1/exports/responses.parquet", params={"site": cohort["clinic"].site})

    async def events(session: Any) -> list[tuple[str, str, str | None]]:
        rows = await session.execute(
            select(AuditEvent.action, AuditEvent.resource, AuditEvent.resource_id).where(
                AuditEvent.key_prefix == prefix, AuditEvent.action == "export"
            )
        )
        return [tuple(r) for r in rows]

    assert ("export", "responses", "parquet") in run_db(registry.database_url, events)


def test_unknown_site_is_404(analyst: Api) -> None:
    r = analyst.get("/v1/exports/responses.csv", params={"site": "NOPE-404"})
    assert r.status_code == 404


def test_proreg_export_writes_the_same_rows(
    cohort: dict[str, Any], analyst: Api, database_url: str, tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    from typer.testing import CliRunner

    from app import cli
    from app.config import get_settings

    monkeypatch.setenv("PROREG_DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        out = tmp_path / "rows.parquet"
        args = ["export", "--format", "parquet", "--out", str(out), "--site", cohort["clinic"].site]
        result = CliRunner().invoke(cli.app, args)
        assert result.exit_code == 0, result.output
        csv_out = CliRunner().invoke(cli.app, ["export", "--site", cohort["clinic"].site])
        assert csv_out.exit_code == 0
    finally:
        get_settings.cache_clear()
    assert pq.read_table(out).equals(_parquet(analyst, site=cohort["clinic"].site))
    assert csv_out.stdout.splitlines()[0].startswith("patient_id,site,birth_year")


def test_an_export_waits_for_its_first_rows_past_the_request_bound(
    cohort: dict[str, Any], analyst: Api, database_url: str
) -> None:
    """A request's statement may run `db_command_timeout` seconds on PostgreSQL; an export's
    first fetch, which waits while the database joins and orders the whole cohort, grows with
    the registry and is not bounded. Here the versions table stays locked for 1.5 s against
    a 0.5 s bound: a response's history answers 503, and the export streams every row."""
    if not database_url.startswith("postgresql"):
        pytest.skip("the per-statement bound is the PostgreSQL driver's; SQLite has none")
    site = cohort["clinic"].site
    expected = _csv_rows(analyst, site=site)
    settings = Settings(database_url=database_url, rate_limit_per_minute=0, db_command_timeout=0.5)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        bound = Api(client, analyst.token, "analyst")
        clinic = Api(client, cohort["clinic"].token, "clinic", site)
        with table_locked(database_url, "response_versions", 1.5):
            r = clinic.get(f"/v1/responses/{cohort['base']['id']}")
            assert r.status_code == 503, r.text
            assert r.headers["content-type"] == "application/problem+json"
        with table_locked(database_url, "response_versions", 1.5):
            assert _csv_rows(bound, site=site) == expected
