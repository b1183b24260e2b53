"""DuckDB over the Parquet export: the analytics' per-patient values, as a reference timing.

The export is de-identified (SPEC §3): `day` counts from the start of infusion 1, so the
baseline is the earliest score at day ≤ 0 from a `baseline` response or the `pre_infusion`
of infusion 1, the final the latest at day > 0. A patient none of whose responses names an
infusion is taken as having none (the export does not say). Ties are broken arbitrarily:
these figures time the work, they are not the published numbers.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

SCALES = ("pain", "hads_anxiety", "hads_depression")
MONTH = 30.4375

_FLAGS = """
    SELECT *,
        CASE WHEN has_inf THEN day <= 0 AND (timepoint = 'baseline'
                 OR (timepoint = 'pre_infusion' AND infusion_number = 1))
             ELSE timepoint = 'baseline' END AS isb,
        has_inf AND day > 0 AS isf
    FROM (SELECT *, bool_or(infusion_number IS NOT NULL) OVER (PARTITION BY patient_id) AS has_inf
          FROM read_parquet('{path}'))
"""


def _patients(path: Path) -> str:
    picks = ",\n".join(
        f"arg_min({s}, day) FILTER (WHERE isb AND {s} IS NOT NULL) AS {s}_baseline, "
        f"arg_max({s}, day) FILTER (WHERE isf AND {s} IS NOT NULL) AS {s}_final"
        for s in SCALES
    )
    return f"SELECT patient_id, {picks} FROM ({_FLAGS.format(path=path)}) GROUP BY patient_id"


def _per_infusion(path: Path, max_k: int) -> str:
    return f"""
        SELECT patient_id, infusion_number AS k,
            arg_max(pain, day) FILTER (WHERE timepoint = 'pre_infusion') AS pre,
            arg_min(pain, day) FILTER (WHERE timepoint = 'post_infusion') AS post
        FROM read_parquet('{path}')
        WHERE infusion_number <= {max_k} AND pain IS NOT NULL
        GROUP BY patient_id, infusion_number
    """


def _monthly(path: Path, max_month: int = 12) -> str:
    return f"""
        SELECT patient_id, CAST(floor(day / {MONTH}) AS INTEGER) AS m, arg_max(pain, day) AS v
        FROM read_parquet('{path}')
        WHERE pain IS NOT NULL AND day >= {MONTH} AND day < {(max_month + 1) * MONTH}
        GROUP BY ALL
    """


def queries(path: Path, which: str) -> list[str]:
    """The statements that stand for one endpoint's extraction."""
    patients = _patients(path)
    return {
        "patients": [patients],
        "first_infusion": [patients, _per_infusion(path, 1)],
        "by_infusion": [patients, _per_infusion(path, 5)],
        "monthly": [patients, _monthly(path)],
    }[which]


def available() -> bool:
    """DuckDB is a bench-only dependency: `pip install -e '.[bench]'`."""
    try:
        import duckdb  # noqa: F401
    except ModuleNotFoundError:
        print("DuckDB columns left empty: pip install -e '.[bench]'", flush=True)
        return False
    return True


def times(path: Path, which: str, repeat: int) -> tuple[float, float]:
    """(cold, warm median) seconds of running the statements and fetching every row."""
    import duckdb

    statements = queries(path, which)
    con = duckdb.connect()

    def run() -> float:
        start = time.perf_counter()
        for sql in statements:
            con.execute(sql).fetchall()
        return time.perf_counter() - start

    try:
        cold = run()
        warm = statistics.median(run() for _ in range(repeat))
    finally:
        con.close()
    return cold, warm
