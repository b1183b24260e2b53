"""Batch ingest: POST /v1/responses/batch of 1,000 HADS items (scored, audited, with per-item
idempotency keys) against PostgreSQL COPY, same machine, same run, two baselines:

- COPY of the rows a batch stores, into the registry's own tables (responses, their first
  versions, audit events, idempotency records; their constraints, indexes and triggers), one
  transaction per batch, as many connections as there are clients: what the database itself
  needs to take those rows at COPY speed. This is SPEC §9's "COPY of the same rows".
- COPY of one row per response into a scratch table with only a primary key (the earlier
  baseline, kept for comparison with older results).

    python -m bench.batch [--batches 40] [--clients 4] [--workers 1]

Besides throughput it prints the CPU spent per 1,000 responses by the server processes and by
the PostgreSQL backends (/proc/<pid>/stat, before and after the timed run): steadier than
throughput on a shared machine, and it shows which side the time goes to.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
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
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    # Encoded before the clock starts: the load generator shares the two cores with the
    # server and PostgreSQL, and encoding 1,000 items per request is its largest cost.
    bodies = {b: json.dumps({"items": _items(patients, run, b)}).encode() for b in range(n)}

    async def client() -> None:
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=120) as c:
            while not queue.empty():
                b = queue.get_nowait()
                r = await c.post("/v1/responses/batch", content=bodies[b])
                if r.status_code != 200 or r.json()["created"] != BATCH:
                    raise RuntimeError(f"batch not fully stored: {r.text[:300]}")

    start = time.perf_counter()
    await asyncio.gather(*[client() for _ in range(clients)])
    return n * BATCH / (time.perf_counter() - start)


async def _copy(url: str, n: int) -> tuple[float, float, float]:
    """(rows/s, client CPU s, PostgreSQL backend CPU s) of COPYing n batches of one row per
    response into a table with only a primary key."""
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


_HADS_SCORES = {
    "hads_anxiety": 9, "hads_anxiety_band": "borderline", "hads_depression": 12,
    "hads_depression_band": "abnormal", "prorated": False, "complete": True,
}  # fmt: skip
_HEAD = (
    "id", "site_id", "patient_id", "infusion_id", "instrument", "timepoint", "visit",
    "created_at", "created_by", "version", "status", "collected_at", "pain", "hads_anxiety",
    "hads_depression",
)  # fmt: skip
_VERSION = (
    "response_id", "version", "status", "collected_at", "answers", "scores", "scoring_version",
    "prorated", "complete", "reason", "recorded_at", "recorded_by", "pain", "hads_anxiety",
    "hads_depression",
)  # fmt: skip
_AUDIT = (
    "at", "key_prefix", "role", "site_code", "action", "resource", "resource_id", "outcome",
    "request_id",
)  # fmt: skip
_IDEM = ("api_key_id", "key", "fingerprint", "status_code", "body", "location", "created_at")
Rows = dict[str, list[tuple[object, ...]]]


def _registry_rows(
    patients: list[uuid.UUID], site: uuid.UUID, key: tuple[uuid.UUID, str], batch: int
) -> Rows:
    """The rows one batch of `_items` stores, in the registry's tables, with fresh ids:
    per item a response, its first version, an audit event and an idempotency record."""
    key_id, prefix = key
    run = uuid.uuid4().hex[:8]
    now = dt.datetime.now(dt.UTC)
    when = dt.datetime(2024, 3, 1, 10, tzinfo=dt.UTC)
    scores = json.dumps(_HADS_SCORES)
    rows: Rows = {"responses": [], "response_versions": [], "audit_events": [],
                  "idempotency_keys": []}  # fmt: skip
    request_id = uuid.uuid4().hex
    for i in range(BATCH):
        rid = uuid.uuid4()
        answers = json.dumps({f"hads_{k}": (i + k) % 4 for k in range(1, 15)})
        rows["responses"].append((
            rid, site, patients[i % len(patients)], None, "hads", "follow_up", None, now,
            prefix, 1, "completed", when, None, 9.0, 12.0,
        ))  # fmt: skip
        rows["response_versions"].append((
            rid, 1, "completed", when, answers, scores, "hads/1", False, True, None, now,
            prefix, None, 9.0, 12.0,
        ))  # fmt: skip
        rows["audit_events"].append(
            (now, prefix, "clinic", "BENCH", "create", "response", str(rid), 201, request_id)
        )
        rows["idempotency_keys"].append((
            key_id, f"copy-{run}-{batch}-{i}", hashlib.sha256(rid.bytes).hexdigest(), 201,
            json.dumps({"status": 201, "id": str(rid)}), None, now,
        ))  # fmt: skip
    return rows


_COLUMNS = {
    "responses": _HEAD, "response_versions": _VERSION, "audit_events": _AUDIT,
    "idempotency_keys": _IDEM,
}  # fmt: skip


async def _copy_registry(
    url: str, patients: list[str], n: int, clients: int
) -> tuple[float, float, float]:
    """(rows/s, client CPU s, PostgreSQL backend CPU s) of COPYing n batches of registry rows
    into the registry's tables: one transaction per batch, four COPYs (parents first), from
    `clients` connections at once, as the batch route does."""
    conns = [await _connect(url) for _ in range(clients)]
    site = await conns[0].fetchval("SELECT id FROM sites WHERE code = 'BENCH'")
    key = tuple(await conns[0].fetchrow("SELECT id, prefix FROM api_keys LIMIT 1"))
    ids = [uuid.UUID(p) for p in patients]
    batches = [_registry_rows(ids, site, key, b) for b in range(n + clients)]  # type: ignore[arg-type]
    queue: asyncio.Queue[Rows] = asyncio.Queue()
    for rows in batches:
        queue.put_nowait(rows)

    async def client(conn: asyncpg.Connection, once: bool = False) -> None:
        while not queue.empty():
            rows = queue.get_nowait()
            async with conn.transaction():
                for table_name, records in rows.items():
                    await conn.copy_records_to_table(
                        table_name, records=records, columns=_COLUMNS[table_name]
                    )
            if once:
                return

    # Warm-up: one batch per connection (type introspection, first COPY), not timed.
    await asyncio.gather(*[client(c, once=True) for c in conns])
    pids = [c.get_server_pid() for c in conns]
    start, cpu, server = time.perf_counter(), time.process_time(), sum(map(_cpu, pids))
    await asyncio.gather(*[client(c) for c in conns])
    rate = n * BATCH / (time.perf_counter() - start)
    used = (time.process_time() - cpu, sum(map(_cpu, pids)) - server)
    for c in conns:
        await c.close()
    return rate, *used


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
        # After the server has stopped, into the same tables the batches just filled.
        same_rate, same_client, same_pg = asyncio.run(
            _copy_registry(url, patients, args.batches, args.clients)
        )
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
            "vs COPY of the registry's rows",
            "vs COPY into a PK-only table",
        ],
        [
            [
                "PostgreSQL COPY of the registry's rows (4 tables, 1 transaction per batch, "
                f"{args.clients} connections)",
                "-",
                f"{same_rate:,.0f}",
                f"{same_client * per_batch:.1f}",
                f"{same_pg * per_batch:.1f}",
                "-",
                "100 %",
                f"{100 * same_rate / copy_rate:.0f} %",
            ],
            [
                "PostgreSQL COPY into a PK-only table (1 connection)",
                "-",
                f"{copy_rate:,.0f}",
                f"{copy_client * per_batch:.1f}",
                f"{copy_pg * per_batch:.1f}",
                "-",
                f"{100 * copy_rate / same_rate:.0f} %",
                "100 %",
            ],
            [
                "pro-registry POST /v1/responses/batch",
                str(args.workers),
                f"{rate:,.0f}",
                f"{server_cpu * per_batch:.1f}",
                f"{pg_cpu * per_batch:.1f}",
                f"{rss:.0f}",
                f"{100 * rate / same_rate:.0f} %",
                f"{100 * rate / copy_rate:.0f} %",
            ],
        ],
    )


if __name__ == "__main__":
    main()
