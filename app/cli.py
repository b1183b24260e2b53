"""The `proreg` command: serve, migrate, manage sites and API keys."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.config import get_settings
from app.db import make_engine, make_sessionmaker
from app.errors import AppError
from app.logs import log_config
from app.services import audit, idempotency
from app.services import keys as key_service

T = TypeVar("T")
app = typer.Typer(
    help="pro-registry: patient-reported outcomes for pain clinics.", no_args_is_help=True
)
sites_app = typer.Typer(help="Manage sites.", no_args_is_help=True)
keys_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)
app.add_typer(sites_app, name="sites")
app.add_typer(keys_app, name="keys")
err = Console(stderr=True)


def _engine(pool_size: int) -> AsyncEngine:
    """The configured database for a command. Its statements have no time bound: a command's
    work grows with the registry (a bulk load, a whole-registry summary rebuild), and the
    operator who started it can stop it."""
    url = get_settings().database_url
    return make_engine(url, pool_size=pool_size, max_overflow=0, command_timeout=None)


def run_in_session(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run `work` in one committed transaction on the configured database."""

    async def main() -> T:
        engine = _engine(pool_size=1)
        try:
            async with make_sessionmaker(engine)() as session, session.begin():
                return await work(session)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(main())
    except AppError as exc:
        err.print(f"[red]error:[/red] {exc.detail}")
        raise typer.Exit(1) from exc


@app.command()
def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: Annotated[int, typer.Option(min=1)] = 1,
) -> None:
    """Run the HTTP API with uvicorn."""
    import uvicorn

    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=False,
        timeout_graceful_shutdown=30,
        log_config=log_config(get_settings().log_level),
        access_log=False,  # app.edge writes one JSON access line per request instead
    )


@app.command()
def migrate(revision: str = "head") -> None:
    """Apply database migrations (`alembic upgrade head`)."""
    from app.migrations import upgrade

    upgrade(get_settings().database_url, revision)
    err.print(f"database migrated to {revision}")


@sites_app.command("create")
def sites_create(code: str, name: Annotated[str, typer.Option("--name")]) -> None:
    """Create a site with a permanent CODE (A–Z, 0–9, _ and -)."""
    site = run_in_session(lambda s: key_service.create_site(s, code, name))
    typer.echo(f"created site {site.code}")


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option("--role", help="admin, analyst or clinic")],
    site: Annotated[str | None, typer.Option("--site", help="site code (clinic keys)")] = None,
    label: Annotated[str | None, typer.Option("--label")] = None,
    expires_in_days: Annotated[
        int | None, typer.Option("--expires-in-days", min=1, help="the key stops working then")
    ] = None,
) -> None:
    """Create an API key; the token is printed once, alone on the last line."""
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(days=expires_in_days or 0)
    token, key = run_in_session(
        lambda s: key_service.create_key(
            s, role=role, site_code=site, label=label,
            expires_at=expires if expires_in_days else None,
        )
    )  # fmt: skip
    err.print(f"created {key.role} key {key.prefix} (shown once, store it now)")
    typer.echo(token)


@keys_app.command("list")
def keys_list() -> None:
    """List keys: prefix, role, site, label, created, last used, state."""
    rows: list[Any] = list(run_in_session(key_service.list_keys))
    table = Table("prefix", "role", "site", "label", "created", "last used", "state")
    now = dt.datetime.now(dt.UTC)
    for key, site in rows:
        state = "revoked" if key.revoked_at else "active"
        if not key.revoked_at and key.expires_at:
            state = "expired" if key.expires_at <= now else f"expires {key.expires_at:%Y-%m-%d}"
        table.add_row(
            key.prefix, key.role, site or "", key.label or "",
            f"{key.created_at:%Y-%m-%d %H:%M}",
            f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "never", state,
        )  # fmt: skip
    Console().print(table)


