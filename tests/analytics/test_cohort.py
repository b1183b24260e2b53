"""GET /v1/analytics/cohort against an independent computation from what was submitted."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tests.analytics.check import assert_paired, assert_stats, pct
from tests.analytics.conftest import Reference
from tests.analytics.model import SCALES

LATER = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)


def _get(ref: Reference, as_of: bool, **params: Any) -> dict[str, Any]:
    if as_of:  # the version-history path must agree with the current tables
        params["as_of"] = dt.datetime.now(dt.UTC).isoformat()
    return ref.api.ok("GET", "/v1/analytics/cohort", params=params)  # type: ignore[no-any-return]


@pytest.mark.parametrize("as_of", [False, True])
def test_cohort_matches_reference(reference: Reference, as_of: bool) -> None:
    patients = reference.cohort.patients
    body = _get(reference, as_of)
    assert body["n_patients"] == len(patients)
    assert body["n_sites"] == 1
    assert body["n_infusions"] == sum(len(p.infusions) for p in patients)
    assert_stats(body["infusions_per_patient"], [len(p.infusions) for p in patients])
    assert_stats(body["age"], [p.age() for p in patients])
    for sex in ("female", "male", "other", "unknown"):
        k = sum(p.sex == sex for p in patients)
        assert body["sex"][sex] == {"n": k, "pct": pct(k, len(patients))}
    k = sum("crps" in p.conditions for p in patients)
    assert body["conditions"]["crps"] == {"n": k, "pct": pct(k, len(patients))}
    for scale in SCALES:
        block = body["scales"][scale]
        assert_stats(block["baseline"], [p.baseline(scale) for p in patients])
        assert_stats(block["final"], [p.final(scale) for p in patients])
        assert_stats(block["change"], [p.change(scale) for p in patients])
        assert_paired(block["change"], [p.change(scale) for p in patients])
    hads_d = [p.baseline("hads_depression") for p in patients]
    depressed = sum(v is not None and v >= 8 for v in hads_d)
    assert body["depression"] == {
        "threshold": 8, "n": depressed, "pct": pct(depressed, sum(v is not None for v in hads_d))
    }  # fmt: skip
    infusions = [i for p in patients for i in p.infusions]
    with_event = sum(bool(i.events) for i in infusions)
    assert body["adverse_events"] == {"n": with_event, "any_pct": pct(with_event, len(infusions))}


def test_cohort_echoes_filters_and_scoring(reference: Reference) -> None:
    body = reference.api.ok("GET", "/v1/analytics/cohort", params={"threshold": 11, "sex": "male"})
    assert body["filters"]["sex"] == "male"
    assert body["parameters"] == {"threshold": 11}
    assert body["scoring"] == {"nrs-pain": "nrs-pain/1", "hads": "hads/1"}
    assert dt.datetime.fromisoformat(body["as_of"]) <= dt.datetime.now(dt.UTC)
    assert body["n_patients"] == sum(p.sex == "male" for p in reference.cohort.patients)


def test_threshold_moves_the_depressed_share(reference: Reference) -> None:
    patients = reference.cohort.patients
    for threshold in (1, 11, 21):
        body = reference.api.ok("GET", "/v1/analytics/cohort", params={"threshold": threshold})
        values = [p.baseline("hads_depression") for p in patients]
        k = sum(v is not None and v >= threshold for v in values)
        assert body["depression"]["n"] == k


def test_filters_select_patients(reference: Reference) -> None:
    patients = reference.cohort.patients
    cases = [
        ({"condition": "crps"}, [p for p in patients if "crps" in p.conditions]),
        ({"min_infusions": 2}, [p for p in patients if len(p.infusions) >= 2]),
        ({"from": "2023-03-20", "to": "2023-04-15"},
         [p for p in patients if p.t1 and dt.date(2023, 3, 20) <= p.t1.date()
          <= dt.date(2023, 4, 15)]),
    ]  # fmt: skip
    for params, expected in cases:
        body = reference.api.ok("GET", "/v1/analytics/cohort", params=params)
        assert body["n_patients"] == len(expected), params
        assert_stats(body["scales"]["pain"]["change"], [p.change("pain") for p in expected])
