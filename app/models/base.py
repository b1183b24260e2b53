"""Declarative base bound to the naming-convention metadata."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy.orm import DeclarativeBase

from app.db import UTCDateTime, metadata


def new_id() -> uuid.UUID:
    return uuid.uuid4()


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    metadata = metadata
    type_annotation_map = {dt.datetime: UTCDateTime()}  # noqa: RUF012
