"""pain-deltas, by-infusion, trajectory, adverse-events and mediation against references."""

from __future__ import annotations

import datetime as dt
import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from tests.analytics.check import approx, assert_difference, assert_paired, assert_stats, pct
from tests.analytics.conftest import Reference
from tests.analytics.model import Pat


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def _stratum(p: Pat, threshold: int) -> str | None:
    value = p.baseline("hads_depression")
    if value is None:
        return None
    return "depressed" if value >= threshold else "not_depressed"


def _responders(block: dict[str, Any], pairs: list[tuple[float, float]]) -> None:
    positive = [(b, f) for b, f in pairs if b > 0]
    for key, share in (("responders_30", 3), ("responders_50", 5)):
        k = sum((b - f) * 10 >= share * b for b, f in positive)
        assert block[key] == {"n": k, "pct": pct(k, len(positive))}
    k = sum(b - f >= 2 for b, f in pairs)
    assert block["responders_2pt"] == {"n": k, "pct": pct(k, len(pairs))}


@pytest.mark.parametrize("window", ["overall", "first_infusion"])
@pytest.mark.parametrize("as_of", [False, True])
def test_pain_deltas_match_reference(reference: Reference, window: str, as_of: bool) -> None:
    params: dict[str, Any] = {"window": window, "threshold": 8}
    if as_of:
        params["as_of"] = _now()
    body = reference.api.ok("GET", "/v1/analytics/pain-deltas", params=params)
    patients = reference.cohort.patients

    def pair(p: Pat) -> tuple[float | None, float | None]:
        if window == "overall":
            return p.baseline("pain"), p.final("pain")
        return p.around(1, "pain")

    groups: dict[str, list[tuple[float, float]]] = {"depressed": [], "not_depressed": []}
    for p in patients:
        b, f = pair(p)
        stratum = _stratum(p, 8)
        if b is not None and f is not None and stratum is not None:
            groups[stratum].append((b, f))
    assert [s["stratum"] for s in body["strata"]] == ["depressed", "not_depressed"]
    for block in body["strata"]:
        pairs = groups[block["stratum"]]
        assert block["n"] == len(pairs)
        assert_stats(block["baseline"], [b for b, _ in pairs])
        assert_stats(block["final"], [f for _, f in pairs])
        assert_stats(block["delta"], [f - b for b, f in pairs])
        assert_paired(block, [f - b for b, f in pairs])
        _responders(block, pairs)
    assert body["n_missing"] == len(patients) - sum(len(g) for g in groups.values())
    deltas = {k: [f - b for b, f in v] for k, v in groups.items()}
    assert_difference(body["difference"], deltas["depressed"], deltas["not_depressed"])


def test_pain_deltas_by_band(reference: Reference) -> None:
    body = reference.api.ok("GET", "/v1/analytics/pain-deltas", params={"bands": "true"})
    assert [s["stratum"] for s in body["strata"]] == ["normal", "borderline", "abnormal"]
    assert body["difference"] is None
    bounds = {"normal": (0, 8), "borderline": (8, 11), "abnormal": (11, 22)}
    for block in body["strata"]:
        lo, hi = bounds[block["stratum"]]
        members = [
            p for p in reference.cohort.patients
            if p.change("pain") is not None and (d := p.baseline("hads_depression")) is not None
            and lo <= d < hi
        ]  # fmt: skip
        assert_stats(block["delta"], [p.change("pain") for p in members])


@pytest.mark.parametrize("threshold", [None, 8])
def test_by_infusion_matches_reference(reference: Reference, threshold: int | None) -> None:
    params: dict[str, Any] = {"max_k": 4, **({"threshold": threshold} if threshold else {})}
    body = reference.api.ok("GET", "/v1/analytics/by-infusion", params=params)
    patients = reference.cohort.patients
    assert [row["k"] for row in body["rows"]] == [1, 2, 3, 4]
    for row in body["rows"]:
        groups = {"all": patients}
        if threshold:
            for name in ("depressed", "not_depressed"):
                groups[name] = [p for p in patients if _stratum(p, threshold) == name]
        for name, members in groups.items():
            block = row if name == "all" else row["strata"][name]
            pairs = [p.around(row["k"], "pain") for p in members]
            pairs = [(a, b) for a, b in pairs if a is not None and b is not None]
            assert block["n"] == len(pairs)
            assert_stats(block["pre"], [a for a, _ in pairs])
            assert_stats(block["post"], [b for _, b in pairs])
            assert_stats(block["delta"], [b - a for a, b in pairs])
            assert_paired(block["delta"], [b - a for a, b in pairs])
            cumulative = []
            for p in members:
                post, base = p.around(row["k"], "pain")[1], p.baseline("pain")
                if post is not None and base is not None:
                    cumulative.append(post - base)
            assert_stats(block["cumulative_change"], cumulative)


