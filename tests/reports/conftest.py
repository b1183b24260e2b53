"""A small synthetic cohort made through the API, with the raw values kept for checking."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from tests.support import Api, Registry

T0 = dt.datetime(2024, 2, 1, 9, 0, tzinfo=dt.UTC)
MONTH = dt.timedelta(days=30.4375)


def _iso(when: dt.datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


@dataclass
class Cohort:
    clinic: Api
    patients: list[dict[str, Any]] = field(default_factory=list)
    ages: list[int] = field(default_factory=list)
    baseline_pain: list[float] = field(default_factory=list)
    baseline_hads: list[tuple[int, int]] = field(default_factory=list)  # (anxiety, depression)

    @property
    def site(self) -> str:
        assert self.clinic.site is not None
        return self.clinic.site


def _hads(rng: np.random.Generator, depressed: bool) -> dict[str, int]:
    """Depressed: every depression item 2–3 (HADS-D ≥ 14); otherwise 0–1 (HADS-D ≤ 7)."""
    answers = {}
    for i in range(1, 15):
        low, high = ((2, 4) if depressed else (0, 2)) if i % 2 == 0 else (0, 4)
        answers[f"hads_{i}"] = int(rng.integers(low, high))
    return answers


def make_cohort(registry: Registry, n: int, seed: int) -> Cohort:
    """`n` patients, two infusions each, baseline NRS and HADS, pre/post NRS, monthly NRS."""
    rng = np.random.default_rng(seed)
    cohort = Cohort(registry.new_clinic())
    for i in range(n):
        birth = int(rng.integers(1940, 1995))
        patient = cohort.clinic.make_patient(
            birth_year=birth, sex="female" if i % 2 else "male",
            conditions=["fibromyalgia"] if i % 3 else ["neuropathic", "crps"],
        )  # fmt: skip
        t1 = T0 + dt.timedelta(days=i)
        first = cohort.clinic.make_infusion(patient["id"], started_at=_iso(t1))
        second = cohort.clinic.make_infusion(
            patient["id"], started_at=_iso(t1 + dt.timedelta(days=7))
        )
        if i % 2:
            cohort.clinic.post(f"/v1/infusions/{first['id']}/adverse-events",
                               json={"type": "nausea", "severity": "mild"})  # fmt: skip
        base = int(rng.integers(4, 10))
        hads = _hads(rng, depressed=i % 4 in (0, 1))
        items = [
            {"instrument": "nrs-pain", "timepoint": "baseline",
             "collected_at": _iso(t1 - dt.timedelta(days=2)), "answers": {"score": base}},
            {"instrument": "hads", "timepoint": "baseline",
             "collected_at": _iso(t1 - dt.timedelta(days=2)), "answers": hads},
        ]  # fmt: skip
        for inf, start in ((first, t1), (second, t1 + dt.timedelta(days=7))):
            pre, post = int(rng.integers(3, 10)), int(rng.integers(0, 8))
            items += [
                {"instrument": "nrs-pain", "timepoint": "pre_infusion", "infusion_id": inf["id"],
                 "collected_at": _iso(start - dt.timedelta(minutes=30)), "answers": {"score": pre}},
                {"instrument": "nrs-pain", "timepoint": "post_infusion", "infusion_id": inf["id"],
                 "collected_at": _iso(start + dt.timedelta(hours=3)), "answers": {"score": post}},
            ]  # fmt: skip
        for m in (1, 2, 3):
            items.append({"instrument": "nrs-pain", "timepoint": "follow_up", "visit": f"M{m}",
                          "collected_at": _iso(t1 + m * MONTH + dt.timedelta(days=5)),
                          "answers": {"score": int(rng.integers(0, 10))}})  # fmt: skip
        body = {"items": [{"patient_id": patient["id"], **item} for item in items]}
        result = cohort.clinic.ok("POST", "/v1/responses/batch", json=body)
        assert result["failed"] == 0, result
        cohort.patients.append(patient)
        cohort.ages.append(t1.year - birth)
        cohort.baseline_pain.append(float(base))
        odd = sum(v for k, v in hads.items() if int(k.split("_")[1]) % 2)
        even = sum(v for k, v in hads.items() if int(k.split("_")[1]) % 2 == 0)
        cohort.baseline_hads.append((odd, even))
    return cohort


@pytest.fixture(scope="module")
def cohort(registry: Registry) -> Cohort:
    return make_cohort(registry, n=24, seed=7)


@pytest.fixture(scope="module")
def small_cohort(registry: Registry) -> Cohort:
    return make_cohort(registry, n=4, seed=11)
