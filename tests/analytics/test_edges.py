"""Degenerate cohorts: n = 0, 1, 2, ties and zero variance give nulls, never errors."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.analytics.check import assert_paired, assert_stats
from tests.analytics.model import Cohort
from tests.analytics.test_disclosure import ENDPOINTS
from tests.support import Api, Registry, hads


def _open(registry: Registry, client: TestClient) -> tuple[Api, Cohort]:
    clinic = registry.new_clinic()
    return Api(client, clinic.token, "clinic", clinic.site), Cohort(clinic)


def test_empty_cohort(registry: Registry, open_client: TestClient) -> None:
    api, _ = _open(registry, open_client)
    for path in ENDPOINTS:
        assert api.get(path).status_code == 200, path
    body = api.ok("GET", "/v1/analytics/cohort")
    assert body["n_patients"] == 0
    assert body["scales"]["pain"]["change"]["mean"] is None
    assert body["depression"]["pct"] is None
    deltas = api.ok("GET", "/v1/analytics/pain-deltas")
    assert [s["n"] for s in deltas["strata"]] == [0, 0]
    assert deltas["difference"]["mean_difference"] is None
    assert api.ok("GET", "/v1/analytics/trajectory")["model"]["coefficients"] is None
    assert api.ok("GET", "/v1/analytics/mediation")["paths"]["a"]["estimate"] is None


@pytest.mark.parametrize("size", [1, 2])
def test_one_and_two_patients(registry: Registry, open_client: TestClient, size: int) -> None:
    api, c = _open(registry, open_client)
    for i in range(size):
        p = c.patient()
        inf = c.infusion(p, 10)
        c.pain(p, "baseline", 5, 6 + i)
        c.respond(p, "baseline", 5, hads(2), hour=10)
        c.pain(p, "post_infusion", 10, 3, inf, hour=12)
    for path in ENDPOINTS:
        assert api.get(path).status_code == 200, path
    change = api.ok("GET", "/v1/analytics/cohort")["scales"]["pain"]["change"]
    deltas = [p.change("pain") for p in c.patients]
    assert_stats(change, deltas)
    assert_paired(change, deltas)


def test_ties_and_zero_variance(registry: Registry, open_client: TestClient) -> None:
    api, c = _open(registry, open_client)
    for i in range(5):
        p = c.patient()
        inf = c.infusion(p, 10)
        c.pain(p, "baseline", 5, 7)
        c.respond(p, "baseline", 5, hads(2 if i < 3 else 1), hour=10)
        c.pain(p, "post_infusion", 10, 4, inf, hour=12)  # every delta is -3
    body = api.ok("GET", "/v1/analytics/pain-deltas")
    depressed = body["strata"][0]
    assert depressed["delta"]["sd"] == 0
    assert depressed["p_paired_t"] is None
    assert depressed["cohen_dz"] is None
    assert_paired(depressed, [-3.0, -3.0, -3.0])
    assert body["difference"]["mean_difference"] == 0
    assert body["difference"]["p_welch"] is None
    assert body["difference"]["hedges_g"] is None
