"""Analytics fixtures: an app without small-cell suppression, and a reference cohort."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from tests.analytics.model import Cohort
from tests.support import Api, Registry, hads


@pytest.fixture(scope="session")
def open_client(database_url: str) -> Iterator[TestClient]:
    """The same database served with PROREG_MIN_CELL=1, so every figure is shown."""
    settings = Settings(database_url=database_url, rate_limit_per_minute=0, min_cell=1)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


@dataclass
class Reference:
    cohort: Cohort
    api: Api  # the cohort's clinic key on the unsuppressed app
    analyst: Api  # an analyst key on the unsuppressed app
    site: str


def hads_scores(rng: np.random.Generator, anxiety: int, depression: int) -> dict[str, int | None]:
    """HADS answers whose subscales add up to the given scores."""
    points: list[int | None] = [0] * 14
    for offset, total in ((0, anxiety), (1, depression)):
        slots = rng.choice(21, size=total, replace=False)
        for i, n in enumerate(np.bincount(slots // 3, minlength=7)):
            points[offset + 2 * i] = int(n)
    return hads(*points)


def _regular(c: Cohort, rng: np.random.Generator, i: int) -> None:
    """A patient with baseline, 1-3 infusions with pre/post scores and monthly follow-up."""
    p = c.patient(sex=("female", "male", "other", "unknown")[i % 4] if i < 8 else "female",
                  birth_year=int(rng.integers(1950, 1990)),
                  conditions=("fibromyalgia",) if i % 3 else ("neuropathic", "crps"))  # fmt: skip
    start = float(rng.integers(0, 60))
    base_pain, dep = int(rng.integers(4, 10)), int(rng.integers(2, 16))
    c.pain(p, "baseline", start - 3, base_pain)
    c.respond(p, "baseline", start - 3, hads_scores(rng, int(rng.integers(3, 18)), dep), hour=10)
    for k in range(int(rng.integers(1, 4))):
        inf = c.infusion(p, start + 40 * k, dose=float(rng.choice([0.5, 0.75, 1.0])))
        if k > 0 or i % 2:
            c.pain(p, "pre_infusion", start + 40 * k, int(rng.integers(3, 10)), inf, hour=8.5)
        c.pain(p, "post_infusion", start + 40 * k, int(rng.integers(0, 8)), inf, hour=12)
        for kind in rng.choice(["fatigue", "nausea", "headache"], size=int(rng.integers(0, 3)),
                               replace=False):  # fmt: skip
            c.event(inf, str(kind), str(rng.choice(["mild", "moderate", "severe"])))
    for m in range(1, 7):
        if rng.random() < 0.8:
            c.pain(p, "follow_up", start + m * 30.4375 + 5, int(rng.integers(0, 10)))
        if m in (3, 6):
            scores = hads_scores(rng, int(rng.integers(2, 16)), int(rng.integers(0, 14)))
            c.respond(p, "follow_up", start + m * 30.4375 + 6, scores)


def _edge_cases(c: Cohort) -> None:
    # No infusion: earliest baseline counts, no final.
    p = c.patient(sex="male")
    c.pain(p, "baseline", 10, 8)
    c.pain(p, "baseline", 5, 7)
    c.pain(p, "follow_up", 50, 3)
    # No baseline response: the pre_infusion score of infusion 1 is the baseline.
    p = c.patient()
    inf = c.infusion(p, 20)
    c.pain(p, "pre_infusion", 20, 9, inf, hour=8)
    c.pain(p, "post_infusion", 20, 4, inf, hour=12)
    c.pain(p, "follow_up", 60, 6)
    # A baseline collected after infusion 1 started is no baseline: missing.
    p = c.patient(birth_year=None)
    inf = c.infusion(p, 30)
    c.pain(p, "baseline", 31, 9)
    c.pain(p, "follow_up", 70, 2)
    # Amended final, retracted later follow-up, retracted baseline (pre_1 takes over).
    p = c.patient()
    inf = c.infusion(p, 15, dose=None)
    base = c.pain(p, "baseline", 12, 10)
    c.pain(p, "pre_infusion", 15, 7, inf, hour=8)
    c.respond(p, "baseline", 12, hads(2, 2, 2, 2, 2, 2, 2, None, 2, 1, 2, 1, 2, 1), hour=10)
    c.pain(p, "post_infusion", 15, 3, inf, hour=12)
    last = c.pain(p, "follow_up", 80, 8)
    wrong = c.pain(p, "follow_up", 90, 0)
    c.respond(p, "follow_up", 81, hads(None, 2, None, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1))
    c.amend(last, {"score": 5})
    c.retract(wrong)
    c.retract(base)


@pytest.fixture(scope="session")
def reference(registry: Registry, open_client: TestClient) -> Reference:
    """About 20 patients at a new site, built once per backend through the API."""
    clinic = registry.new_clinic()
    cohort = Cohort(clinic)
    rng = np.random.default_rng(7)
    for i in range(16):
        _regular(cohort, rng, i)
    _edge_cases(cohort)
    analyst = Api(open_client, registry.analyst.token, "analyst")
    return Reference(cohort, Api(open_client, clinic.token, "clinic", clinic.site), analyst,
                     clinic.site or "")  # fmt: skip
