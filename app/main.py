"""Application factory: routers, middleware, error handlers and the database lifespan."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from app import __version__
from app.config import Settings, get_settings
from app.db import make_engine, make_sessionmaker
from app.edge import Edge
from app.errors import install_error_handlers
from app.fhir import outcome as fhir_outcome
from app.idempotent import Replay, render_replay
from app.middleware import AuditTrail
from app.routers import (
    analytics,
    audit,
    dashboard,
    exports,
    fhir,
    health,
    infusions,
    instruments,
    patients,
    reports,
    responses,
    sites,
)
from app.services import idempotency

DESCRIPTION = """
Collects patient-reported outcomes (NRS pain, HADS) around ketamine infusions in a network
of pain clinics, and turns them into reproducible statistics.

* **Auth**: `Authorization: Bearer <API key>`; roles `admin`, `analyst`, `clinic`. A clinic
  key sees only its own site: another site's resource answers 404 exactly like a missing one.
* **Errors**: RFC 9457 `application/problem+json`; 422 bodies list each problem in `errors`.
* **Retries**: send `Idempotency-Key` on every POST; a retry replays the first result.
* **History**: nothing is overwritten or deleted; amendments and retractions add versions.
"""

# Sections of the API reference, in reading order for an integrator.
OPENAPI_TAGS = [
    {"name": "patients", "description": "Register patients under the clinic's pseudonym; "
     "edits are versioned. A clinic key sees only its own site."},
    {"name": "infusions", "description": "Ketamine administrations (numbered by start time) "
     "and their adverse events."},
    {"name": "responses", "description": "Questionnaire submissions (NRS pain, HADS): single, "
     "batch, amend and retract. Scores are computed on intake; nothing is overwritten."},
    {"name": "instruments", "description": "What each questionnaire asks (item codes, ranges, "
     "scoring, bands, LOINC/SNOMED codes)."},
    {"name": "fhir", "description": "HL7 FHIR R4 Questionnaire and QuestionnaireResponse."},
    {"name": "analytics", "description": "Cohort statistics with 95 % CIs and tests, "
     "reproducible with `as_of`; small cells suppressed."},
    {"name": "reports", "description": "Table 1 as a paper prints it, in JSON or HTML."},
    {"name": "exports", "description": "De-identified row-level data (Safe Harbor shape) as "
     "CSV or Parquet, and the data dictionary. Admin and analyst keys."},
    {"name": "sites", "description": "Clinics of the network (admin)."},
    {"name": "audit", "description": "Who did what, when (admin)."},
    {"name": "ops", "description": "Liveness and readiness probes (no key needed)."},
]  # fmt: skip


# Objects allocated per request before the cyclic collector runs. CPython's default (700)
# made the collector run every few requests, each time walking every object the process
# holds; most request objects are freed by reference counting anyway.
GC_GEN0_THRESHOLD = 20_000


def _tune_gc() -> None:
    """Keep the ~135,000 objects of a started application (modules, routes, schemas) out of
    the cyclic garbage collector's full passes, which otherwise walk all of them again and
    again (a 1,000-item batch allocates enough to trigger several; they were a third of its
    CPU), and let the collector run less often: about a tenth of a millisecond per request at
    1,000 requests/s. The objects stay alive as before. Once per process (a server process
    starts one application; a test run starts many)."""
    if gc.get_freeze_count() == 0:
        gc.collect()
        gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(max(GC_GEN0_THRESHOLD, gc.get_threshold()[0]), gen1, gen2)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(
            settings.database_url,
            pool_size=settings.pool_size,
            max_overflow=settings.pool_max_overflow,
            command_timeout=settings.db_command_timeout,
            pool_timeout=settings.pool_timeout,
        )
        app.state.engine = engine
        # Exports read the whole cohort through one cursor, whose first fetch waits while the
        # database joins and orders every row: that grows with the registry, so their
        # connections have no per-statement bound (the download paces them instead).
        app.state.stream_engine = (
            engine
            if engine.dialect.name != "postgresql"
            else make_engine(
                settings.database_url,
                pool_size=1,
                max_overflow=settings.pool_max_overflow,
                command_timeout=None,
                pool_timeout=settings.pool_timeout,
            )
        )
        app.state.sessionmaker = make_sessionmaker(engine)
        # Single submissions on PostgreSQL (app/submit.py) hold a connection for one
        # statement; past the pool's size they would open and close overflow connections
        # (a TLS attempt and authentication each) instead of waiting a moment for one, and
        # past a few per database core they only slow each other down there.
        slots = min(settings.pool_size, settings.submit_concurrency)
        app.state.submit_slots = asyncio.Semaphore(slots)
        purger = idempotency.start_purging(app.state.sessionmaker, settings)
        _tune_gc()
        try:
            yield
        finally:
            purger.cancel()
            await app.state.stream_engine.dispose()
            await engine.dispose()

    app = FastAPI(
        title="pro-registry",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_tags=OPENAPI_TAGS,
        # operationIds are the handler names (create_patient, …): what generated clients call.
        generate_unique_id_function=lambda route: route.name,
    )
    app.state.settings = settings
    install_error_handlers(app)
    app.add_exception_handler(Replay, render_replay)
    fhir_outcome.install(app)  # last: /fhir paths answer OperationOutcome
    routers = (health, sites, patients, infusions, responses, instruments, fhir, analytics)
    for module in (*routers, exports, reports, dashboard):
        app.include_router(module.router)
    app.include_router(audit.router)
    app.add_middleware(AuditTrail)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PATCH"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key"],
        )
    # Outermost: request id and security headers, access log, rate limit, body limit.
    app.add_middleware(
        Edge,
        max_bytes=settings.max_body_bytes,
        per_minute=settings.rate_limit_per_minute,
        burst=settings.rate_limit_burst,
    )
    return app
