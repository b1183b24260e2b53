"""Structured logs: one JSON object per line, an access log per request, nothing sensitive.

Log lines carry ids, prefixes, methods, paths (without query strings) and statuses — never
request bodies, answers, pseudonyms or tokens. Exceptions are logged by type and stack
frames only, because their messages (SQL parameters, validation inputs) can hold data.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
import traceback
from typing import Any

from starlette.types import Scope

from app.middleware import presented_prefix

access_log = logging.getLogger("proreg.access")

# Attributes every LogRecord has; anything else was passed through `extra=`.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "color_message"}


class JsonFormatter(logging.Formatter):
    """Render a record as one JSON object: time, level, logger, message and extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info and record.exc_info[0] is not None:
            exc_type, _, tb = record.exc_info
            entry["exception"] = exc_type.__name__
            entry["frames"] = [
                f"{f.filename}:{f.lineno} in {f.name}" for f in traceback.extract_tb(tb)
            ]
        return json.dumps(entry, default=str)


def log_config(level: str = "INFO") -> dict[str, Any]:
    """`logging.config.dictConfig` settings for `proreg serve`: JSON lines on stderr.

    uvicorn's own access log is switched off: it prints query strings, and the access
    middleware below logs the same request with its id and key prefix instead.
    """
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "app.logs.JsonFormatter"}},
        "handlers": {"default": handler},
        "root": {"handlers": ["default"], "level": level.upper()},
        "loggers": {
            "uvicorn": {"handlers": [], "level": level.upper(), "propagate": True},
            "uvicorn.error": {"handlers": [], "level": level.upper(), "propagate": True},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }


def log_access(scope: Scope, status: int, started: float) -> None:
    """The `proreg.access` line of a request (written by `app.edge`, once per request)."""
    state = scope.get("state", {})
    principal = state.get("principal")
    access_log.info(
        "%s %s %s", scope["method"], scope["path"], status,
        extra={
            "request_id": state.get("request_id"),
            "method": scope["method"],
            "path": scope["path"],
            "status": status,
            "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            "key_prefix": principal.prefix if principal else presented_prefix(scope),
            "role": principal.role if principal else None,
        },
    )  # fmt: skip
