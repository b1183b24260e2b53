"""The migrations build exactly what the models describe, and undo cleanly."""

from __future__ import annotations

import asyncio
import datetime
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import insert as insert_into
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.migrations import alembic_config, downgrade, upgrade
from app.models import Patient, Response
from tests.conftest import PG_URL
from tests.support import Api, drop_database, run_db


@pytest.fixture(params=["sqlite", *(["postgresql"] if PG_URL else [])])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    import asyncpg
    from sqlalchemy.engine import make_url

    assert PG_URL is not None
    base = make_url(PG_URL)
    name = f"proreg_mig_{uuid.uuid4().hex[:8]}"

    async def create() -> None:
        conn = await asyncpg.connect(host=base.host, port=base.port or 5432,
                                     user=base.username, database=base.database)  # fmt: skip
        await conn.execute(f'CREATE DATABASE "{name}"')
        await conn.close()

    asyncio.run(create())
    url = base.set(database=name).render_as_string(hide_password=False)
    yield url
    asyncio.run(drop_database(url))


def test_upgrade_check_downgrade_upgrade(empty_database: str) -> None:
    upgrade(empty_database)
    command.check(alembic_config(empty_database))  # raises if models and schema differ
    downgrade(empty_database, "base")
    upgrade(empty_database)
    command.check(alembic_config(empty_database))


REWRITES = [
    ("UPDATE response_versions SET version = version WHERE response_id = :id", "response"),
    ("DELETE FROM response_versions WHERE response_id = :id", "response"),
    ("UPDATE patient_versions SET version = version WHERE patient_id = :id", "patient"),
    ("DELETE FROM patient_versions WHERE patient_id = :id", "patient"),
    ("UPDATE audit_events SET action = action WHERE resource_id = :id", "response"),
    ("DELETE FROM audit_events WHERE resource_id = :id", "response"),
]


@pytest.mark.parametrize(("statement", "target"), REWRITES)
def test_history_tables_refuse_rewrites(
    database_url: str, clinic: Api, statement: str, target: str
) -> None:
    patient = clinic.make_patient()
    response = clinic.make_response(patient["id"])
    ids = {"patient": uuid.UUID(patient["id"]), "response": uuid.UUID(response["id"])}
    ident: object = ids[target] if "audit" not in statement else str(ids[target])

    async def rewrite(session: AsyncSession) -> None:
        await session.execute(text(statement), {"id": _bind(database_url, ident)})

    with pytest.raises(DBAPIError, match="append-only"):
        run_db(database_url, rewrite)
    assert clinic.ok("GET", f"/v1/responses/{response['id']}")["history"][0]["version"] == 1


def _bind(database_url: str, value: object) -> object:
    """UUID columns are CHAR(32) hex on SQLite and native uuid on PostgreSQL."""
    if isinstance(value, uuid.UUID) and database_url.startswith("sqlite"):
        return value.hex
    return value


def _response_row(patient_id: uuid.UUID, site_id: uuid.UUID) -> dict[str, object]:
    now = datetime.datetime.now(datetime.UTC)
    return {"id": uuid.uuid4(), "site_id": site_id, "patient_id": patient_id,
            "instrument": "hads", "timepoint": "follow_up", "created_at": now, "version": 1,
            "status": "completed", "collected_at": now}  # fmt: skip


def test_a_response_carries_its_patients_own_site(
    database_url: str, clinic: Api, other_clinic: Api
) -> None:
    """One foreign key (patient_id, site_id) -> patients: the patient must exist, and the
    site must be that patient's (so a real site); each broken half is refused."""
    patient = clinic.make_patient()
    other = other_clinic.make_patient()
    pid, other_pid = uuid.UUID(patient["id"]), uuid.UUID(other["id"])

    async def site_of(session: AsyncSession, patient_id: uuid.UUID) -> uuid.UUID:
        return (await session.get_one(Patient, patient_id)).site_id

    site = run_db(database_url, lambda s: site_of(s, pid))
    other_site = run_db(database_url, lambda s: site_of(s, other_pid))

    def insert(row: dict[str, object]) -> None:
        async def work(session: AsyncSession) -> None:
            await session.execute(insert_into(Response.__table__), [row])

        run_db(database_url, work)

    for broken in (
        _response_row(pid, other_site),  # a real site, but not the patient's
        _response_row(pid, uuid.uuid4()),  # no such site
        _response_row(uuid.uuid4(), site),  # no such patient
    ):
        with pytest.raises(IntegrityError):
            insert(broken)
    insert(_response_row(pid, site))  # the patient with its own site is accepted


def test_response_foreign_key_check_looks_up_one_patient(empty_database: str) -> None:
    """The check each stored response makes of its (patient_id, site_id) finds the patient by
    id, even on tables that have never been analysed (a new registry, a bulk load in progress,
    autovacuum off): a plan that scanned the site's patients for the id would make every
    stored response cost as much as the site is large."""
    upgrade(empty_database)
    postgresql = empty_database.startswith("postgresql")
    site = uuid.uuid4()

    async def plan(session: AsyncSession) -> str:
        now = datetime.datetime.now(datetime.UTC)
        await session.execute(
            text("INSERT INTO sites (id, code, name, created_at) VALUES (:id, 'S1', 'S', :now)"),
            {"id": _bind(empty_database, site), "now": now},
        )
        patients = [
            {"id": _bind(empty_database, uuid.uuid4()), "site": _bind(empty_database, site),
             "pseudonym": f"p{i}", "now": now}
            for i in range(500)
        ]  # fmt: skip
        await session.execute(
            text(
                "INSERT INTO patients (id, site_id, pseudonym, sex, conditions, version,"
                " created_at, updated_at) VALUES (:id, :site, :pseudonym, 'female', '[]', 1,"
                " :now, :now)"
            ),
            patients,
        )
        lookup = "SELECT 1 FROM patients WHERE id = {0} AND site_id = {1}"
        if postgresql:  # the form and plan of PostgreSQL's own check: generic, one row locked
            await session.execute(text("SET LOCAL plan_cache_mode = force_generic_plan"))
            await session.execute(
                text(f"PREPARE ri(uuid, uuid) AS {lookup.format('$1', '$2')} FOR KEY SHARE")
            )
            # EXPLAIN EXECUTE takes no bind parameters: the values are written in.
            rows = await session.execute(text(f"EXPLAIN EXECUTE ri('{uuid.uuid4()}', '{site}')"))
        else:
            rows = await session.execute(
                text(f"EXPLAIN QUERY PLAN {lookup.format(':id', ':site')}"),
                {"id": uuid.uuid4().hex, "site": site.hex},
            )
        return "\n".join(str(row[-1]) for row in rows)

    shown = run_db(empty_database, plan)
    if postgresql:
        assert "Index Scan using uq_patients_id_site_id" in shown or "pk_patients" in shown, shown
        assert "Filter" not in shown, shown
    else:
        assert "id=?" in shown, shown
