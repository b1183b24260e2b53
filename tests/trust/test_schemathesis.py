"""Schemathesis with every check against the live server, as an admin and as a clinic key.

The API and its OpenAPI document must agree everywhere schemathesis can look: status codes,
content types, headers, response schemas, rejection of invalid input, acceptance of valid
input, authentication, methods. The run is bounded (examples per operation, fixed seed) so
that it stays within the test suite's budget; set PROREG_SCHEMATHESIS_SEED to explore.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.trust.conftest import Live

pytestmark = pytest.mark.slow
SCHEMATHESIS = str(Path(sys.executable).parent / "schemathesis")
CONFIG = Path(__file__).with_name("schemathesis.toml")
SEED = os.environ.get("PROREG_SCHEMATHESIS_SEED", "20261125")


def run(live: Live, token: str, workdir: Path) -> subprocess.Popen[str]:
    workdir.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [SCHEMATHESIS, "--config-file", str(CONFIG), "run",
         f"{live.server.base_url}/openapi.json", "--checks", "all",
         "-H", f"Authorization: Bearer {token}", "--max-examples", "10",
         "--seed", SEED, "--workers", "2", "--no-color"],
        cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def test_schemathesis_finds_nothing(live: Live, tmp_path: Path) -> None:
    # Both keys at once: the runs share nothing but the server, and halve the wall time.
    runs = {who: run(live, token, tmp_path / who)
            for who, token in (("admin", live.admin), ("clinic", live.clinic))}  # fmt: skip
    failed = {}
    for who, proc in runs.items():
        out, _ = proc.communicate(timeout=600)
        if proc.returncode != 0:
            failed[who] = out[out.find("=== FAILURES") :] or out
    assert not failed, "\n\n".join(f"--- as {who} ---\n{out}" for who, out in failed.items())
