"""Shared benchmark plumbing: throwaway databases, server processes, wrk, RSS, tables."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get(
    "PROREG_BENCH_DATABASE_URL",
    os.environ.get("PROREG_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"),
)
console = Console()
PROREG = [str(Path(sys.executable).parent / "proreg")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _admin(sql: str) -> None:
    url = make_url(PG_URL)
    conn = await asyncpg.connect(
        host=url.host,
        port=url.port or 5432,
        user=url.username,
        password=url.password,
        database=url.database,
    )
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextlib.contextmanager
def scratch_database(prefix: str = "proreg_bench") -> Iterator[str]:
    """A new PostgreSQL database migrated to head; dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    try:
        run_cli(url, "migrate")
        yield url
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def run_cli(database_url: str, *args: str) -> str:
    env = {**os.environ, "PROREG_DATABASE_URL": database_url}
    out = subprocess.run([*PROREG, *args], env=env, cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"proreg {' '.join(args)} failed:\n{out.stderr}")
    return out.stdout


def new_key(database_url: str, role: str, *options: str) -> str:
    """`proreg keys create --role ROLE [options]`: the token, printed on its last line."""
    return run_cli(database_url, "keys", "create", "--role", role, *options).split()[-1]


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def peak_rss_mb(self) -> float:
        """Peak resident memory of the process and its children (uvicorn workers)."""
        pids = [self.process.pid, *_children(self.process.pid)]
        return sum(_vm_hwm_kb(pid) for pid in pids) / 1024

    def cpu_seconds(self) -> float:
        """User + system CPU time so far of the process and its children (uvicorn workers)."""
        pids = [self.process.pid, *_children(self.process.pid)]
        return sum(_cpu_seconds(pid) for pid in pids)


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _vm_hwm_kb(pid: int) -> int:
    with contextlib.suppress(OSError):
        match = re.search(r"VmHWM:\s+(\d+)", Path(f"/proc/{pid}/status").read_text())
        if match:
            return int(match.group(1))
    return 0


_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    """utime + stime from /proc/<pid>/stat (fields 14 and 15, after the parenthesised name)."""
    with contextlib.suppress(OSError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICKS
    return 0.0


def _pg_backends(database: str) -> dict[int, float]:
    """{pid: CPU seconds so far} of the local PostgreSQL backends connected to `database`,
    found by their process title ("postgres: … <user> <database> <client> …")."""
    found = {}
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError, ValueError):
            title = cmdline.read_bytes().split(b"\0")[0].decode(errors="replace").split()
            if title[:1] == ["postgres:"] and database in title[1:]:
                pid = int(cmdline.parent.name)
                found[pid] = _cpu_seconds(pid)
    return found


class PgBackendCpu:
    """CPU seconds spent by the PostgreSQL backends of one database while it runs (a
    context manager). Backends come and go with a pool's overflow connections, so they are
    sampled every 0.2 s and each counts with its last sample."""

    def __init__(self, database: str) -> None:
        self.database, self.seconds = database, 0.0
        self._first: dict[int, float] = {}
        self._last: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample_until_stopped, daemon=True)

    def _sample(self, initial: bool = False) -> None:
        for pid, cpu in _pg_backends(self.database).items():
            # A backend first seen later was opened during the run: all its time counts.
            self._first.setdefault(pid, cpu if initial else 0.0)
            self._last[pid] = cpu

    def _sample_until_stopped(self) -> None:
        while not self._stop.wait(0.2):
            self._sample()

    def __enter__(self) -> PgBackendCpu:
        self._sample(initial=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
        self.seconds = sum(cpu - self._first[pid] for pid, cpu in self._last.items())


@contextlib.contextmanager
def serve(argv: list[str], env: dict[str, str], port: int) -> Iterator[Server]:
    # The server's own output is kept aside, so that a server that fails to start says why.
    log = tempfile.TemporaryFile()  # noqa: SIM115 (closed when the server is)
    process = subprocess.Popen(
        argv, env={**os.environ, **env}, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
    )
    server = Server(process, port)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and process.poll() is None:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(server.base + "/healthz", timeout=1).status_code == 200:
                    break
            time.sleep(0.2)
        else:
            log.seek(0)
            said = log.read().decode(errors="replace")[-3000:]
            raise RuntimeError(f"server did not start: {' '.join(argv)}\n{said}")
        yield server
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@dataclass
class LoadResult:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


def wrk(url: str, script: str, *, seconds: int, connections: int = 32) -> LoadResult:
    """Run wrk with a Lua script; fails loudly if wrk is missing."""
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is required: apt-get install wrk")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script + _REPORT)
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "-s", f.name, url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    os.unlink(f.name)
    data = json.loads(out[out.index("JSON") + 4 :])
    return LoadResult(
        data["requests"], data["seconds"], data["p50"] / 1000, data["p99"] / 1000, data["errors"]
    )


_REPORT = """
done = function(summary, latency, requests)
  local errors = summary.errors.status + summary.errors.connect + summary.errors.read
      + summary.errors.write + summary.errors.timeout
  io.write(string.format(
    'JSON{"requests": %d, "seconds": %f, "p50": %f, "p99": %f, "errors": %d}\\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50),
    latency:percentile(99), errors))
end
"""


def _cpu_ticks() -> list[int]:
    """The machine's CPU time so far by state (the `cpu` line of /proc/stat); [] elsewhere."""
    try:
        with open("/proc/stat") as stat:
            return [int(v) for v in stat.readline().split()[1:]]
    except OSError:
        return []


_ticks_at_last_table = _cpu_ticks()


def machine_note() -> str:
    """Load and stolen CPU on the machine since the previous table.

    On a virtual machine the host may take the CPUs away (`steal` in /proc/stat); a table
    measured while it did is slower for reasons outside the code, and says so.
    """
    global _ticks_at_last_table
    now = _cpu_ticks()
    delta = [b - a for a, b in zip(_ticks_at_last_table, now, strict=False)]
    _ticks_at_last_table = now
    load = " / ".join(f"{v:.1f}" for v in os.getloadavg())
    if len(delta) < 8 or sum(delta) <= 0:
        return f"load average {load}"
    steal, idle = delta[7] / sum(delta), (delta[3] + delta[4]) / sum(delta)
    return f"load average {load}; CPU stolen by the host {steal:.0%}, idle {idle:.0%}"


def table(title: str, columns: list[str], rows: list[list[str]], width: int | None = None) -> None:
    t = Table(title=title)
    for c in columns:
        t.add_column(c, justify="right" if c != columns[0] else "left")
    for r in rows:
        t.add_row(*r)
    out = Console(width=width) if width else console
    out.print(t)
    out.print(f"machine during this table: {machine_note()}", soft_wrap=True)
