"""What import rows refer to: sites by code and patients by (site, pseudonym)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Protocol

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.errors import AppError
from app.models import Patient, Site
from app.services.importer.layout import LineError, Row, shape_error

# Imports act with admin scope and sign the audit trail and `created_by` as `cli-import`.
CALLER = Principal(uuid.UUID(int=0), "cli-import", "admin", None, None)
CHUNK = 500  # ids per IN (…) list


class Progress(Protocol):
    def stage(self, name: str, total: int) -> None: ...

    def advance(self, n: int = 1) -> None: ...


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


async def site_ids(session: AsyncSession, codes: set[str]) -> dict[str, uuid.UUID]:
    if not codes:
        return {}
    rows = await session.execute(select(Site.code, Site.id).where(Site.code.in_(codes)))
    return {r.code: r.id for r in rows}


async def patients_by_key(
    session: AsyncSession, keys: set[tuple[str, str]]
) -> dict[tuple[str, str], Patient]:
    """Patients for (site code, pseudonym) pairs; absent pairs are simply missing."""
    found: dict[tuple[str, str], Patient] = {}
    for part in chunks(sorted(keys)):
        stmt = (
            select(Patient, Site.code)
            .join(Site, Site.id == Patient.site_id)
            .where(tuple_(Site.code, Patient.pseudonym).in_(list(part)))
        )
        for patient, code in await session.execute(stmt):
            found[(code, patient.pseudonym)] = patient
    return found


def site_of(cells: dict[str, str], default: str | None) -> str | None:
    return cells.get("site") or default


def with_site(
    rows: Iterable[Row], default: str | None, errors: list[LineError]
) -> Iterator[tuple[Row, str]]:
    """Well-formed rows that name their site (a `site` cell or the --site option), each with
    that site's code; every other row becomes a line error."""
    for row in rows:
        if shape := shape_error(row):
            errors.append(shape)
            continue
        code = site_of(row.cells, default)
        if code is None:
            errors.append(missing_patient(row.line, None, None))
            continue
        yield row, code


def app_errors(line: int, exc: AppError) -> list[LineError]:
    """An API error as line errors: each `errors` entry when there are some, else the detail."""
    if not exc.errors:
        return [LineError(line, None, exc.detail)]
    out = []
    for err in exc.errors:
        loc = [str(p) for p in err.get("loc", ()) if p != "body"]
        out.append(LineError(line, ".".join(loc) or None, str(err.get("msg", exc.detail))))
    return out


def missing_patient(line: int, site: str | None, pseudonym: str | None) -> LineError:
    if site is None:
        return LineError(line, "site", "required: a `site` column or the --site option")
    return LineError(line, "pseudonym", f"no patient {pseudonym!r} at site {site}")
