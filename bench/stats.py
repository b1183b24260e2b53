"""The statistics layer alone at cohort scale: the trajectory's mixed model and the mediation
bootstrap on synthetic data, timed in process CPU and wall clock (the machine is shared, so CPU
time is the steadier figure; the budget, SPEC §9, is wall clock for the whole endpoint).

    python -m bench.stats [--patients 100000] [--months 13] [--n-boot 2000] [--repeat 5]

- mixed model, arrays: ``mixed_model`` on NumPy arrays with integer patient codes.
- mixed model, lists: the same points as the trajectory service passes them today (Python
  lists, one UUID object per patient repeated over its points).
- mediation: ``mediation`` with two covariates and ``n_boot`` replicates (OLS paths included).
- bootstrap, one stream: ``indirect_ci`` alone for one random stream (64 replicates, one worker
  thread). Its minimum over the runs is the CPU a replicate costs, even on a machine whose host
  takes the CPUs away now and then, which lengthens whole-second runs at random.
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

import numpy as np

from app.stats import mediation, mixed_model
from app.stats.bootstrap import STREAM_REPLICATES, indirect_ci
from bench.harness import table


def _trajectory(patients: int, months: int) -> dict[str, Any]:
    rng = np.random.default_rng(1)
    sizes = np.full(patients, months)
    patient = np.repeat(np.arange(patients), sizes)
    month = np.concatenate([np.arange(k) for k in sizes]).astype(float)
    depressed = (rng.random(patients) < 0.4).astype(float)[patient]
    level = rng.normal(0, 1.5, patients)[patient]
    value = 6 + depressed + level - 0.25 * month + rng.normal(0, 0.8, patient.size)
    ids = [uuid.uuid4() for _ in range(patients)]
    return {"codes": patient, "ids": [ids[i] for i in patient], "month": month,
            "depressed": depressed, "value": value}  # fmt: skip


def _mediation_data(patients: int) -> dict[str, Any]:
    rng = np.random.default_rng(2)
    dose = rng.gamma(2.0, 1.5, patients)
    age = rng.normal(50, 12, patients)
    female = (rng.random(patients) < 0.6).astype(float)
    hads = -0.5 * dose + 0.02 * age + rng.normal(0, 1, patients)
    pain = 0.8 * hads - 0.2 * dose + 0.3 * female + rng.normal(0, 1, patients)
    return {"x": dose.tolist(), "m": hads.tolist(), "y": pain.tolist(),
            "cov": np.column_stack([age, female]).tolist(),
            "regressors": np.column_stack([np.ones(patients), dose, age, female])}  # fmt: skip


def _time(run: Callable[[], object], repeat: int) -> list[str]:
    run()  # first use imports SciPy and threadpoolctl
    cpu, wall = [], []
    for _ in range(repeat):
        c0, w0 = time.process_time(), time.perf_counter()
        run()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    return [f"{min(cpu):.3f}", f"{statistics.median(cpu):.3f}",
            f"{min(wall):.3f}", f"{statistics.median(wall):.3f}"]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--months", type=int, default=13)
    parser.add_argument("--n-boot", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    t = _trajectory(args.patients, args.months)
    med = _mediation_data(args.patients)
    points = len(t["ids"])
    runs: list[tuple[str, Callable[[], object]]] = [
        (f"mixed model, arrays ({points:,} points)",
         lambda: mixed_model(t["codes"], t["month"], t["depressed"], t["value"])),
        (f"mixed model, lists ({points:,} points)",
         lambda: mixed_model(t["ids"], t["month"].tolist(), t["depressed"].tolist(),
                             t["value"].tolist())),
        (f"mediation, n_boot={args.n_boot}",
         lambda: mediation(med["x"], med["m"], med["y"], med["cov"], n_boot=args.n_boot, seed=1)),
        (f"bootstrap, one stream ({STREAM_REPLICATES} replicates)",
         lambda: indirect_ci(med["regressors"], np.asarray(med["m"]), np.asarray(med["y"]),
                             STREAM_REPLICATES, 1)),
    ]  # fmt: skip
    rows = [[name, *_time(run, args.repeat)] for name, run in runs]
    table(
        f"Statistics at {args.patients:,} patients (seconds, {args.repeat} runs)",
        ["", "CPU min", "CPU median", "wall min", "wall median"],
        rows,
    )


if __name__ == "__main__":
    main()
