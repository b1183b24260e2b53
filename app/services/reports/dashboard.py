"""The dashboard's panels: analytics bodies (suppressed) turned into inline SVG charts."""

from __future__ import annotations

from typing import Any

from markupsafe import Markup
from sqlalchemy.ext.asyncio import AsyncSession

from app.services.analytics import disclosure
from app.services.analytics import service as analytics
from app.services.analytics.scope import Scope
from app.services.reports import svg
from app.services.reports.table1 import table1

STRATA = (("depressed", "Depressed"), ("not_depressed", "Not depressed"))
RESPONDERS = (
    ("responders_30", "≥ 30 % reduction"),
    ("responders_50", "≥ 50 % reduction"),
    ("responders_2pt", "≥ 2 points"),
)
MAX_K = 5


def hidden(cell: Any) -> bool:
    return cell is None or (isinstance(cell, dict) and cell.get("suppressed") is True)


def point(label: str, block: Any, value: str = "mean") -> svg.Point:
    """A chart point from a stats block (value with ci95) or a share (`pct`)."""
    if hidden(block):
        return svg.Point(label, None, suppressed=True)
    ci = block.get("ci95") or (None, None)
    return svg.Point(label, block.get(value), ci[0], ci[1], n=block.get("n"))


def trajectory_chart(body: dict[str, Any]) -> Markup:
    rows = body["rows"]
    months = [f"M{row['m']}" for row in rows]
    series = [
        svg.Series(
            label,
            [
                point(m, None if hidden(row) else row.get(key))
                for m, row in zip(months, rows, strict=True)
            ],
        )
        for key, label in STRATA
    ]
    return svg.line_chart(
        "trajectory",
        f"Pain by month after infusion 1 (HADS-D ≥ {body['parameters']['threshold']})",
        months,
        series,
        x_label="month (0 = baseline)",
        y_label="pain NRS, mean (95 % CI)",
        floor=0,
        ceiling=10,
    )


def deltas_chart(body: dict[str, Any]) -> Markup:
    rows = body["rows"]
    labels = [f"#{row['k']}" for row in rows]
    points = [
        point(label, None if hidden(row) else row.get("delta"))
        for label, row in zip(labels, rows, strict=True)
    ]
    return svg.bar_chart(
        "infusion-deltas",
        "Pain change within each infusion (post − pre)",
        labels,
        [svg.Series("post − pre", points)],
        x_label="infusion",
        y_label="NRS points, mean (95 % CI)",
    )


def responders_chart(body: dict[str, Any]) -> Markup:
    strata = body["strata"]
    labels = [label for _, label in RESPONDERS]
    series = []
    for (_, name), stratum in zip(STRATA, strata, strict=False):
        points = [
            point(label, None if hidden(stratum) else stratum.get(key), "pct")
            for key, label in RESPONDERS
        ]
        series.append(svg.Series(name, points))
    return svg.bar_chart(
        "responders",
        "Pain responders from baseline to the last score",
        labels,
        series,
        x_label="response",
        y_label="% of patients",
        floor=0,
        ceiling=100,
    )


def adverse_chart(body: dict[str, Any]) -> Markup:
    types = body["types"]
    labels = list(types)
    points = [point(t, types[t], "pct") for t in labels]
    return svg.bar_chart(
        "adverse-events",
        "Infusions with each adverse event",
        labels,
        [svg.Series("% of infusions", points)],
        x_label="event",
        y_label="% of infusions",
        floor=0,
        ceiling=None,
    )


async def panels(
    session: AsyncSession, scope: Scope, *, threshold: int, min_cell: int
) -> dict[str, Any]:
    """Everything the dashboard shows for one set of filters, every small cell hidden."""

    def safe(body: dict[str, Any]) -> dict[str, Any]:
        return disclosure.protect(body, min_cell)

    trajectory = safe(
        await analytics.trajectory(session, scope, scale="pain", threshold=threshold, max_month=12)
    )
    by_infusion = safe(
        await analytics.by_infusion(session, scope, scale="pain", max_k=MAX_K, threshold=None)
    )
    deltas = safe(
        await analytics.pain_deltas(
            session, scope, threshold=threshold, bands=False, window="overall"
        )
    )
    adverse = safe(await analytics.adverse_events(session, scope))
    return {
        "table1": await table1(session, scope, threshold=threshold, min_cell=min_cell),
        "charts": {
            "trajectory": trajectory_chart(trajectory),
            "infusion-deltas": deltas_chart(by_infusion),
            "responders": responders_chart(deltas),
            "adverse-events": adverse_chart(adverse),
        },
        "trajectory": trajectory,
        "as_of": trajectory["as_of"],
    }
