"""Batch ingest: POST /v1/responses/batch of 1,000 HADS items (scored, audited, with per-item
idempotency keys) against PostgreSQL COPY of the same rows, same machine, same run.

    python -m bench.batch [--batches 40] [--clients 4] [--workers 1]

Besides throughput it prints the CPU spent per 1,000 responses by the server processes and by
the PostgreSQL backends (/proc/<pid>/stat, before and after the timed run): steadier than
throughput on a shared machine, and it shows which side the time goes to.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import time
import uuid
from pathlib import Path

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from bench.harness import (
    PROREG,
    _children,
    free_port,
    new_key,
    run_cli,
    scratch_database,
    serve,
    table,
)

BATCH = 1000


def _items(patient_ids: list[str], run: str, batch: int) -> list[dict[str, object]]:
    return [
        {
            "patient_id": patient_ids[i % len(patient_ids)],
            "instrument": "hads",
            "timepoint": "follow_up",
            "collected_at": "2024-03-01T10:00:00Z",
            "answers": {f"hads_{k}": (i + k) % 4 for k in range(1, 15)},
            "idempotency_key": f"{run}-{batch}-{i}",
        }
        for i in range(BATCH)
    ]


def _cpu(pid: int) -> float:
    """User + system CPU seconds of a process so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _backends(url: str) -> list[int]:
    """The PostgreSQL backend processes connected to the benchmark's database."""
    conn = await _connect(url)
    try:
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid()"
        )
    finally:
        await conn.close()
    return [r["pid"] for r in rows]


async def _connect(url: str) -> asyncpg.Connection:
    u = make_url(url)
    return await asyncpg.connect(
        host=u.host, port=u.port or 5432, user=u.username, database=u.database
    )


async def _post_batches(base: str, token: str, patients: list[str], n: int, clients: int) -> float:
    run = uuid.uuid4().hex[:8]
    queue: asyncio.Queue[int] = asyncio.Queue()
    for b in range(n):
        queue.put_nowait(b)
    headers = {"Authorization": f"Bearer {token}"}
    bodies = {b: {"items": _items(patients, run, b)} for b in range(n)}

    async def client() -> None:
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=120) as c:
            while not queue.empty():
                b = queue.get_nowait()
                r = await c.post("/v1/responses/batch", json=bodies[b])
                if r.status_code != 200 or r.json()["created"] != BATCH:
                    raise RuntimeError(f"batch not fully stored: {r.text[:300]}")

    start = time.perf_counter()
    await asyncio.gather(*[client() for _ in range(clients)])
    return n * BATCH / (time.perf_counter() - start)


async def _copy(url: str, n: int) -> tuple[float, float, float]:
    """(rows/s, client CPU s, PostgreSQL backend CPU s) of COPYing n batches."""
    conn = await _connect(url)
    await conn.execute(
        "CREATE TABLE copy_responses (id uuid PRIMARY KEY, patient_id uuid, instrument text,"
        " timepoint text, collected_at timestamptz, answers jsonb, scores jsonb)"
    )
    when = dt.datetime(2024, 3, 1, 10, tzinfo=dt.UTC)
    scores = json.dumps({"hads_anxiety": 10, "hads_depression": 9})
    rows = [
        (
            uuid.uuid4(),
            uuid.uuid4(),
            "hads",
            "follow_up",
            when,
            json.dumps({f"hads_{k}": (i + k) % 4 for k in range(1, 15)}),
            scores,
        )
        for i in range(n * BATCH)
    ]
    backend = conn.get_server_pid()
    start, client, server = time.perf_counter(), time.process_time(), _cpu(backend)
    for b in range(n):
        await conn.copy_records_to_table(
            "copy_responses", records=rows[b * BATCH : (b + 1) * BATCH]
        )
    rate = n * BATCH / (time.perf_counter() - start)
    cpu = (time.process_time() - client, _cpu(backend) - server)
    await conn.close()
    return rate, *cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    with scratch_database() as url:
        run_cli(url, "sites", "create", "BENCH", "--name", "bench")
        token = new_key(url, "clinic", "--site", "BENCH")
        copy_rate, copy_client, copy_pg = asyncio.run(_copy(url, args.batches))
        port = free_port()
        env = {
            "PROREG_DATABASE_URL": url,
            "PROREG_LOG_LEVEL": "warning",
            "PROREG_RATE_LIMIT_PER_MINUTE": "0",
        }
        cmd = [*PROREG, "serve", "--port", str(port), "--workers", str(args.workers)]
        with serve(cmd, env, port) as server:
            auth = {"Authorization": f"Bearer {token}"}
            patients = [
                httpx.post(
                    server.base + "/v1/patients", json={"pseudonym": f"B-{i}"}, headers=auth
                ).json()["id"]
                for i in range(20)
            ]
            # Warm-up, as many clients as the timed run, so the pools are open.
            asyncio.run(_post_batches(server.base, token, patients, args.clients, args.clients))
            workers = [server.process.pid, *_children(server.process.pid)]
            backends = {pid: _cpu(pid) for pid in asyncio.run(_backends(url))}
            before = sum(_cpu(pid) for pid in workers)
            rate = asyncio.run(
                _post_batches(server.base, token, patients, args.batches, args.clients)
            )
            server_cpu = sum(_cpu(pid) for pid in workers) - before
            pg_cpu = sum(_cpu(p) - backends.get(p, 0.0) for p in asyncio.run(_backends(url)))
            rss = server.peak_rss_mb()
    per_batch = 1000 / args.batches  # CPU seconds of the run -> ms per 1,000 responses
    table(
        f"batch ingest, {args.batches} x {BATCH} HADS items, {args.clients} clients, "
        f"load average {os.getloadavg()[0]:.1f}",
        [
            "path",
            "workers",
            "responses/s",
            "client/server CPU ms per 1,000",
            "PostgreSQL CPU ms per 1,000",
            "peak RSS MB",
            "vs COPY",
        ],
        [
            [
                "PostgreSQL COPY (asyncpg copy_records_to_table)",
                "-",
                f"{copy_rate:,.0f}",
                f"{copy_client * per_batch:.1f}",
                f"{copy_pg * per_batch:.1f}",
                "-",
                "100 %",
            ],
            [
                "pro-registry POST /v1/responses/batch",
                str(args.workers),
                f"{rate:,.0f}",
                f"{server_cpu * per_batch:.1f}",
                f"{pg_cpu * per_batch:.1f}",
                f"{rss:.0f}",
                f"{100 * rate / copy_rate:.0f} %",
            ],
        ],
    )


if __name__ == "__main__":
    main()
