"""Report models: the Table 1 layout and the dashboard's filter form."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.schemas.common import Condition, Sex, SiteCode


class Table1Row(BaseModel):
    label: str = Field(examples=["Age, years, mean ± SD"])
    kind: Literal["n", "n_pct", "mean_sd"]
    section: str | None = Field(default=None, examples=["Conditions"])
    n: int | None = Field(
        description="Patients counted (or with the value known); null when suppressed."
    )
    pct: float | None = None
    mean: float | None = None
    sd: float | None = None
    suppressed: bool
    text: str = Field(description="The cell as printed in the table.", examples=["51.4 ± 12.3"])


class Table1(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "title": "Table 1. Characteristics of the patients at baseline",
                    "filters": {"site": None, "condition": None, "sex": None,
                                "min_infusions": 2, "from": None, "to": None},
                    "as_of": "2026-11-25T12:00:00Z",
                    "scoring": {"nrs-pain": "1.0", "hads": "1.0"},
                    "threshold": 8,
                    "min_cell": 11,
                    "suppressed": False,
                    "rows": [
                        {"label": "Patients, n", "kind": "n", "section": None, "n": 329,
                         "suppressed": False, "text": "329"},
                        {"label": "Age, years, mean ± SD", "kind": "mean_sd", "section": None,
                         "n": 329, "mean": 51.4, "sd": 12.3, "suppressed": False,
                         "text": "51.4 ± 12.3"},
                        {"label": "Women, n (%)", "kind": "n_pct", "section": None, "n": 249,
                         "pct": 75.7, "suppressed": False, "text": "249 (75.7 %)"},
                    ],
                }
            ]
        }
    )  # fmt: skip

    title: str
    filters: dict[str, Any]
    as_of: str
    scoring: dict[str, str]
    threshold: int
    min_cell: int
    suppressed: bool = Field(description="True when at least one cell is hidden.")
    rows: list[Table1Row]


class DashboardQuery(BaseModel):
    """The dashboard's filter form; empty fields mean no filter."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    site: SiteCode | None = None
    condition: Condition | None = None
    sex: Sex | None = None
    min_infusions: Annotated[int, Field(ge=0, le=1000)] | None = None
    first_from: dt.date | None = Field(default=None, alias="from")
    first_to: dt.date | None = Field(default=None, alias="to")
    threshold: Annotated[int, Field(ge=1, le=21)] = 8
