"""Baseline for the ingest benchmark: validate the same body, one asyncpg INSERT, nothing else."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from fastapi import FastAPI
from pydantic import AwareDatetime, BaseModel, ConfigDict
from sqlalchemy.engine import make_url


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")
    patient_id: uuid.UUID
    instrument: str
    timepoint: str
    collected_at: AwareDatetime
    answers: dict[str, int | None]


state: dict[str, Any] = {}
TABLE = (
    "CREATE TABLE IF NOT EXISTS bare_responses (id uuid PRIMARY KEY, patient_id uuid,"
    " collected_at timestamptz, answers jsonb)"
)


async def create_table(conn: asyncpg.Pool | asyncpg.Connection) -> None:
    """Also run by bench.ingest before the server starts: with several workers, concurrent
    CREATE TABLE IF NOT EXISTS can fail with a unique violation in PostgreSQL's catalogue,
    which stopped a worker (and left the baseline answering connection errors)."""
    await conn.execute(TABLE)


@asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
    url = make_url(os.environ["BARE_DATABASE_URL"])
    pool = await asyncpg.create_pool(
        host=url.host,
        port=url.port or 5432,
        user=url.username,
        database=url.database,
        min_size=10,
        max_size=10,
    )
    await create_table(pool)
    state["pool"] = pool
    yield
    await pool.close()


app = FastAPI(lifespan=lifespan)


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/v1/responses", status_code=201)
async def create(body: Body) -> dict[str, str]:
    new_id = uuid.uuid4()
    await state["pool"].execute(
        "INSERT INTO bare_responses VALUES ($1, $2, $3, $4)",
        new_id,
        body.patient_id,
        body.collected_at,
        json.dumps(body.answers),
    )
    return {"id": str(new_id)}
