"""Analytics at N patients: every endpoint cold and warm, against the bare SQL it sends to
PostgreSQL and against DuckDB over the project's own Parquet export — same machine, same run.

    python -m bench.analytics [--patients 10000 100000] [--repeat 5] [--database-url URL]

Per cohort size: `proreg demo --patients N` into a scratch database (or `--database-url`, an
already loaded one, which is left as it is), `proreg export --format parquet`, then per endpoint:

- app cold: the first request to a freshly started `proreg serve` (new process, new connection
  pool: no prepared statements, no imported SciPy/statsmodels). PostgreSQL's buffers and the
  OS page cache stay warm: on a shared machine they are not dropped.
- app warm: the median of `--repeat` further requests to that server (HTTP, auth, audit,
  statistics and small-cell suppression included).
- bare SQL: exactly the statements the endpoint sends (captured from the service in-process),
  replayed with asyncpg in one transaction, rows fetched; cold on a new connection, warm the
  median of `--repeat` replays on it. For the current state these read the analytics summary
  tables. The budget (SPEC §9) is app warm ≤ 1 s and ≤ 2 × this.
- extraction SQL (warm): the statements the same endpoint sends when it extracts the
  per-patient values from the clinical tables instead of the summary (what every analysis
  cost before the summary tables, and what `as_of` still costs), replayed the same way.
- DuckDB: the same per-patient values (baseline/final, pre_k/post_k, monthly points) from the
  Parquet export; cold on a new in-process connection, warm the median. The export holds no
  adverse events, so that endpoint has no DuckDB figure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy import event
from sqlalchemy.engine import make_url

from bench import duck
from bench.harness import (
    PROREG,
    free_port,
    new_key,
    run_cli,
    scratch_database,
    serve,
    table,
)


@dataclass(frozen=True)
class Endpoint:
    name: str
    path: str
    params: dict[str, str]
    duck: str | None  # which DuckDB extraction stands for it


def endpoints(as_of: str) -> list[Endpoint]:
    a = "/v1/analytics/"
    return [
        Endpoint("cohort", a + "cohort", {}, "patients"),
        Endpoint("pain-deltas", a + "pain-deltas", {}, "patients"),
        Endpoint(
            "pain-deltas first_infusion",
            a + "pain-deltas",
            {"window": "first_infusion"},
            "first_infusion",
        ),
        Endpoint("by-infusion", a + "by-infusion", {}, "by_infusion"),
        Endpoint("trajectory", a + "trajectory", {}, "monthly"),
        Endpoint("adverse-events", a + "adverse-events", {}, None),
        Endpoint("mediation", a + "mediation", {}, "patients"),
        Endpoint("cohort as_of", a + "cohort", {"as_of": as_of}, "patients"),
    ]


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f}"


def _timed(call: Callable[[], Any]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


# --- the app over HTTP ---------------------------------------------------------------------


def _app_times(url: str, token: str, ep: Endpoint, repeat: int) -> tuple[float, float]:
    port = free_port()
    argv = [*PROREG, "serve", "--port", str(port)]
    env = {
        "PROREG_DATABASE_URL": url,
        "PROREG_LOG_LEVEL": "warning",
        "PROREG_RATE_LIMIT_PER_MINUTE": "0",
    }
    with (
        serve(argv, env, port) as server,
        httpx.Client(
            base_url=server.base, headers={"Authorization": f"Bearer {token}"}, timeout=600
        ) as client,
    ):

        def call() -> None:
            r = client.get(ep.path, params=ep.params)
            if r.status_code != 200:
                raise RuntimeError(f"{ep.name}: {r.status_code} {r.text[:300]}")

        cold = _timed(call)
        warm = statistics.median(_timed(call) for _ in range(repeat))
    return cold, warm


# --- the bare SQL the endpoint sends ---------------------------------------------------------


async def _capture(url: str, ep: Endpoint, summary: bool) -> list[tuple[str, tuple[Any, ...]]]:
    """Run the endpoint's service in-process and keep every statement it sends (with
    `summary` false, as it would without the summary tables)."""
    import uuid

    from app.auth import Principal
    from app.db import make_engine, make_sessionmaker
    from app.routers.analytics import _filters
    from app.services.analytics import service
    from app.services.analytics.scope import resolve

    engine = make_engine(url, pool_size=1, max_overflow=0)
    seen: list[tuple[str, tuple[Any, ...]]] = []

    def keep(_c: Any, _cur: Any, statement: str, params: Any, *_: Any) -> None:
        seen.append((statement, tuple(params or ())))

    event.listen(engine.sync_engine, "before_cursor_execute", keep)
    caller = Principal(uuid.uuid4(), "bench", "analyst", None, None)
    as_of = ep.params.get("as_of")
    filters = _filters(as_of=dt.datetime.fromisoformat(as_of) if as_of else None)
    name = ep.path.rsplit("/", 1)[1].replace("-", "_")
    extra = {"window": ep.params["window"]} if "window" in ep.params else {}
    defaults: dict[str, dict[str, Any]] = {
        "cohort": {"threshold": 8},
        "pain_deltas": {"threshold": 8, "bands": False, "window": "overall", **extra},
        "by_infusion": {"scale": "pain", "max_k": 5, "threshold": None},
        "trajectory": {"scale": "pain", "threshold": 8, "max_month": 12},
        "adverse_events": {},
        "mediation": {"exposure": "cumulative_dose", "threshold": 8, "n_boot": 0, "seed": 0},
    }
    try:
        async with make_sessionmaker(engine)() as session:
            scope = await (service.scope if summary else resolve)(session, caller, filters)
            await getattr(service, name)(session, scope, **defaults[name])
            await session.commit()
    finally:
        await engine.dispose()
    return seen


async def _bare_times(
    url: str, ep: Endpoint, repeat: int, summary: bool = True
) -> tuple[float, float]:
    statements = await _capture(url, ep, summary)
    u = make_url(url)
    conn = await asyncpg.connect(
        host=u.host, port=u.port or 5432, user=u.username, password=u.password, database=u.database
    )

    async def replay() -> float:
        start = time.perf_counter()
        async with conn.transaction():
            for sql, params in statements:
                await conn.fetch(sql, *params)
        return time.perf_counter() - start

    try:
        cold = await replay()
        warm = statistics.median([await replay() for _ in range(repeat)])
    finally:
        await conn.close()
    return cold, warm


# --- one cohort size -------------------------------------------------------------------------


@contextlib.contextmanager
def _cohort(patients: int, database_url: str | None) -> Iterator[tuple[str, float | None]]:
    if database_url:
        yield database_url, None
        return
    with scratch_database() as url:
        start = time.perf_counter()
        run_cli(url, "demo", "--patients", str(patients))
        yield url, time.perf_counter() - start


def _row(
    ep: Endpoint,
    app: tuple[float, float],
    bare: tuple[float, float],
    extraction: tuple[float, float],
    ddb: tuple[float, float] | None,
) -> list[str]:
    ratio = app[1] / bare[1]
    ok = "yes" if app[1] <= 1.0 and ratio <= 2.0 else "no"
    return [
        ep.name,
        _ms(app[0]),
        _ms(app[1]),
        _ms(bare[0]),
        _ms(bare[1]),
        f"{ratio:.1f}",
        _ms(extraction[1]),
        _ms(ddb[0]) if ddb else "—",
        _ms(ddb[1]) if ddb else "—",
        ok,
    ]


def bench_size(patients: int, repeat: int, database_url: str | None, only: set[str]) -> None:
    with _cohort(patients, database_url) as (url, load_s), tempfile.TemporaryDirectory() as tmp:
        token = new_key(url, "analyst", "--label", "bench")
        parquet = Path(tmp) / "responses.parquet"
        export_s = _timed(
            lambda: run_cli(url, "export", "--format", "parquet", "--out", str(parquet))
        )
        counts = asyncio.run(_counts(url))
        as_of = dt.datetime.now(dt.UTC).isoformat()
        rows = []
        for ep in endpoints(as_of):
            if only and ep.name not in only:
                continue
            app = _app_times(url, token, ep, repeat)
            bare = asyncio.run(_bare_times(url, ep, repeat))
            raw = bare if "as_of" in ep.params else asyncio.run(_bare_times(url, ep, repeat, False))
            ddb = duck.times(parquet, ep.duck, repeat) if ep.duck and duck.available() else None
            rows.append(_row(ep, app, bare, raw, ddb))
    loaded = f"demo load {load_s:,.0f} s, " if load_s is not None else ""
    table(
        f"analytics, {counts[0]:,} patients / {counts[1]:,} responses "
        f"({loaded}Parquet export {export_s:,.1f} s), ms",
        [
            "endpoint",
            "app cold",
            "app warm",
            "SQL cold",
            "SQL warm",
            "app/SQL",
            "extraction SQL warm",
            "DuckDB cold",
            "DuckDB warm",
            "≤1 s & ≤2×",
        ],
        rows,
        width=150,
    )


async def _counts(url: str) -> tuple[int, int]:
    u = make_url(url)
    conn = await asyncpg.connect(
        host=u.host, port=u.port or 5432, user=u.username, password=u.password, database=u.database
    )
    try:
        p = await conn.fetchval("SELECT count(*) FROM patients")
        r = await conn.fetchval("SELECT count(*) FROM responses")
        return int(p), int(r)
    finally:
        await conn.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--patients", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--repeat", type=int, default=5, help="warm runs per measure")
    parser.add_argument("--database-url", help="an already loaded database (one size only)")
    parser.add_argument("--only", nargs="*", default=[], help="endpoint names to run")
    args = parser.parse_args(argv)
    sizes = args.patients[:1] if args.database_url else args.patients
    for n in sizes:
        bench_size(n, args.repeat, args.database_url, set(args.only))


if __name__ == "__main__":
    main()
