"""Exports written to a file or stdout by `proreg export`, audited like the HTTP ones."""

from __future__ import annotations

import asyncio
import sys
import uuid
from pathlib import Path
from typing import Any, BinaryIO

from app.auth import Principal
from app.config import get_settings
from app.db import make_engine, make_sessionmaker
from app.services import audit
from app.services.analytics.scope import Filters, resolve
from app.services.exports import formats

# Command-line exports act with admin scope and sign the audit trail as `cli-export`.
CLI = Principal(uuid.UUID(int=0), "cli-export", "admin", None, None)


async def export(database_url: str, filters: Filters, fmt: str, out: BinaryIO) -> int:
    """Write the export to `out`; returns the number of bytes written."""
    engine = make_engine(database_url, pool_size=2, max_overflow=0, command_timeout=None)
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            scope = await resolve(session, CLI, filters)
            await audit.record(session, audit.event(CLI, "export", "responses", fmt))
        produce = formats.csv_stream if fmt == "csv" else formats.parquet_stream
        written = 0
        async with engine.connect() as conn:
            async for chunk in produce(conn, scope):
                out.write(chunk)
                written += len(chunk)
        return written
    finally:
        await engine.dispose()


def export_to(out: Path | None, fmt: str, *filters: Any) -> int:
    """`proreg export`: the export written to `out`, or to standard output."""
    url = get_settings().database_url
    chosen = Filters(*filters)
    if out is None:
        return asyncio.run(export(url, chosen, fmt, sys.stdout.buffer))
    with out.open("wb") as handle:
        return asyncio.run(export(url, chosen, fmt, handle))
