"""Synthetic patients, infusions, adverse events and responses, deterministic by seed.

Calibrated to Voute et al., JAMA Netw Open 2023 (329 patients, 30 sites, age 51.4 ± 11.0,
75.7 % women; pain 6.7 → 5.6, HADS-D 8.8 → 7.5, HADS-A 10.4 → 8.7; 64 % with HADS-D ≥ 8):
baseline and final means are set exactly; the first infusion relieves depressed patients
more, later infusions add little, and monthly follow-up stops early for some patients.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from app.demo.calibrate import calibrate
from app.demo.timeline import Timeline

FIRST_DAY = dt.datetime(2016, 7, 1, tzinfo=dt.UTC)
INCLUSION_DAYS = (dt.date(2017, 9, 30) - dt.date(2016, 7, 1)).days
CONDITIONS = {
    "fibromyalgia": 0.30, "neuropathic": 0.25, "chronic_low_back": 0.18, "crps": 0.08,
    "headache": 0.07, "mixed": 0.07, "visceral": 0.03, "other": 0.02,
}  # fmt: skip
SCALES = ("pain", "hads_anxiety", "hads_depression")


@dataclass(slots=True)
class DemoResponse:
    instrument: str
    timepoint: str
    collected_at: dt.datetime
    answers: dict[str, Any]
    visit: str | None = None
    infusion: int | None = None  # index into the patient's infusions
    first_answers: dict[str, Any] | None = None  # submitted first, then amended to `answers`
    retracted: bool = False


@dataclass(slots=True)
class DemoInfusion:
    started_at: dt.datetime
    duration_min: float
    weight_kg: float
    dose_mg_per_kg: float
    co_medications: list[dict[str, Any]]
    events: list[tuple[str, str, dt.datetime]] = field(default_factory=list)


@dataclass(slots=True)
class DemoPatient:
    site: int
    pseudonym: str
    birth_year: int
    sex: str
    conditions: list[str]
    enrolled_on: dt.date
    infusions: list[DemoInfusion] = field(default_factory=list)
    responses: list[DemoResponse] = field(default_factory=list)


def _standard(z: Any) -> Any:
    return (z - z.mean()) / z.std(ddof=1) if z.size > 1 else np.zeros_like(z)


def _profiles(n: int, rng: np.random.Generator) -> dict[str, Any]:
    """Per-patient age, sex, depression and the baseline and final score of each scale."""
    age = calibrate(51.4 + 11.0 * _standard(rng.standard_normal(n)), 51.4, 18, 89, rng)
    female = rng.permutation(np.arange(n) < round(0.757 * n))
    depressed = rng.permutation(np.arange(n) < round(0.64 * n))
    raw_d = np.where(depressed, rng.normal(10.9, 2.4, n), rng.normal(5.1, 1.7, n))
    hd = calibrate(raw_d, 8.8, np.where(depressed, 8, 0), np.where(depressed, 21, 7), rng)
    ha = calibrate(10.4 + 0.5 * (hd - 8.8) + rng.normal(0, 3.0, n), 10.4, 0, 21, rng)
    pain = calibrate(6.7 + 0.15 * (hd - 8.8) + rng.normal(0, 1.4, n), 6.7, 1, 10, rng)
    hd_final = calibrate(
        hd + np.where(depressed, -1.8, -0.4) + rng.normal(0, 2.0, n), 7.5, 0, 21, rng
    )
    # Pain relief follows the fall in depression in part: the mediation the study reported.
    mood = (hd_final - hd) - (hd_final - hd).mean()
    relief = np.where(depressed, -1.3, -0.8) + 0.3 * mood + rng.normal(0, 1.4, n)
    return {
        "age": age, "female": female, "depressed": depressed,
        "pain": (pain, calibrate(pain + relief, 5.6, 0, 10, rng)),
        "hads_depression": (hd, hd_final),
        "hads_anxiety": (ha, calibrate(ha - 1.7 + rng.normal(0, 2.2, n), 8.7, 0, 21, rng)),
    }  # fmt: skip


def _sites(n: int, n_sites: int, rng: np.random.Generator) -> Any:
    """Every site gets a patient first; the rest follow uneven site sizes."""
    first = np.arange(min(n, n_sites))
    weights = rng.dirichlet(np.full(n_sites, 1.2))
    rest = rng.choice(n_sites, size=n - first.size, p=weights)
    return rng.permutation(np.concatenate([first, rest]))


def _conditions(rng: np.random.Generator) -> list[str]:
    names = list(CONDITIONS)
    p = np.array(list(CONDITIONS.values()))
    count = 1 if rng.random() < 0.8 else 2
    return [names[i] for i in sorted(rng.choice(len(names), size=count, replace=False, p=p))]


def iter_patients(n_patients: int = 329, n_sites: int = 30, seed: int = 0) -> Iterator[DemoPatient]:
    """The cohort patient by patient (same seed, same cohort); cheap to start on any size."""
    rng = np.random.default_rng(seed)
    profiles = _profiles(n_patients, rng)
    sites = _sites(n_patients, n_sites, rng)
    for i in range(n_patients):
        day = int(rng.integers(0, INCLUSION_DAYS + 1))
        t1 = FIRST_DAY + dt.timedelta(
            days=day, hours=int(rng.integers(8, 12)), minutes=int(rng.integers(0, 60))
        )
        scores = {scale: (int(profiles[scale][0][i]), int(profiles[scale][1][i]))
                  for scale in SCALES}  # fmt: skip
        timeline = Timeline(rng, t1, bool(profiles["depressed"][i]), scores)
        patient = DemoPatient(
            site=int(sites[i]),
            pseudonym=f"DEMO-{i + 1:06d}",
            birth_year=t1.year - int(profiles["age"][i]),
            sex="female" if profiles["female"][i] else "male",
            conditions=_conditions(rng),
            enrolled_on=timeline.inclusion.date(),
        )
        patient.infusions, patient.responses = timeline.build()
        yield patient


def generate(n_patients: int = 329, n_sites: int = 30, seed: int = 0) -> list[DemoPatient]:
    """The whole cohort as a list."""
    return list(iter_patients(n_patients, n_sites, seed))