@keys_app.command("revoke")
def keys_revoke(prefix: str) -> None:
    """Revoke a key by its prefix; it stops working at once."""
    run_in_session(lambda s: key_service.revoke_key(s, prefix))
    typer.echo(f"revoked {prefix}")


@app.command()
def demo(
    patients: Annotated[int, typer.Option(min=1, max=1_000_000)] = 329,
    sites: Annotated[int, typer.Option(min=1, max=99)] = 30,
    seed: int = 0,
) -> None:
    """Load a synthetic cohort calibrated to the published ketamine study (same seed, same
    cohort), through the same validation and scoring as the API."""
    from rich.progress import Progress

    from app.demo import load_demo
    from app.services.analytics import refresh as summary

    async def main() -> int:
        # Two connections: the analytics summary is refreshed on one of its own.
        engine = _engine(pool_size=2)
        try:
            with Progress(console=err) as progress:
                task = progress.add_task("demo cohort", total=patients)
                stored = await load_demo(
                    make_sessionmaker(engine), patients=patients, sites=sites, seed=seed,
                    on_progress=lambda n: progress.advance(task, n),
                )  # fmt: skip
            # Fresh statistics after a bulk load, so that queries are planned on the real row
            # counts rather than on an empty registry's; then the analytics summary of every
            # loaded patient, so that the first analysis does not pay for it.
            async with engine.begin() as conn:
                await conn.execute(text("ANALYZE"))
            async with make_sessionmaker(engine)() as session:
                await summary.refresh(session)
                await session.commit()
            async with engine.begin() as conn:
                await conn.execute(text("ANALYZE"))
            return stored
        finally:
            await engine.dispose()

    try:
        stored = asyncio.run(main())
    except AppError as exc:
        err.print(f"[red]error:[/red] {exc.detail}")
        raise typer.Exit(1) from exc
    typer.echo(f"loaded {stored} demo patients at {sites} sites (seed {seed})")


@app.command()
def bootstrap() -> None:
    """Prepare a local registry for `make run`: the demo cohort if there is no patient yet,
    a demo site if there is none, and fresh admin, analyst and clinic keys for this run."""
    from app.models import Patient

    if not run_in_session(lambda s: s.scalar(select(func.count()).select_from(Patient))):
        demo(patients=329, sites=30, seed=0)

    async def work(session: AsyncSession) -> list[tuple[str, str]]:
        from app.models import Site

        if not await session.scalar(select(func.count()).select_from(Site)):
            await key_service.create_site(session, "DEMO", "Demo pain clinic")
        site = await session.scalar(select(Site.code).order_by(Site.created_at).limit(1))
        made = []
        for role in ("admin", "analyst", "clinic"):
            token, _ = await key_service.create_key(
                session, role=role, site_code=site if role == "clinic" else None, label="make run"
            )
            made.append((f"{role} ({site})" if role == "clinic" else role, token))
        return made

    for who, token in run_in_session(work):
        typer.echo(f"{who:>16}: {token}")
    typer.echo("API docs: http://127.0.0.1:8000/docs  (Authorize with one of the keys above)")


@app.command("purge-idempotency")
def purge_idempotency(
    older_than_hours: Annotated[
        int | None, typer.Option(min=24, help="default: PROREG_IDEMPOTENCY_RETENTION_HOURS")
    ] = None,
) -> None:
    """Forget Idempotency-Keys past their retention (the server also does this hourly)."""
    hours = older_than_hours or get_settings().idempotency_retention_hours
    removed = run_in_session(lambda s: idempotency.purge(s, older_than=dt.timedelta(hours=hours)))
    typer.echo(f"removed {removed} idempotency key(s) older than {hours} h")


