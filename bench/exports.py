"""De-identified exports of a `proreg demo` cohort, streamed from `proreg serve`, against the
same rows produced without the service — same machine, same run.

    python -m bench.exports [--patients 100000] [--database-url URL]

Baselines: CSV — PostgreSQL `COPY (<the export's own SELECT>) TO STDOUT (FORMAT csv)` read by
asyncpg (the database formats every cell; nothing is left to do but send bytes). Parquet —
the same SELECT read by asyncpg in 50,000-row batches, built into Arrow arrays and written
by pyarrow's ParquetWriter (zstd), the least a Python service could do. Each export runs on
a freshly started server, so its peak RSS is that export's alone.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import make_url

from bench.demo import load, print_load
from bench.harness import PROREG, free_port, new_key, scratch_database, serve, table

BATCH = 50_000


def export_sql() -> str:
    """The export's SELECT for the whole cohort, as the service sends it (binds inlined)."""
    from app.services.analytics.scope import Filters, Scope
    from app.services.exports.rows import query

    scope = Scope(Filters(), None, None, dt.datetime.now(dt.UTC), "postgresql")
    compiled = query(scope).compile(
        dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}
    )
    return str(compiled)


async def _connect(url: str) -> asyncpg.Connection:
    u = make_url(url)
    conn = await asyncpg.connect(host=u.host, port=u.port or 5432, user=u.username,
                                 password=u.password, database=u.database)  # fmt: skip
    await conn.execute("SET enable_nestloop = off")  # as the export's own transaction does
    return conn


async def copy_csv(url: str) -> tuple[int, int, float]:
    """(rows, bytes, seconds) of COPY … TO STDOUT (FORMAT csv, HEADER)."""
    conn = await _connect(url)
    size, lines = 0, 0

    async def sink(chunk: bytes) -> None:
        nonlocal size, lines
        size += len(chunk)
        lines += chunk.count(b"\n")

    try:
        start = time.perf_counter()
        await conn.copy_from_query(export_sql(), output=sink, format="csv", header=True)
        return lines - 1, size, time.perf_counter() - start
    finally:
        await conn.close()


async def arrow_parquet(url: str, out: Path) -> tuple[int, float]:
    """(rows, seconds) of asyncpg batches → Arrow arrays → zstd Parquet file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from app.services.exports.columns import arrow_schema

    schema = arrow_schema()
    conn, rows, parsed = await _connect(url), 0, dict[str, list[str]]()
    try:
        start = time.perf_counter()
        async with conn.transaction():
            cursor = await conn.cursor(export_sql())
            with pq.ParquetWriter(out, schema, compression="zstd") as writer:
                while records := await cursor.fetch(BATCH):
                    columns = list(zip(*records, strict=True))
                    texts = columns[4]
                    for t in set(texts) - parsed.keys():
                        parsed[t] = sorted(json.loads(t))
                    columns[4] = tuple(parsed[t] for t in texts)
                    arrays = [pa.array(c, f.type) for c, f in zip(columns, schema, strict=True)]
                    writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
                    rows += len(records)
        seconds = time.perf_counter() - start
    finally:
        await conn.close()
    return rows, seconds


def _download(base: str, token: str, fmt: str, out: Path) -> tuple[int, int, float]:
    """(rows, bytes, seconds) of one streamed export, saved to `out`."""
    start = time.perf_counter()
    size = 0
    url, auth = f"{base}/v1/exports/responses.{fmt}", {"Authorization": f"Bearer {token}"}
    with httpx.stream("GET", url, headers=auth, timeout=None) as r, out.open("wb") as f:
        r.raise_for_status()
        for chunk in r.iter_raw(1 << 20):
            size += len(chunk)
            f.write(chunk)
    seconds = time.perf_counter() - start
    if fmt == "csv":
        with out.open("rb") as f:
            rows = sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b"")) - 1
    else:
        import pyarrow.parquet as pq

        rows = pq.ParquetFile(out).metadata.num_rows
    return rows, size, seconds


def exported(url: str, token: str, fmt: str, out: Path) -> tuple[tuple[int, int, float], float]:
    """Export through a fresh `proreg serve`: the result and the server's peak RSS."""
    port = free_port()
    env = {"PROREG_DATABASE_URL": url, "PROREG_LOG_LEVEL": "warning",
           "PROREG_RATE_LIMIT_PER_MINUTE": "0"}  # fmt: skip
    with serve([*PROREG, "serve", "--port", str(port)], env, port) as server:
        result = _download(server.base, token, fmt, out)
        return result, server.peak_rss_mb()


def _row(name: str, result: tuple[int, int, float], rss: str, base: float | None) -> list[str]:
    rows, size, seconds = result
    ratio = "" if base is None else f"{seconds / base:.1f} ×"
    return [name, f"{rows:,}", f"{size / 1e6:,.1f}", f"{seconds:.1f}", f"{rows / seconds:,.0f}",
            rss, ratio]  # fmt: skip


@contextlib.contextmanager
def _cohort(patients: int, database_url: str | None) -> Iterator[str]:
    if database_url is not None:
        yield database_url
        return
    with scratch_database() as url:
        print_load(load(url, patients))
        yield url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--database-url", help="export an existing cohort instead of loading")
    args = parser.parse_args()
    with _cohort(args.patients, args.database_url) as url, tempfile.TemporaryDirectory() as tmp:
        token = new_key(url, "analyst")
        out = Path(tmp)
        csv, csv_rss = exported(url, token, "csv", out / "export.csv")
        pq_, pq_rss = exported(url, token, "parquet", out / "export.parquet")
        copy = asyncio.run(copy_csv(url))
        arrow_rows, arrow_s = asyncio.run(arrow_parquet(url, out / "baseline.parquet"))
        arrow = (arrow_rows, (out / "baseline.parquet").stat().st_size, arrow_s)
    if not csv[0] == pq_[0] == copy[0] == arrow[0]:
        raise SystemExit(f"row counts differ: {csv[0]}, {pq_[0]}, {copy[0]}, {arrow[0]}")
    table(
        "de-identified exports, whole cohort, streamed over HTTP (1 worker)",
        ["what", "rows", "MB", "s", "rows/s", "server peak RSS MB", "vs baseline"],
        [
            _row("GET /v1/exports/responses.csv", csv, f"{csv_rss:.0f}", copy[2]),
            _row("baseline: COPY … TO STDOUT (csv)", copy, "", None),
            _row("GET /v1/exports/responses.parquet", pq_, f"{pq_rss:.0f}", arrow[2]),
            _row("baseline: asyncpg → pyarrow (parquet)", arrow, "", None),
        ],
    )


if __name__ == "__main__":
    main()
