"""Batch intake: each item is validated, deduplicated and reported on its own.

Good items are stored together with multi-row inserts in the request's transaction; a bad
item gets the error it would have got alone and never blocks or half-writes the others.
"""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.errors import AppError, Conflict, Unprocessable
from app.schemas.responses import BatchItem, BatchItemResult, BatchResult, ResponseCreate
from app.services import idempotency, intake

_ITEM = TypeAdapter(BatchItem)
ITEM_PATH = "/v1/responses/batch#item"


def _parse(raw: Any) -> tuple[ResponseCreate, str | None]:
    """Validate one item; a BatchItem is a ResponseCreate plus its own idempotency key."""
    try:
        item = _ITEM.validate_python(raw)
    except ValidationError as exc:
        errors = [{"loc": ["body", *map(str, e["loc"])], "msg": e["msg"]} for e in exc.errors()]
        raise Unprocessable("The item failed validation.", errors=errors) from exc
    return item, item.idempotency_key


async def ingest(
    session: AsyncSession, caller: Principal, raw_items: list[Any], request_id: str | None
) -> BatchResult:
    results: dict[int, BatchItemResult] = {}
    scored: dict[int, intake.Scored] = {}
    keys: dict[int, tuple[str, str]] = {}  # index -> (idempotency key, fingerprint)
    for index, raw in enumerate(raw_items):
        try:
            data, key = _parse(raw)
            item = intake.prepare(data)
        except AppError as exc:
            results[index] = _failed(index, exc)
            continue
        scored[index] = item
        if key is not None:
            keys[index] = (key, idempotency.fingerprint("POST", ITEM_PATH, _body_of(raw)))
    await _apply_keys(session, caller, scored, keys, results)
    refs = await intake.load_refs(session, caller, list(scored.values()))
    accepted: list[tuple[int, intake.Scored, uuid.UUID]] = []
    for index, item in scored.items():
        try:
            accepted.append((index, item, intake.check_refs(item, refs)))
        except AppError as exc:
            results[index] = _failed(index, exc)
    await intake.insert_scored(session, caller, [(i, s) for _, i, s in accepted], request_id)
    remembered = []
    for index, item, _ in accepted:
        results[index] = BatchItemResult(index=index, status=201, id=item.id)
        if index in keys:
            body = {"status": 201, "id": str(item.id)}
            remembered.append((*keys[index], idempotency.Stored(201, body, None)))
    idempotency.remember(session, caller, remembered)
    ordered = [results[i] for i in range(len(raw_items))]
    return BatchResult(
        created=sum(r.status == 201 and not r.replayed for r in ordered),
        replayed=sum(r.replayed for r in ordered),
        failed=sum(r.status >= 400 for r in ordered),
        items=ordered,
    )


def _body_of(raw: Any) -> Any:
    return {k: v for k, v in raw.items() if k != "idempotency_key"}


async def _apply_keys(
    session: AsyncSession,
    caller: Principal,
    scored: dict[int, intake.Scored],
    keys: dict[int, tuple[str, str]],
    results: dict[int, BatchItemResult],
) -> None:
    """Replay, reject or hold back items whose key was seen before (or twice in this batch)."""
    if not keys:
        return
    names = [k for k, _ in keys.values()]
    busy, stored = await idempotency.claim(session, caller, names)
    first_in_batch: dict[str, tuple[int, str]] = {}
    for index, (key, fp) in keys.items():
        try:
            if key in busy:
                raise Conflict(idempotency.IN_FLIGHT)
            if key in first_in_batch:
                _, first_fp = first_in_batch[key]
                idempotency.check(key, fp, (first_fp, idempotency.Stored(0, None, None)))
                raise Conflict(f"idempotency_key {key!r} appears twice in this batch.")
            first_in_batch[key] = (index, fp)
            replay = idempotency.check(key, fp, stored.get(key))
        except AppError as exc:
            results[index] = _failed(index, exc)
            del scored[index]
            continue
        if replay is not None:
            results[index] = BatchItemResult(
                index=index, status=replay.status_code, id=replay.body["id"], replayed=True
            )
            del scored[index]
    for index in list(keys):
        if index not in scored:
            del keys[index]


def _failed(index: int, exc: AppError) -> BatchItemResult:
    return BatchItemResult(index=index, status=exc.status, error=intake.item_error(exc))
