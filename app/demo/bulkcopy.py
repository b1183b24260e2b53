"""Write a chunk's staged rows with binary COPY on PostgreSQL, just before its commit.

The services stage the rows (app.services.staging); at the demo's volume (tens of thousands
of rows per transaction) COPY sends them with a fraction of the client and server work of
the `unnest` INSERT the stage would otherwise run at commit. Same rows, same order (parents
before children), same transaction; on SQLite the stage writes them as usual.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.services import staging


async def write_staged(session: AsyncSession) -> None:
    """COPY every staged row now (PostgreSQL only; elsewhere the commit writes them)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    # A synthetic cohort need not wait for each commit's WAL flush; this statement also
    # opens the database transaction that the COPYs join (the driver opens it lazily).
    await session.execute(text("SET LOCAL synchronous_commit = off"))
    await staging.copy(session)
