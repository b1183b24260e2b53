"""Who and what an analysis covers: the common filters, resolved against the caller's site scope."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.errors import Unprocessable
from app.instruments import INSTRUMENTS
from app.services import lookups

# Per analytics request: the hash tables of a 100,000-patient extraction fit in memory.
WORK_MEM = "64MB"


@dataclass(frozen=True, slots=True)
class Filters:
    """The common analytics filters exactly as the caller sent them."""

    site: str | None = None
    condition: str | None = None
    sex: str | None = None
    min_infusions: int | None = None
    first_from: dt.date | None = None
    first_to: dt.date | None = None
    as_of: dt.datetime | None = None

    def echo(self) -> dict[str, Any]:
        return {
            "site": self.site,
            "condition": self.condition,
            "sex": self.sex,
            "min_infusions": self.min_infusions,
            "from": self.first_from.isoformat() if self.first_from else None,
            "to": self.first_to.isoformat() if self.first_to else None,
        }


@dataclass(frozen=True, slots=True)
class Scope:
    """Filters resolved for SQL: site ids the caller may see, first-infusion bounds, instant."""

    filters: Filters
    site_id: uuid.UUID | None
    as_of: dt.datetime | None  # None: the current state of the tables
    used_at: dt.datetime  # the instant reported as `as_of`
    dialect: str
    # Set only while the summary tables are rebuilt: read the clinical tables, these patients.
    rebuild: tuple[uuid.UUID, ...] | None = None
    # Set once the summary tables were refreshed for this analysis (analytics.service.scope).
    # Without it the values are extracted from the clinical tables: slower, never stale.
    fresh: bool = False

    @property
    def summarised(self) -> bool:
        """Whether the per-patient values come from the summary tables (the current state)."""
        return self.fresh and self.as_of is None and self.rebuild is None

    @property
    def patient_filters(self) -> bool:
        """Whether anything beyond the site and the instant narrows the patients."""
        f = self.filters
        return any(v is not None for v in (f.condition, f.sex, f.first_from, f.first_to)) or bool(
            f.min_infusions
        )

    @property
    def first_after(self) -> dt.datetime | None:
        """Infusion 1 must start at or after midnight UTC of `from`."""
        day = self.filters.first_from
        return None if day is None else dt.datetime.combine(day, dt.time(), dt.UTC)

    @property
    def first_before(self) -> dt.datetime | None:
        """Infusion 1 must start before midnight UTC following `to`."""
        day = self.filters.first_to
        if day is None:
            return None
        return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), dt.UTC)


async def resolve(session: AsyncSession, caller: Principal, filters: Filters) -> Scope:
    """Check the filters and confine the analysis to what the caller may see.

    A clinic key is always confined to its own site; naming another site answers 404, exactly
    like a site that does not exist.
    """
    now = dt.datetime.now(dt.UTC)
    if filters.as_of is not None and filters.as_of > now:
        raise Unprocessable(
            "as_of must be a past instant.",
            errors=[{"loc": ["query", "as_of"], "msg": "in the future"}],
        )
    if filters.first_from and filters.first_to and filters.first_from > filters.first_to:
        raise Unprocessable(
            "`from` must not be after `to`.",
            errors=[{"loc": ["query", "from"], "msg": "after `to`"}],
        )
    site_id = caller.site_id if caller.role == "clinic" else None
    if filters.site is not None:
        site_id = (await lookups.site_by_code(session, caller, filters.site)).id
    dialect = session.get_bind().dialect.name
    await tune(session)
    return Scope(filters, site_id, filters.as_of, filters.as_of or now, dialect)


async def tune(session: AsyncSession) -> None:
    """Settings for whole-cohort queries, until the end of the current transaction."""
    if session.get_bind().dialect.name == "postgresql":
        # Whole-cohort scans are a few large hash aggregates: compiling them (JIT) costs more
        # than it saves, and the default work_mem would spill their hash tables to disk.
        await session.execute(text("SET LOCAL jit = off"))
        await session.execute(text(f"SET LOCAL work_mem = '{WORK_MEM}'"))


async def snapshot(session: AsyncSession) -> None:
    """Run the rest of the request in one snapshot (PostgreSQL): an analysis reads its
    patients and their other values in separate statements, which must see the same data.

    What the request did so far (the key lookup) is committed first, since the isolation
    level can only be chosen when a transaction starts.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    await session.commit()
    await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    await tune(session)


def envelope(scope: Scope, instruments: tuple[str, ...], **parameters: Any) -> dict[str, Any]:
    """What every analytics body starts with: its filters, parameters, instant and scoring."""
    return {
        "filters": scope.filters.echo(),
        "parameters": parameters,
        "as_of": scope.used_at.isoformat().replace("+00:00", "Z"),
        "scoring": {name: INSTRUMENTS[name].scoring_version for name in instruments},
    }
