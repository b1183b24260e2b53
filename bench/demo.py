"""`proreg demo --patients N` on a fresh PostgreSQL database: wall time, CPU, peak RSS, rows.

    python -m bench.demo [--patients 100000]

The loader's budget (SPEC §9) is absolute: under 5 minutes for 100,000 patients. The rows it
writes are counted afterwards, so a faster but incomplete load cannot pass unnoticed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import time
from dataclasses import dataclass

import asyncpg
from sqlalchemy.engine import make_url

from bench.harness import PROREG, ROOT, scratch_database, table

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
    """Run `proreg demo` into `url` and measure it: CPU and peak RSS of that process alone
    (`wait4`), not of every child this benchmark process has had, so that the figure stays
    the loader's when `bench.all` runs larger servers before it."""
    env = {**os.environ, "PROREG_DATABASE_URL": url}
    argv = [*PROREG, "demo", "--patients", str(patients)]
    start = time.perf_counter()
    child = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)  # fmt: skip
    assert child.stderr is not None
    with child.stderr:
        said = child.stderr.read()  # the progress bar; read so that the pipe never fills
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - start
    if child.returncode != 0:
        raise RuntimeError(f"proreg demo failed:\n{said.decode(errors='replace')[-3000:]}")
    cpu = usage.ru_utime + usage.ru_stime
    return Load(patients, seconds, cpu, usage.ru_maxrss / 1024, asyncio.run(count_rows(url)))


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
