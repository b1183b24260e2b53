"""The summary tables against the extraction over the clinical tables, write after write.

An analysis of the current state reads the summary tables; the same analysis with `as_of`
set to now reads every response version instead. After each kind of write — one that adds,
amends or retracts a response, registers an earlier infusion (which renumbers the rest),
edits a patient, records an adverse event — both must give the same body, and the figures
must match the plain-Python model of what was submitted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from tests.analytics.check import approx, assert_same_body
from tests.analytics.model import Cohort, Pat
from tests.support import Api, Registry, hads

QUERIES: list[tuple[str, dict[str, Any]]] = [
    ("cohort", {}),
    ("cohort", {"sex": "female", "min_infusions": 2}),
    ("cohort", {"condition": "fibromyalgia", "from": "2024-01-01", "to": "2024-01-20"}),
    ("pain-deltas", {}),
    ("pain-deltas", {"window": "first_infusion", "threshold": 10}),
    ("by-infusion", {"max_k": 4, "threshold": 8}),
    ("by-infusion", {"scale": "hads_depression"}),
    ("trajectory", {"scale": "pain", "max_month": 3}),
    ("trajectory", {"scale": "hads_anxiety"}),
    ("adverse-events", {}),
    ("mediation", {"n_boot": 40, "seed": 3}),
    ("mediation", {"exposure": "depressed", "n_boot": 40, "seed": 3}),
]


def _check(api: Api, cohort: Cohort) -> None:
    now = dt.datetime.now(dt.UTC).isoformat()
    for path, params in QUERIES:
        summary = api.ok("GET", f"/v1/analytics/{path}", params=params)
        extracted = api.ok("GET", f"/v1/analytics/{path}", params={**params, "as_of": now})
        summary.pop("as_of"), extracted.pop("as_of")
        assert_same_body(summary, extracted, f"{path} {params}")
    pain = api.ok("GET", "/v1/analytics/cohort")["scales"]["pain"]
    for kind in ("baseline", "final", "change"):
        values = [getattr(p, kind)("pain") for p in cohort.patients]
        known = [v for v in values if v is not None]
        assert pain[kind]["n"] == len(known)
        assert pain[kind]["mean"] == (approx(sum(known) / len(known)) if known else None)


def _patch(api: Api, patient: Pat, **fields: Any) -> None:
    api.ok("PATCH", f"/v1/patients/{patient.id}", json=fields)
    for name, value in fields.items():
        setattr(patient, name, value)


def test_every_kind_of_write_reaches_the_summary(
    registry: Registry, open_client: TestClient
) -> None:
    clinic = registry.new_clinic()
    api = Api(open_client, clinic.token, "clinic", clinic.site)
    c = Cohort(clinic)
    _check(api, c)  # empty site: both paths agree on nothing

    p = c.patient()
    q = c.patient(sex="male", conditions=("neuropathic",))
    shared: dict[str, Any] = {}

    def first_infusions() -> None:
        for patient, day in ((p, 10), (q, 12)):
            inf = c.infusion(patient, day)
            c.pain(patient, "baseline", day - 3, 8)
            c.respond(patient, "baseline", day - 3, hads(2))
            c.pain(patient, "pre_infusion", day, 7, inf)
            c.pain(patient, "post_infusion", day, 4, inf, hour=12)
        shared["p_inf"] = p.infusions[0]

    def follow_ups() -> None:
        shared["late"] = c.pain(p, "follow_up", 50, 3)
        c.respond(p, "follow_up", 50, hads(1))
        c.pain(q, "follow_up", 80, 6)

    def earlier_infusion() -> None:
        # Registered later but started earlier: it becomes infusion 1 and moves the baseline.
        inf = c.infusion(p, 5, dose=0.25)
        c.pain(p, "pre_infusion", 5, 9, inf)
        c.pain(p, "post_infusion", 5, 5, inf, hour=12)

    def second_infusion() -> None:
        inf = c.infusion(q, 40, dose=None)
        c.pain(q, "pre_infusion", 40, 6, inf)
        c.pain(q, "post_infusion", 40, 2, inf, hour=12)

    steps: list[Callable[[], None]] = [
        first_infusions,
        follow_ups,
        earlier_infusion,
        second_infusion,
        lambda: c.amend(shared["late"], {"score": 1}),
        lambda: c.retract(shared["late"]),
        lambda: _patch(api, q, sex="female"),
        lambda: _patch(api, p, conditions=["neuropathic"], birth_year=1960),
        lambda: c.event(shared["p_inf"], "nausea", "moderate"),
        lambda: c.patient(sex="male"),  # no infusion, no response
    ]
    for step in steps:
        step()
        _check(api, c)