@app.command("audit")
def audit_events(
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    key: Annotated[str | None, typer.Option("--key", help="key prefix")] = None,
    action: Annotated[str | None, typer.Option()] = None,
    resource: Annotated[str | None, typer.Option()] = None,
    resource_id: Annotated[str | None, typer.Option("--id")] = None,
    since_hours: Annotated[float | None, typer.Option(help="only the last N hours")] = None,
) -> None:
    """Show recent audit events, newest first: who did what to which resource, and how it
    ended."""
    since = dt.datetime.now(dt.UTC) - dt.timedelta(hours=since_hours) if since_hours else None
    filters = audit.Filters(key, action, resource, resource_id, since)
    rows, _ = run_in_session(lambda s: audit.search(s, filters, limit=limit))
    table = Table("at", "key", "role", "site", "action", "resource", "id", "outcome", "request")
    for e in rows:
        table.add_row(
            f"{e.at:%Y-%m-%d %H:%M:%S}", e.key_prefix or "-", e.role or "-", e.site_code or "",
            e.action, e.resource, e.resource_id or "", str(e.outcome), e.request_id or "",
        )  # fmt: skip
    Console(width=200).print(table)


KindOption = Annotated[
    str | None, typer.Option(help="patients, infusions or responses (default: from the header).")
]
SiteOption = Annotated[str | None, typer.Option(help="Site code for rows without a `site`.")]
DAY = ["%Y-%m-%d"]


@app.command("import")
def import_file(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    kind: KindOption = None,
    site: SiteOption = None,
) -> None:
    """Bulk-load patients, infusions or responses from CSV (layouts in docs/IMPORT.md): each
    row validated like the API, errors named by line, all or nothing, safe to run twice."""
    from app.services import importer
    from app.services.importer.console import RichProgress, report
    from app.services.importer.layout import KINDS

    if kind is not None and kind not in KINDS:
        raise typer.BadParameter(f"--kind must be one of {', '.join(KINDS)}")
    try:
        with RichProgress(err) as bar:
            summary = run_in_session(
                lambda s: importer.import_file(s, file, bar, kind=kind, site=site)
            )
    except importer.ImportFailed as exc:
        report(err, str(file), exc.errors)
        raise typer.Exit(1) from exc
    typer.echo(
        f"{file}: {summary.rows} {summary.kind} rows, {summary.created} imported, "
        f"{summary.skipped} already present"
    )


@app.command("export")
def export_responses(
    fmt: Annotated[str, typer.Option("--format", help="csv or parquet")] = "csv",
    out: Annotated[Path | None, typer.Option(help="File to write (default: stdout).")] = None,
    site: Annotated[str | None, typer.Option(help="Only this site.")] = None,
    condition: Annotated[str | None, typer.Option(help="Only this condition.")] = None,
    sex: Annotated[str | None, typer.Option(help="Only this sex.")] = None,
    min_infusions: Annotated[int | None, typer.Option(min=0)] = None,
    first_from: Annotated[dt.datetime | None, typer.Option("--from", formats=DAY)] = None,
    first_to: Annotated[dt.datetime | None, typer.Option("--to", formats=DAY)] = None,
) -> None:
    """Write the de-identified row-level export (columns: GET /v1/exports/dictionary)."""
    from app.services.exports.files import export_to

    if fmt not in ("csv", "parquet"):
        raise typer.BadParameter("--format must be csv or parquet")
    days = (d.date() if d else None for d in (first_from, first_to))
    try:
        size = export_to(out, fmt, site, condition, sex, min_infusions, *days)
    except AppError as exc:
        err.print(f"[red]error:[/red] {exc.detail}")
        raise typer.Exit(1) from exc
    err.print(f"exported {size:,} bytes of {fmt}" + (f" to {out}" if out else ""))


@app.command()
def rescore(batch: Annotated[int, typer.Option(min=1, max=5000)] = 500) -> None:
    """Recompute scores of responses scored with an older scoring version; each becomes a
    new version (reason `rescored: old -> new`), never an in-place change."""
    from app.services.rescore import rescore_batch

    total = 0
    while done := run_in_session(lambda s: rescore_batch(s, limit=batch)):
        total += done
    typer.echo(f"rescored {total} response(s)")


def main() -> None:
    app()
