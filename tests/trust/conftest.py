"""Fixtures for real-process tests: a live server on a fresh database per backend."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.trust.live import BACKENDS, Server, dispose_database, make_key, make_site, new_database


@dataclass
class Live:
    """A running server and the keys to talk to it."""

    server: Server
    database_url: str
    backend: str
    admin: str
    analyst: str
    clinic: str
    site: str

    def new_clinic(self) -> tuple[str, str]:
        """(site code, clinic token) of a brand-new site."""
        site = make_site(self.database_url)
        return site, make_key(self.database_url, "clinic", site)


def start_live(backend: str, tmp: Path, **env: str) -> Live:
    url = new_database(backend, tmp)
    site = make_site(url)
    server = Server(url, tmp, env=env).start()
    return Live(
        server=server,
        database_url=url,
        backend=backend,
        admin=make_key(url, "admin"),
        analyst=make_key(url, "analyst"),
        clinic=make_key(url, "clinic", site),
        site=site,
    )


@pytest.fixture(scope="module", params=BACKENDS)
def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Live]:
    """One server per test module and backend; tests isolate by creating their own sites."""
    running = start_live(request.param, tmp_path_factory.mktemp("live"))
    try:
        yield running
    finally:
        running.server.stop()
        dispose_database(running.database_url)
