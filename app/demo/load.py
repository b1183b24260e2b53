"""Store a generated cohort through the services' bulk writers, one transaction per chunk.

Patients, infusions and adverse events are validated with the API's own request models;
responses are scored and checked by the intake service and staged by its insert (each
chunk's staged rows then go out by binary COPY, see bulkcopy); amendments and retractions
go through the response service's bulk corrections (a new version, the current columns
updated, an audit event each). The next chunk is generated, validated and scored in a
worker thread while the database writes the current one.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import math
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth import Principal
from app.demo import bulkcopy
from app.demo.generate import DemoPatient, iter_patients
from app.demo.prepare import Chunk, prepare
from app.errors import Conflict
from app.models import Site
from app.services import infusions, intake, keys, patients
from app.services import responses as response_service
from app.services.responses import Correction

DEMO_CALLER = Principal(uuid.UUID(int=0), "demo", "admin", None, None)
CHUNK = 500  # patients per transaction: about 10,000 responses, a few tens of MB in flight


async def _sites(session: AsyncSession, prefix: str, n_sites: int) -> list[uuid.UUID]:
    codes = [f"{prefix}-{j + 1:02d}" for j in range(n_sites)]
    if await session.scalar(select(Site.id).where(Site.code == codes[0])):
        raise Conflict(f"A demo cohort is already loaded (site {codes[0]} exists).")
    return [(await keys.create_site(session, code, f"Demo pain clinic {code}")).id
            for code in codes]  # fmt: skip


async def _store(session: AsyncSession, chunk: Chunk, earlier: list[Correction]) -> None:
    """One transaction: the previous chunk's corrections, then this chunk's records."""
    if earlier:
        await response_service.correct_many(session, DEMO_CALLER, earlier)
    await patients.create_many(session, DEMO_CALLER, chunk.patients)
    await infusions.create_many(session, DEMO_CALLER, chunk.infusions)
    await intake.insert_scored(session, DEMO_CALLER, chunk.responses)
    await bulkcopy.write_staged(session)


def _builder(
    cohort: Iterator[DemoPatient], site_ids: list[uuid.UUID], strata: int
) -> Callable[[int], Chunk | None]:
    def build(stratum: int) -> Chunk | None:
        batch = list(itertools.islice(cohort, CHUNK))
        return prepare(batch, site_ids, stratum, strata) if batch else None

    return build


@contextlib.contextmanager
def _collect_per_chunk() -> Iterator[None]:
    """Cyclic garbage collection once per chunk instead of every 700 allocations.

    A chunk allocates about a million small containers, none in a cycle, all freed by
    reference counting; the collector's automatic passes re-scanned the live ones over and
    over, a third of the loader's CPU. The loop collects explicitly after each chunk.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


async def _store_chunks(
    sessionmaker: async_sessionmaker[Any], build: Callable[[int], Chunk | None],
    on_progress: Callable[[int], None] | None,
) -> int:  # fmt: skip
    """Store chunk k while chunk k + 1 is built in a worker thread; returns the patients."""
    upcoming = asyncio.ensure_future(asyncio.to_thread(build, 0))
    stored, earlier = 0, list[Correction]()
    try:
        for stratum in itertools.count(1):
            chunk = await upcoming
            if chunk is None:
                break
            upcoming = asyncio.ensure_future(asyncio.to_thread(build, stratum))
            async with sessionmaker() as session, session.begin():
                await _store(session, chunk, earlier)
            done, earlier = len(chunk.patients), chunk.corrections
            del chunk  # before collecting: the stored chunk is garbage now
            gc.collect(1)
            stored += done
            if on_progress is not None:
                on_progress(done)
    finally:
        upcoming.cancel()
    if earlier:
        async with sessionmaker() as session, session.begin():
            await response_service.correct_many(session, DEMO_CALLER, earlier)
    return stored


async def load_demo(
    sessionmaker: async_sessionmaker[Any], *, patients: int = 329, sites: int = 30,
    seed: int = 0, prefix: str = "DEMO", on_progress: Callable[[int], None] | None = None,
) -> int:  # fmt: skip
    """Generate and store the cohort, one transaction per chunk of patients.

    Returns the number of patients stored; `on_progress` is told of each stored chunk.
    """
    async with sessionmaker() as session, session.begin():
        site_ids = await _sites(session, prefix, sites)
    build = _builder(iter_patients(patients, sites, seed), site_ids, math.ceil(patients / CHUNK))
    with _collect_per_chunk():
        return await _store_chunks(sessionmaker, build, on_progress)
