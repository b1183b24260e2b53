"""Test harness: every test runs against a database built by the real Alembic migrations,
on SQLite and — when PROREG_TEST_DATABASE_URL is set — again on PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from tests.support import Api, Registry, create_database, drop_database

PG_URL = os.environ.get("PROREG_TEST_DATABASE_URL")
BACKENDS = ["sqlite", *(["postgresql"] if PG_URL else [])]


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A fresh, migrated database per backend for the whole session."""
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("db") / "proreg.db"
        url = f"sqlite:///{path}"
        asyncio.run(create_database(url))
        yield url
        return
    assert PG_URL is not None
    url = asyncio.run(create_database(PG_URL, name=f"proreg_test_{uuid.uuid4().hex[:10]}"))
    yield url
    asyncio.run(drop_database(url))


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, rate_limit_per_minute=0, min_cell=11)


@pytest.fixture(scope="session")
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(scope="session")
def registry(client: TestClient, database_url: str) -> Registry:
    return Registry(client, database_url)


@pytest.fixture
def admin(registry: Registry) -> Api:
    return registry.admin


@pytest.fixture
def analyst(registry: Registry) -> Api:
    return registry.analyst


@pytest.fixture
def clinic(registry: Registry) -> Api:
    """A clinic key of a brand-new site, so tests never see each other's data."""
    return registry.new_clinic()


@pytest.fixture
def other_clinic(registry: Registry) -> Api:
    return registry.new_clinic()
