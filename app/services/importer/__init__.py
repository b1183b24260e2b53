"""`proreg import`: patients, infusions or responses from one CSV file, all or nothing."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from app.services.importer import clinical, layout, responses
from app.services.importer.layout import ImportFailed, Kind, LineError
from app.services.importer.refs import Progress

__all__ = ["ImportFailed", "LineError", "Summary", "import_file"]

LOADERS = {
    "patients": clinical.load_patients,
    "infusions": clinical.load_infusions,
    "responses": responses.load_responses,
}


@dataclass(frozen=True, slots=True)
class Summary:
    kind: Kind
    rows: int
    created: int
    skipped: int  # already in the registry (an earlier run of the same file)


async def import_file(
    session: AsyncSession,
    path: Path,
    progress: Progress,
    *,
    kind: Kind | None = None,
    site: str | None = None,
) -> Summary:
    """Validate every row, then write them in the caller's transaction.

    Raises ImportFailed listing every bad line (with its number) before anything is
    written; the caller rolls the transaction back on any error, so a file is imported
    whole or not at all.
    """
    header, rows = layout.read(path)
    detected = kind or layout.detect(header)
    layout.check_header(detected, header)
    created, skipped = await LOADERS[detected](session, rows, site, progress)
    return Summary(detected, len(rows), created, skipped)
