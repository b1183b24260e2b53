"""The paper's Table 1, laid out from the (suppressed) body of the cohort analysis."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.schemas.common import Condition
from app.services.analytics import disclosure
from app.services.analytics import service as analytics
from app.services.analytics.scope import Scope

SUPPRESSED = "suppressed"
SCALES = (
    ("pain", "Pain NRS (0–10)"),
    ("hads_anxiety", "HADS anxiety (0–21)"),
    ("hads_depression", "HADS depression (0–21)"),
)
CONDITION_LABELS = {
    "fibromyalgia": "Fibromyalgia", "neuropathic": "Neuropathic pain", "crps": "CRPS",
    "chronic_low_back": "Chronic low back pain", "headache": "Headache",
    "visceral": "Visceral pain", "mixed": "Mixed", "other": "Other",
}  # fmt: skip


def _hidden(cell: Any) -> bool:
    return cell is None or (isinstance(cell, dict) and cell.get("suppressed") is True)


def mean_sd(label: str, block: Any, section: str | None = None) -> dict[str, Any]:
    """A `mean ± SD` row; n is how many patients the value is known for."""
    row: dict[str, Any] = {"label": label, "kind": "mean_sd", "section": section}
    if _hidden(block):
        return {**row, "n": None, "mean": None, "sd": None, "suppressed": True,
                "text": SUPPRESSED}  # fmt: skip
    mean, sd = block.get("mean"), block.get("sd")
    text = "–" if mean is None else f"{mean:.1f}" + ("" if sd is None else f" ± {sd:.1f}")
    return {**row, "n": block.get("n"), "mean": mean, "sd": sd, "suppressed": False,
            "text": text}  # fmt: skip


def share(label: str, cell: Any, section: str | None = None) -> dict[str, Any]:
    """An `n (%)` row."""
    row: dict[str, Any] = {"label": label, "kind": "n_pct", "section": section}
    if _hidden(cell):
        return {**row, "n": None, "pct": None, "suppressed": True, "text": SUPPRESSED}
    n, pct = cell.get("n"), cell.get("pct")
    text = f"{n}" + ("" if pct is None else f" ({pct:.1f} %)")
    return {**row, "n": n, "pct": pct, "suppressed": False, "text": text}


def count(label: str, n: Any) -> dict[str, Any]:
    if n is None:
        return {"label": label, "kind": "n", "section": None, "n": None, "suppressed": True,
                "text": SUPPRESSED}  # fmt: skip
    return {"label": label, "kind": "n", "section": None, "n": n, "suppressed": False,
            "text": str(n)}  # fmt: skip


def rows_of(cohort: dict[str, Any]) -> list[dict[str, Any]]:
    """Table 1 rows in the paper's order, from a suppressed cohort body."""
    threshold = cohort["depression"].get("threshold", cohort["parameters"]["threshold"])
    rows = [
        count("Patients, n", cohort["n_patients"]),
        count("Sites, n", cohort["n_sites"]),
        mean_sd("Age, years, mean ± SD", cohort["age"]),
        share("Women, n (%)", cohort["sex"]["female"]),
        mean_sd("Infusions per patient, mean ± SD", cohort["infusions_per_patient"]),
    ]
    for c in Condition:
        rows.append(share(CONDITION_LABELS[c.value], cohort["conditions"][c.value], "Conditions"))
    for scale, label in SCALES:
        rows.append(mean_sd(label, cohort["scales"][scale]["baseline"], "Baseline, mean ± SD"))
    rows.append(share(f"Depressed (baseline HADS-D ≥ {threshold}), n (%)", cohort["depression"]))
    events = cohort["adverse_events"]
    rows.append(share("Infusions with an adverse event, n (%)",
                      None if _hidden(events) else {"n": events["n"],
                                                   "pct": events["any_pct"]}))  # fmt: skip
    return rows


async def table1(
    session: AsyncSession, scope: Scope, *, threshold: int, min_cell: int
) -> dict[str, Any]:
    """Table 1 for the filters in `scope`: the cohort analysis, suppressed, then laid out."""
    body = disclosure.protect(await analytics.cohort(session, scope, threshold=threshold), min_cell)
    return {
        "title": "Table 1. Characteristics of the patients at baseline",
        "filters": body["filters"],
        "as_of": body["as_of"],
        "scoring": body["scoring"],
        "threshold": threshold,
        "min_cell": min_cell,
        "suppressed": any(r["suppressed"] for r in rows_of(body)),
        "rows": rows_of(body),
    }
