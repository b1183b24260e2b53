"""A real uvicorn process (as `proreg serve` runs it) on its own database, for tests."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from app.logs import log_config
from app.services import keys
from tests.support import create_database, drop_database, run_db

PG_URL = os.environ.get("PROREG_TEST_DATABASE_URL")
BACKENDS = ["sqlite", *(["postgresql"] if PG_URL else [])]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def new_database(backend: str, tmp: Path) -> str:
    """A fresh database migrated by the real Alembic migrations."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp / f'live-{uuid.uuid4().hex[:8]}.db'}"
        return asyncio.run(create_database(url))
    assert PG_URL is not None
    return asyncio.run(create_database(PG_URL, name=f"proreg_live_{uuid.uuid4().hex[:10]}"))


def dispose_database(url: str) -> None:
    if url.startswith("postgresql"):
        asyncio.run(drop_database(url))


def make_key(url: str, role: str, site: str | None = None, **extra: Any) -> str:
    token, _ = run_db(
        url, lambda s: keys.create_key(s, role=role, site_code=site, label="live", **extra)
    )
    return str(token)


def make_site(url: str) -> str:
    code = f"L-{uuid.uuid4().hex[:8].upper()}"
    run_db(url, lambda s: keys.create_site(s, code, f"Site {code}"))
    return code


@dataclass
class Server:
    """One server process; restartable on the same database and port."""

    database_url: str
    log_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    runs: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"server-{self.port}-{self.runs}.log"

    def start(self) -> Server:
        self.runs += 1
        env = {**os.environ, "PROREG_DATABASE_URL": self.database_url,
               "PROREG_RATE_LIMIT_PER_MINUTE": "0", **self.env}  # fmt: skip
        config = self.log_dir / "log-config.json"
        config.write_text(json.dumps(log_config("INFO")))
        log = self.log_path.open("wb")
        # The options `proreg serve` passes to uvicorn.run.
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory",
             "--host", "127.0.0.1", "--port", str(self.port), "--no-access-log",
             "--log-config", str(config), "--timeout-graceful-shutdown", "30"],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        log.close()
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log_path.read_text()}")
            try:
                if httpx.get(self.base_url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server did not start:\n{self.log_path.read_text()}")

    def signal(self, sig: signal.Signals) -> int:
        """Send `sig` and wait for the process to end; returns its exit code."""
        assert self.proc is not None
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=60)
        self.proc = None
        return code

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.signal(signal.SIGTERM)
        self.proc = None

    def logs(self) -> str:
        return "".join(
            (self.log_dir / f"server-{self.port}-{i}.log").read_text()
            for i in range(1, self.runs + 1)
        )

    def client(self, token: str | None = None, **kw: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=60, **kw)

    def async_client(self, token: str | None = None, **kw: Any) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=60, **kw)
