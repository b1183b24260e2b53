"""GET /v1/reports/table1: the paper's layout, checked against values computed here."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest

from tests.reports.conftest import Cohort
from tests.support import Api


def _rows(table: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["label"]: row for row in table["rows"]}


def test_table1_json_matches_the_raw_values(cohort: Cohort, analyst: Api) -> None:
    table = analyst.ok("GET", "/v1/reports/table1", params={"site": cohort.site})
    rows = _rows(table)
    n = len(cohort.patients)
    assert rows["Patients, n"]["n"] == n
    ages = np.array(cohort.ages, dtype=float)
    age = rows["Age, years, mean ± SD"]
    assert age["mean"] == pytest.approx(ages.mean(), abs=1e-9)
    assert age["sd"] == pytest.approx(ages.std(ddof=1), abs=1e-9)
    assert age["text"] == f"{ages.mean():.1f} ± {ages.std(ddof=1):.1f}"
    women = sum(p["sex"] == "female" for p in cohort.patients)
    assert rows["Women, n (%)"]["n"] == women
    assert rows["Women, n (%)"]["pct"] == round(100 * women / n, 1)
    pain = np.array(cohort.baseline_pain)
    assert rows["Pain NRS (0–10)"]["mean"] == pytest.approx(pain.mean(), abs=1e-9)
    assert rows["Pain NRS (0–10)"]["section"] == "Baseline, mean ± SD"
    depression = np.array([d for _, d in cohort.baseline_hads], dtype=float)
    assert rows["HADS depression (0–21)"]["sd"] == pytest.approx(depression.std(ddof=1), abs=1e-9)
    depressed = int((depression >= 8).sum())
    assert rows["Depressed (baseline HADS-D ≥ 8), n (%)"]["n"] == depressed
    assert table["filters"]["site"] == cohort.site
    assert table["suppressed"] is True  # some conditions have fewer than 11 patients


def test_small_cells_read_suppressed(cohort: Cohort, analyst: Api) -> None:
    rows = _rows(analyst.ok("GET", "/v1/reports/table1", params={"site": cohort.site}))
    crps = rows["CRPS"]
    assert crps["n"] is None
    assert crps["pct"] is None
    assert crps["text"] == "suppressed"
    assert crps["suppressed"] is True


def test_table1_html_by_accept_or_format(cohort: Cohort, analyst: Api) -> None:
    by_accept = analyst.get(
        "/v1/reports/table1", params={"site": cohort.site}, headers={"Accept": "text/html"}
    )
    by_param = analyst.get("/v1/reports/table1", params={"site": cohort.site, "format": "html"})
    for r in (by_accept, by_param):
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/html")
        assert "script-src" not in r.headers["content-security-policy"]
        assert '<table class="table1"' in r.text
        assert re.search(r"Patients, n</td>\s*<td class=\"num\">24</td>", r.text)
        assert "suppressed" in r.text
    as_json = analyst.get("/v1/reports/table1", params={"site": cohort.site, "format": "json"})
    assert as_json.headers["content-type"].startswith("application/json")


def test_a_clinic_sees_only_its_own_site(cohort: Cohort, small_cohort: Cohort) -> None:
    table = cohort.clinic.ok("GET", "/v1/reports/table1")
    assert _rows(table)["Patients, n"]["n"] == len(cohort.patients)
    r = cohort.clinic.get("/v1/reports/table1", params={"site": small_cohort.site})
    assert r.status_code == 404


def test_a_small_cohort_shows_no_number(small_cohort: Cohort, analyst: Api) -> None:
    table = analyst.ok("GET", "/v1/reports/table1", params={"site": small_cohort.site})
    rows = _rows(table)
    assert rows["Patients, n"]["text"] == "suppressed"
    assert rows["Age, years, mean ± SD"]["mean"] is None
    shown = [row for row in table["rows"] if not row["suppressed"]]
    assert shown
    assert all(row["n"] == 0 for row in shown), "only zero counts (never hidden) may show"
