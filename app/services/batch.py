"""Batch intake: each item is validated, deduplicated and reported on its own.

Good items are stored together in the request's transaction (binary COPY on PostgreSQL,
multi-row INSERTs on SQLite); a bad item gets the error it would have got alone and never
blocks or half-writes the others.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import orjson
from pydantic import TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.errors import AppError, Conflict, Unprocessable
from app.schemas.responses import BatchItem
from app.services import idempotency, intake, staging

_ITEM = TypeAdapter(BatchItem)
_ITEMS = TypeAdapter(list[BatchItem])
ITEM_PATH = "/v1/responses/batch#item"


def _parse(raw: Any) -> BatchItem | AppError:
    """Validate one item; a BatchItem is a ResponseCreate plus its own idempotency key."""
    try:
        return _ITEM.validate_python(raw)
    except ValidationError as exc:
        errors = [{"loc": ["body", *map(str, e["loc"])], "msg": e["msg"]} for e in exc.errors()]
        return Unprocessable("The item failed validation.", errors=errors)


def _validated(raw_items: list[Any]) -> list[BatchItem | AppError]:
    """Every item validated: in one call when all are valid (the usual case), else item by
    item, so that each bad item gets the errors it would have got alone."""
    try:
        return list(_ITEMS.validate_python(raw_items))
    except ValidationError:
        return [_parse(raw) for raw in raw_items]


async def ingest(
    session: AsyncSession, caller: Principal, raw_items: list[Any], request_id: str | None
) -> bytes:
    """Judge, store and report every item; returns the BatchResult's JSON text."""
    results: dict[int, dict[str, Any]] = {}
    scored: dict[int, intake.Scored] = {}
    keys: dict[int, tuple[str, str]] = {}  # index -> (idempotency key, fingerprint)
    for index, (raw, data) in enumerate(zip(raw_items, _validated(raw_items), strict=True)):
        try:
            if isinstance(data, AppError):
                raise data
            item = intake.prepare(data)
        except AppError as exc:
            results[index] = _failed(index, exc)
            continue
        scored[index] = item
        if data.idempotency_key is not None:
            keys[index] = (data.idempotency_key, _fingerprint(_body_of(raw)))
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
        results[index] = {"index": index, "status": 201, "id": item.id}
        if index in keys:
            body = {"status": 201, "id": str(item.id)}
            remembered.append((*keys[index], idempotency.Stored(201, body, None)))
    idempotency.remember(session, caller, remembered)
    await staging.copy(session)  # PostgreSQL: binary COPY now; SQLite: INSERTs at commit
    return _rendered([results[i] for i in range(len(raw_items))])


def _rendered(ordered: list[dict[str, Any]]) -> bytes:
    """The BatchResult as JSON text, every field present in the model's order. Written
    directly: validating a thousand results into models and serializing them back cost
    several times more."""
    items = [
        {"index": r["index"], "status": r["status"], "id": r.get("id"),
         "replayed": r.get("replayed", False), "error": r.get("error")}
        for r in ordered
    ]  # fmt: skip
    return orjson.dumps(
        {
            "created": sum(1 for r in items if r["status"] == 201 and not r["replayed"]),
            "replayed": sum(1 for r in items if r["replayed"]),
            "failed": sum(1 for r in items if r["status"] >= 400),
            "items": items,
        },
        default=str,
    )


_SCALARS = frozenset({str, int, bool, type(None)})


def _plain(value: Any) -> bool:
    """True when the value holds only strings, integers, booleans, nulls, objects and
    arrays: no floats, which json and orjson write differently (1e-07 / 1e-7)."""
    for v in value.values() if type(value) is dict else value:
        kind = type(v)
        if kind in _SCALARS:
            continue
        if (kind is dict or kind is list) and _plain(v):
            continue
        return False
    return True


def _fingerprint(body: dict[str, Any]) -> str:
    """`idempotency.fingerprint("POST", ITEM_PATH, body)`, several times faster.

    orjson with sorted keys writes the same canonical text as the json module does there
    when the text is ASCII without DEL (json escapes both) and the body holds no floats and
    no integers beyond 64 bits (orjson refuses those); that covers every valid item. Any
    other body takes the json module's path itself.
    """
    try:
        text = orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # orjson.JSONEncodeError: an integer beyond 64 bits, say
        return idempotency.fingerprint("POST", ITEM_PATH, body)
    if not text.isascii() or b"\x7f" in text or not _plain(body):
        return idempotency.fingerprint("POST", ITEM_PATH, body)
    return hashlib.sha256(_FINGERPRINT_PREFIX + text).hexdigest()


_FINGERPRINT_PREFIX = f"POST {ITEM_PATH}\n".encode()


def _body_of(raw: Any) -> Any:
    return {k: v for k, v in raw.items() if k != "idempotency_key"}


async def _apply_keys(
    session: AsyncSession,
    caller: Principal,
    scored: dict[int, intake.Scored],
    keys: dict[int, tuple[str, str]],
    results: dict[int, dict[str, Any]],
) -> None:
    """Replay, reject or hold back items whose key was seen before (or twice in this batch)."""
    if not keys:
        return
    names = [k for k, _ in keys.values()]
    busy, stored = await idempotency.claim(session, caller, names, until_commit=True)
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
            results[index] = {
                "index": index, "status": replay.status_code, "id": replay.body["id"],
                "replayed": True,
            }  # fmt: skip
            del scored[index]
    for index in list(keys):
        if index not in scored:
            del keys[index]


def _failed(index: int, exc: AppError) -> dict[str, Any]:
    return {"index": index, "status": exc.status, "error": intake.item_error(exc)}
