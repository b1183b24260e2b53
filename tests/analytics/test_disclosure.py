"""Small-cell suppression on every endpoint, complementary cells, and site confinement."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.services.analytics import disclosure
from tests.analytics.model import Cohort
from tests.support import Api, Registry, hads

ENDPOINTS = (
    "/v1/analytics/cohort",
    "/v1/analytics/pain-deltas",
    "/v1/analytics/pain-deltas?bands=true&window=first_infusion",
    "/v1/analytics/by-infusion?threshold=8",
    "/v1/analytics/trajectory",
    "/v1/analytics/adverse-events",
    "/v1/analytics/mediation?n_boot=50",
)
ECHOES = ("filters", "parameters", "as_of", "scoring")


def counts(value: Any, key: str = "") -> Iterator[tuple[str, int]]:
    """Every count shown: integers under `n`/`n_…` keys and severity breakdowns."""
    if isinstance(value, dict):
        for k, v in value.items():
            if k not in ECHOES:
                yield from counts(v, k)
    elif isinstance(value, list):
        for item in value:
            yield from counts(item, key)
    elif isinstance(value, int) and not isinstance(value, bool) and _is_count_key(key):
        yield key, value


def _is_count_key(key: str) -> bool:
    return key == "n" or key.startswith("n_") or key in ("mild", "moderate", "severe")


def _small_site(c: Cohort, size: int) -> None:
    for i in range(size):
        p = c.patient(sex="female" if i % 2 else "male")
        inf = c.infusion(p, 10 + i)
        c.event(inf, "fatigue")
        c.pain(p, "baseline", 5 + i, 7)
        c.respond(p, "baseline", 5 + i, hads(2), hour=10)
        c.pain(p, "post_infusion", 10 + i, 4, inf, hour=12)
        c.pain(p, "follow_up", 45 + i, 5)


def test_site_of_three_shows_no_small_count(registry: Registry) -> None:
    clinic = registry.new_clinic()
    _small_site(Cohort(clinic), 3)
    for api, params in ((clinic, {}), (registry.analyst, {"site": clinic.site})):
        for path in ENDPOINTS:
            body = api.ok("GET", path, params=params)
            shown = [(k, n) for k, n in counts(body) if 1 <= n <= 10]
            assert shown == [], (path, shown)
    body = clinic.ok("GET", "/v1/analytics/cohort")
    assert body["scales"]["pain"]["change"]["mean"] is None
    assert body["scales"]["pain"]["change"]["suppressed"] is True
    mediation = clinic.ok("GET", "/v1/analytics/mediation", params={"n_boot": 10})
    assert mediation["paths"]["a"]["estimate"] is None


def test_hidden_counts_cannot_be_recovered(registry: Registry) -> None:
    clinic = registry.new_clinic()
    c = Cohort(clinic)
    for i in range(15):
        p = c.patient(sex="male" if i < 2 else "female")
        c.infusion(p, 10)
        c.pain(p, "baseline", 5, 8)
        c.respond(p, "baseline", 5, hads(1 if i < 2 else 2), hour=10)
        if i != 14:
            c.pain(p, "follow_up", 40, 4 + i % 3)
    cohort = clinic.ok("GET", "/v1/analytics/cohort")
    assert cohort["n_patients"] == 15
    assert cohort["sex"]["male"]["suppressed"] is True
    assert cohort["sex"]["female"]["suppressed"] is True  # else 15 - 13 = 2 males
    deltas = clinic.ok("GET", "/v1/analytics/pain-deltas")
    depressed, not_depressed = deltas["strata"]
    assert depressed["n"] == 12
    assert not_depressed["suppressed"] is True
    assert deltas["n_missing"] is None  # else 15 - 12 - 1 = 2
    assert deltas["difference"]["suppressed"] is True
    assert deltas["difference"]["mean_difference"] is None


def test_partition_rules() -> None:
    body: dict[str, Any] = {"total": {"n": 30}, "a": {"n": 25}, "b": {"n": 5}, "c": {"n": 0}}
    disclosure.partition(body, [("a",), ("b",), ("c",)], total=("total",))
    out = disclosure.protect(body, 11)
    assert out["b"]["suppressed"]
    assert out["a"]["suppressed"]
    assert out["c"] == {"n": 0}
    assert out["total"] == {"n": 30}
    # A large unseen residual already protects a single hidden cell.
    body = {"a": {"n": 40}, "b": {"n": 3}}
    disclosure.partition(body, [("a",), ("b",)], residual=20)
    out = disclosure.protect(body, 11)
    assert out["a"] == {"n": 40}
    assert out["b"]["suppressed"]
    # A small residual is protected by hiding a shown cell.
    body = {"a": {"n": 40}, "b": {"n": 30}}
    disclosure.partition(body, [("a",), ("b",)], residual=4)
    out = disclosure.protect(body, 11)
    assert out["b"]["suppressed"]
    assert out["a"] == {"n": 40}
    # The only non-zero cell hidden: the total goes too.
    body = {"total": {"n": 5, "mean": 1.0}, "a": {"n": 5}, "b": {"n": 0}}
    disclosure.partition(body, [("a",), ("b",)], total=("total",))
    assert disclosure.protect(body, 11)["total"]["mean"] is None
    # min_cell 1 turns suppression off; zero is never hidden.
    assert disclosure.protect({"n": 1, "x": {"n": 0}}, 1) == {"n": 1, "x": {"n": 0}}


def test_clinic_sees_only_its_site(registry: Registry) -> None:
    mine, other = registry.new_clinic(), registry.new_clinic()
    _small_site(Cohort(mine), 2)
    _small_site(Cohort(other), 12)
    for path in ENDPOINTS:
        r = mine.get(path, params={"site": other.site})
        assert r.status_code == 404, path
        assert r.headers["content-type"].startswith("application/problem+json")
    own = mine.ok("GET", "/v1/analytics/cohort", params={"site": mine.site})
    assert own["n_patients"] is None  # 2 patients: hidden, and never the other site's 12
    assert mine.ok("GET", "/v1/analytics/cohort")["n_patients"] is None
    seen = registry.analyst.ok("GET", "/v1/analytics/cohort", params={"site": other.site})
    assert seen["n_patients"] == 12
    assert registry.analyst.get("/v1/analytics/cohort", params={"site": "NOPE"}).status_code == 404


def test_open_client_shows_small_counts(registry: Registry, open_client: TestClient) -> None:
    clinic = registry.new_clinic()
    _small_site(Cohort(clinic), 3)
    api = Api(open_client, clinic.token, "clinic", clinic.site)
    assert api.ok("GET", "/v1/analytics/cohort")["n_patients"] == 3


@pytest.mark.parametrize(
    "params",
    [
        {"threshold": 0},
        {"threshold": 22},
        {"as_of": "2999-01-01T00:00:00Z"},
        {"as_of": "2024-01-01T00:00:00"},
        {"as_of": "0.5"},
        {"as_of": "1700000000"},
        {"from": "2024-05-01", "to": "2024-04-01"},
        {"min_infusions": -1},
        {"sex": "robot"},
        {"condition": "flu"},
    ],
)
def test_bad_filters_are_422(registry: Registry, params: dict[str, Any]) -> None:
    r = registry.analyst.get("/v1/analytics/cohort", params=params)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")


def test_bad_parameters_are_422_and_auth_required(registry: Registry, client: TestClient) -> None:
    bad = (
        "/v1/analytics/trajectory?scale=mood",
        "/v1/analytics/pain-deltas?window=x",
        "/v1/analytics/mediation?exposure=x",
        "/v1/analytics/by-infusion?max_k=0",
    )
    for path in bad:
        assert registry.analyst.get(path).status_code == 422, path
    assert client.get("/v1/analytics/cohort").status_code == 401


@pytest.mark.parametrize("value", ["0", "20240101", "2024-1-1", "2024-02-30"])
def test_dates_must_be_iso(registry: Registry, value: str) -> None:
    for key in ("from", "to"):
        r = registry.analyst.get("/v1/analytics/cohort", params={key: value})
        assert r.status_code == 422, (key, value, r.text)