@pytest.mark.parametrize("scale", ["pain", "hads_depression"])
def test_trajectory_matches_reference(reference: Reference, scale: str) -> None:
    params = {"scale": scale, "max_month": 7, "as_of": _now()}
    body = reference.api.ok("GET", "/v1/analytics/trajectory", params=params)
    patients = reference.cohort.patients
    assert [row["m"] for row in body["rows"]] == list(range(8))
    for row in body["rows"]:
        m = row["m"]
        assert_stats(row["overall"], [p.month(m, scale) for p in patients])
        for name in ("depressed", "not_depressed"):
            members = [p for p in patients if _stratum(p, 8) == name]
            assert_stats(row[name], [p.month(m, scale) for p in members])
    points = [
        (p.id, m, float(_stratum(p, 8) == "depressed"), p.month(m, scale))
        for p in patients
        for m in range(8)
        if _stratum(p, 8) is not None and p.month(m, scale) is not None
    ]
    frame = pd.DataFrame(points, columns=["patient", "month", "depressed", "value"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = smf.mixedlm("value ~ month * depressed", frame, groups=frame["patient"]).fit(
            reml=True
        )
    model = body["model"]
    assert model["n"] == frame["patient"].nunique()
    assert model["n_points"] == len(frame)
    for term in ("Intercept", "month", "depressed", "month:depressed"):
        coefficient = model["coefficients"][term]
        assert coefficient["estimate"] == pytest.approx(fit.fe_params[term], rel=1e-4, abs=1e-6)
        assert coefficient["se"] == pytest.approx(fit.bse[term], rel=1e-3, abs=1e-6)


def test_adverse_events_match_reference(reference: Reference) -> None:
    body = reference.api.ok("GET", "/v1/analytics/adverse-events", params={"as_of": _now()})
    infusions = [i for p in reference.cohort.patients for i in p.infusions]
    assert body["n_infusions"] == len(infusions)
    order = ("mild", "moderate", "severe")
    for kind in ("fatigue", "nausea", "headache", "vomiting"):
        worst = [max((order.index(s) for t, s in i.events if t == kind), default=None)
                 for i in infusions]  # fmt: skip
        n = sum(w is not None for w in worst)
        block = body["types"][kind]
        assert (block["n"], block["pct"]) == (n, pct(n, len(infusions)))
        assert block["by_severity"] == {s: worst.count(j) for j, s in enumerate(order)}
    numbered = [(k + 1, inf) for p in reference.cohort.patients
                for k, inf in enumerate(p.numbered())]  # fmt: skip
    for row in body["by_infusion"]:
        mine = [inf for k, inf in numbered if k == row["k"]]
        with_event = sum(bool(inf.events) for inf in mine)
        assert row["n"] == len(mine)
        assert row["with_event"] == {"n": with_event, "pct": pct(with_event, len(mine))}


@pytest.mark.parametrize("exposure", ["cumulative_dose", "depressed"])
def test_mediation_matches_least_squares(reference: Reference, exposure: str) -> None:
    params = {"exposure": exposure, "n_boot": 200, "seed": 3}
    body = reference.api.ok("GET", "/v1/analytics/mediation", params=params)
    rows = []
    for p in reference.cohort.patients:
        x = p.cumulative_dose() if exposure == "cumulative_dose" else (
            None if _stratum(p, 8) is None else float(_stratum(p, 8) == "depressed"))  # fmt: skip
        m, y, age = p.change("hads_depression"), p.change("pain"), p.age()
        if None not in (x, m, y, age):
            rows.append((x, m, y, age, float(p.sex == "female")))
    data = np.array(rows, dtype=float)
    x, m, y, cov = data[:, 0], data[:, 1], data[:, 2], data[:, 3:]
    ones = np.ones(len(data))

    def ols(target: Any, *columns: Any) -> Any:
        return np.linalg.lstsq(np.column_stack([ones, *columns, cov]), target, rcond=None)[0]

    a, total, direct = ols(m, x)[1], ols(y, x)[1], ols(y, x, m)
    assert body["n"] == len(data)
    assert body["paths"]["a"]["estimate"] == approx(a)
    assert body["paths"]["c"]["estimate"] == approx(total)
    assert body["paths"]["c_prime"]["estimate"] == approx(direct[1])
    assert body["paths"]["b"]["estimate"] == approx(direct[2])
    assert body["indirect"]["estimate"] == approx(a * direct[2])
    assert body["proportion_mediated"] == approx(a * direct[2] / total)
    lo, hi = body["indirect"]["ci95"]
    assert lo <= hi
    again = reference.api.ok("GET", "/v1/analytics/mediation", params=params)
    assert again["indirect"] == body["indirect"]
