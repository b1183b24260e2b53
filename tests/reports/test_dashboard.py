"""The dashboard: cookie sign-in, charts in the DOM, suppression, and a headless Chromium render."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq
from fastapi.testclient import TestClient

from tests.reports.conftest import Cohort
from tests.support import Api, Registry

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHARTS = ("trajectory", "infusion-deltas", "responders", "adverse-events")
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
)  # fmt: skip


def _post_login(client: TestClient, token: str, **kw: Any) -> httpx.Response:
    """POST the sign-in form, leaving the shared client's cookie jar as it was."""
    try:
        return client.post("/dashboard/login", data={"key": token}, follow_redirects=False, **kw)
    finally:
        client.cookies.clear()


def _signed_in(client: TestClient, key: Api) -> dict[str, str]:
    """Headers of a browser holding the dashboard cookie of `key`."""
    r = _post_login(client, key.token)
    assert r.status_code == 303, r.text
    return {"Cookie": f"proreg_dashboard={r.cookies['proreg_dashboard']}"}


def test_sign_in_sets_a_strict_httponly_cookie(registry: Registry, analyst: Api) -> None:
    client = registry.client
    assert client.get("/dashboard", follow_redirects=False).headers["location"] == (
        "/dashboard/login"
    )
    r = _post_login(client, analyst.token)
    cookie = r.headers["set-cookie"]
    assert r.status_code == 303
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Path=/dashboard" in cookie


def test_keys_that_may_not_view_are_refused(registry: Registry, clinic: Api) -> None:
    client = registry.client
    assert _post_login(client, clinic.token).status_code == 403
    assert _post_login(client, "prg_nope").status_code == 401
    other = _post_login(client, "x", headers={"Origin": "https://elsewhere.example"})
    assert other.status_code == 403
    r = client.get("/dashboard", params={"key": clinic.token}, follow_redirects=False)
    assert r.status_code == 303, "a key in the query string is never accepted"


def _page(cohort: Cohort, registry: Registry, analyst: Api, **params: str) -> str:
    cookie = _signed_in(registry.client, analyst)
    query = {"site": cohort.site, "condition": "", **params}
    r = registry.client.get("/dashboard", params=query, headers=cookie)
    assert r.status_code == 200, r.text
    assert "script-src" not in r.headers["content-security-policy"]
    assert "<script" not in r.text
    return r.text


def test_dashboard_draws_every_chart(cohort: Cohort, registry: Registry, analyst: Api) -> None:
    page = _page(cohort, registry, analyst)
    for chart in CHARTS:
        assert f'data-chart="{chart}"' in page
    for stratum in ("Depressed", "Not depressed"):
        assert f'class="ci-band" data-series="{stratum}"' in page
        assert f'class="series" data-series="{stratum}"' in page
    assert page.count('class="bar"') >= 3
    assert f'value="{cohort.site}"' in page
    assert 'data-table="table1"' in page


def test_suppressed_cells_are_marked_not_drawn(
    small_cohort: Cohort, registry: Registry, analyst: Api
) -> None:
    page = _page(small_cohort, registry, analyst)
    assert 'class="suppressed-mark"' in page
    assert 'class="series"' not in page
    assert 'class="ci-band"' not in page
    assert 'class="point"' not in page
    assert "suppressed" in page


def test_dashboard_download_is_the_export(cohort: Cohort, registry: Registry, analyst: Api) -> None:
    cookie = _signed_in(registry.client, analyst)
    r = registry.client.get(
        "/dashboard/export.parquet", params={"site": cohort.site}, headers=cookie
    )
    assert r.status_code == 200
    assert r.content[:4] == b"PAR1"
    direct = analyst.get("/v1/exports/responses.parquet", params={"site": cohort.site})
    assert pq.read_table(io.BytesIO(r.content)).equals(pq.read_table(io.BytesIO(direct.content)))


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    assert path, "Debian's chromium is required (.ci/run installs it)"
    return path


def test_dashboard_renders_in_headless_chromium(
    cohort: Cohort, registry: Registry, analyst: Api, tmp_path: Path, database_url: str
) -> None:
    # The page is self-contained (inline SVG and CSS, no script, no external asset), so the
    # HTML served to the signed-in browser renders the same from a file.
    page = _page(cohort, registry, analyst)
    backend = database_url.split(":", 1)[0]
    ARTIFACTS.mkdir(exist_ok=True)
    html = ARTIFACTS / f"dashboard-{backend}.html"
    html.write_text(page, encoding="utf-8")
    shot = ARTIFACTS / f"dashboard-{backend}.png"
    shot.unlink(missing_ok=True)
    base = [_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run(
        [*base, "--dump-dom", html.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    for chart in CHARTS:
        assert re.search(rf'<svg class="chart" data-chart="{chart}"', dom), chart
    assert len(re.findall(r'<path class="series"', dom)) >= 2
    assert len(re.findall(r'<polygon class="ci-band"', dom)) >= 2
    subprocess.run(
        [*base, f"--screenshot={shot}", "--window-size=1400,2000", html.as_uri()],
        capture_output=True, timeout=120, check=True,
    )  # fmt: skip
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
