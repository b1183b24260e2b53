"""Query parameters shared by list endpoints."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query

Limit = Annotated[int, Query(ge=1, le=500, description="Page size (at most 500).")]
Cursor = Annotated[
    str | None, Query(max_length=512, description="`next_cursor` of the previous page.")
]

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing, unknown, revoked or expired API key (problem+json)"},
    403: {"description": "The key's role may not do this (problem+json)"},
    422: {"description": "Invalid input; `errors` lists each problem (problem+json)"},
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "Missing, or belongs to another site (problem+json)"}
}
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"description": "Conflicts with current state or an in-flight retry"}
}
