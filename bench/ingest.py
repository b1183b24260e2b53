"""Single-submission throughput: HADS POSTs with auth, a fresh Idempotency-Key each, scoring
and audit, against a bare FastAPI endpoint doing one asyncpg INSERT — same machine, same run.

    python -m bench.ingest [--seconds 15] [--workers 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from collections.abc import Callable

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from bench import bare_app
from bench.harness import (
    PROREG,
    LoadResult,
    PgBackendCpu,
    Server,
    free_port,
    new_key,
    run_cli,
    scratch_database,
    serve,
    table,
    wrk,
)

HADS = {f"hads_{i}": (i * 7) % 4 for i in range(1, 15)}

LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %(token)s"
local body = '%(body)s'
local counter = 0
local threads = 0
setup = function(thread) threads = threads + 1; thread:set("tid", threads) end
request = function()
  counter = counter + 1
  wrk.headers["Idempotency-Key"] = "%(run)s-" .. tid .. "-" .. counter
  return wrk.format(nil, "/v1/responses", nil, body)
end
"""


def _lua(token: str, patient_id: str) -> str:
    body = {
        "patient_id": patient_id,
        "instrument": "hads",
        "timepoint": "baseline",
        "collected_at": "2024-01-15T10:00:00Z",
        "answers": HADS,
    }
    return LUA % {"token": token, "body": json.dumps(body), "run": uuid.uuid4().hex[:8]}


async def _create_bare_table(url: str) -> None:
    u = make_url(url)
    conn = await asyncpg.connect(
        host=u.host, port=u.port or 5432, user=u.username, database=u.database
    )
    try:
        await bare_app.create_table(conn)
    finally:
        await conn.close()


async def _count(url: str, table_name: str) -> int:
    u = make_url(url)
    conn = await asyncpg.connect(
        host=u.host, port=u.port or 5432, user=u.username, database=u.database
    )
    try:
        return int(await conn.fetchval(f"SELECT count(*) FROM {table_name}"))
    finally:
        await conn.close()


def _measure(
    server: Server, script: Callable[[], str], seconds: int, database: str
) -> tuple[LoadResult, float, float]:
    """The load run, and the CPU milliseconds per request during it of the server and of
    the PostgreSQL backends serving it (the machine's two cores are shared by both, and
    by wrk). Warm-up and run each get a script of their own: with the same one, the run's
    first requests reused the warm-up's Idempotency-Keys and were replays, not submissions."""
    wrk(server.base, script(), seconds=3)  # warm-up: pools, prepared statements, caches
    before = server.cpu_seconds()
    with PgBackendCpu(database) as pg:
        result = wrk(server.base, script(), seconds=seconds)
    n = max(result.requests, 1)
    return result, 1000 * (server.cpu_seconds() - before) / n, 1000 * pg.seconds / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    with scratch_database() as url:
        run_cli(url, "sites", "create", "BENCH", "--name", "bench")
        token = new_key(url, "clinic", "--site", "BENCH")
        database = make_url(url).database or ""
        results: list[tuple[str, LoadResult, float, float, float]] = []
        asyncio.run(_create_bare_table(url))
        port = free_port()
        bare = [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.bare_app:app",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--workers",
            str(args.workers),
        ]
        with serve(bare, {"BARE_DATABASE_URL": url}, port) as server:
            nobody = str(uuid.uuid4())
            res, cpu, pg = _measure(server, lambda: _lua(token, nobody), args.seconds, database)
            results.append(("bare FastAPI + asyncpg INSERT", res, cpu, pg, server.peak_rss_mb()))
        port = free_port()
        app = [*PROREG, "serve", "--port", str(port), "--workers", str(args.workers)]
        env = {
            "PROREG_DATABASE_URL": url,
            "PROREG_LOG_LEVEL": "warning",
            "PROREG_RATE_LIMIT_PER_MINUTE": "0",
        }
        with serve(app, env, port) as server:
            patient = httpx.post(
                server.base + "/v1/patients",
                json={"pseudonym": "B-1"},
                headers={"Authorization": f"Bearer {token}"},
            ).json()
            pid = patient["id"]
            res, cpu, pg = _measure(server, lambda: _lua(token, pid), args.seconds, database)
            results.append(("pro-registry POST /v1/responses", res, cpu, pg, server.peak_rss_mb()))
        stored = asyncio.run(_count(url, "responses"))
    base_rps = results[0][1].rps
    rows = [
        [
            name,
            f"{r.rps:,.0f}",
            f"{r.p50_ms:.1f}",
            f"{r.p99_ms:.1f}",
            f"{cpu:.2f}",
            f"{pg:.2f}",
            f"{rss:.0f}",
            f"{r.errors}",
            f"{100 * r.rps / base_rps:.0f} %",
        ]
        for name, r, cpu, pg, rss in results
    ]
    table(
        f"single submissions, 32 connections, {args.workers} worker(s), {args.seconds} s",
        [
            "endpoint",
            "req/s",
            "p50 ms",
            "p99 ms",
            "server CPU ms/req",
            "PostgreSQL CPU ms/req",
            "peak RSS MB",
            "non-2xx",
            "vs bare",
        ],
        rows,
    )
    print(f"responses stored by pro-registry (incl. warm-up): {stored:,}")


if __name__ == "__main__":
    main()
