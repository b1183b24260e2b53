"""`proreg demo --patients N` on a fresh PostgreSQL database: wall time, CPU, peak RSS, rows.

    python -m bench.demo [--patients 100000]

The loader's budget (SPEC §9) is absolute: under 5 minutes for 100,000 patients. The rows it
writes are counted afterwards, so a faster but incomplete load cannot pass unnoticed.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import time
from dataclasses import dataclass

import asyncpg
from sqlalchemy.engine import make_url

from bench.harness import run_cli, scratch_database, table

TABLES = (
    "patients",
    "infusions",
    "responses",
    "response_versions",
    "audit_events",
    "analytics_patients",  # the analytics summary, built by the demo before it returns
)


@dataclass(frozen=True)
class Load:
    patients: int
    seconds: float
    cpu_seconds: float
    peak_rss_mb: float
    rows: dict[str, int]


async def count_rows(url: str) -> dict[str, int]:
    u = make_url(url)
    conn = await asyncpg.connect(host=u.host, port=u.port or 5432, user=u.username,
                                 password=u.password, database=u.database)  # fmt: skip
    try:
        return {t: int(await conn.fetchval(f"SELECT count(*) FROM {t}")) for t in TABLES}
    finally:
        await conn.close()


def load(url: str, patients: int) -> Load:
    """Run `proreg demo` into `url` and measure it (CPU and RSS of the child process)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    run_cli(url, "demo", "--patients", str(patients))
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    # ru_maxrss of children is the largest child so far: the loader dwarfs `migrate`.
    return Load(patients, seconds, cpu, after.ru_maxrss / 1024, asyncio.run(count_rows(url)))


def print_load(result: Load) -> None:
    r, s = result.rows, result.seconds
    columns = ["step", "wall s", "CPU s (loader)", "peak RSS MB", "patients/s", "responses/s",
               "rows written"]  # fmt: skip
    cells = [
        "proreg demo",
        f"{s:.1f}",
        f"{result.cpu_seconds:.1f}",
        f"{result.peak_rss_mb:.0f}",
        f"{r['patients'] / s:,.0f}",
        f"{r['responses'] / s:,.0f}",
        f"{sum(r.values()):,}",
    ]
    table(
        f"proreg demo --patients {result.patients:,} (PostgreSQL, fresh database)", columns, [cells]
    )
    print("rows: " + ", ".join(f"{t} {n:,}" for t, n in r.items()))
    if r["patients"] != result.patients:
        raise SystemExit(f"expected {result.patients:,} patients, found {r['patients']:,}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=100_000)
    args = parser.parse_args()
    with scratch_database() as url:
        print_load(load(url, args.patients))


if __name__ == "__main__":
    main()
