"""Query parameters and documented error responses shared by the routers."""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

import orjson
from fastapi import Query, Request, Response
from fastapi.routing import APIRoute

from app.errors import PROBLEM_JSON

Limit = Annotated[int, Query(ge=1, le=500, description="Page size (at most 500).")]
Cursor = Annotated[
    str | None, Query(max_length=512, description="`next_cursor` of the previous page.")
]


# RFC 9457 problem details, the body of every error; 422s add `errors`, one per problem.
PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["loc", "msg"],
                "properties": {
                    "loc": {"type": "array", "items": {"type": "string"}},
                    "msg": {"type": "string"},
                    "type": {"type": ["string", "null"]},
                },
            },
        },
    },
}


def problem_response(description: str, **headers: str) -> dict[str, Any]:
    """An OpenAPI response entry for a problem+json error (optionally with headers)."""
    entry: dict[str, Any] = {
        "description": description,
        "content": {PROBLEM_JSON: {"schema": PROBLEM_SCHEMA}},
    }
    if headers:
        entry["headers"] = {
            name: {"description": text, "schema": {"type": "string"}}
            for name, text in headers.items()
        }
    return entry


RETRY_AFTER = "Seconds to wait before retrying."
ERRORS: dict[int | str, dict[str, Any]] = {
    401: problem_response("Missing, unknown, revoked or expired API key"),
    403: problem_response("The key's role may not do this"),
    413: problem_response("Request body over the size limit (1 MiB by default)"),
    422: problem_response("Invalid input; `errors` lists each problem"),
    429: problem_response("This API key's rate limit is spent", **{"Retry-After": RETRY_AFTER}),
    503: problem_response(
        "The database is unreachable, or busy past `PROREG_POOL_TIMEOUT`",
        **{"Retry-After": RETRY_AFTER},
    ),
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: problem_response("Missing, or belongs to another site")
}
IN_FLIGHT = "Conflicts with current state, or a retry with this Idempotency-Key is in flight"
CONFLICT: dict[int | str, dict[str, Any]] = {409: problem_response(IN_FLIGHT)}


def links(status: int, source: str = "id", **targets: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI links from a created resource's `source` field to the operations that take it.

    `targets` maps a link name to "METHOD /path/{param}"; clients and test generators follow
    them from a POST's answer to the next call.
    """
    entries = {}
    for name, target in targets.items():
        method, path = target.split(" ", 1)
        param = path[path.rindex("{") + 1 : path.rindex("}")]
        pointer = path.replace("~", "~0").replace("/", "~1")
        entries[name] = {
            "operationRef": f"#/paths/{pointer}/{method.lower()}",
            "parameters": {param: f"$response.body#/{source}"},
        }
    return {status: {"links": entries}}


# Digits become NUL bytes (which a JSON text holds only escaped): a run of 19 is then a
# substring search, about a tenth of a regular expression's cost on a 1,000-item body.
_DIGITS = bytes.maketrans(b"0123456789", bytes(10))
_LONG_NUMBER = bytes(19)


def orjson_loads(body: bytes) -> Any:
    """orjson's parse of a body the json module would read to the same values; raises
    orjson.JSONDecodeError for any other. orjson reads integers beyond 64 bits as floats,
    the json module as integers: a body with a run of 19 digits or more is refused here, as
    is what orjson itself refuses (NaN, lone surrogates, a BOM, UTF-16)."""
    if _LONG_NUMBER in body.translate(_DIGITS):
        raise orjson.JSONDecodeError("long number", "", 0)
    return orjson.loads(body)


class _FastJSONRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                self._json = orjson_loads(body)
            except orjson.JSONDecodeError:
                # The json module's reading or its own error, exactly as without this class.
                self._json = json.loads(body)
        return self._json


class FastJSONRoute(APIRoute):
    """A route whose JSON body is parsed with orjson: for the 1,000-item batch, parsing
    with the json module cost more CPU than storing an item. A body orjson refuses goes
    to the json module, so what is accepted, and every error, stays the same."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def parse_with_orjson(request: Request) -> Response:
            return await handler(_FastJSONRequest(request.scope, request.receive))

        return parse_with_orjson
