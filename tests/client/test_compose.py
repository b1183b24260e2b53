"""docker-compose.yml, checked structurally (no Docker engine is needed to run the suite)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())  # type: ignore[no-any-return]


def test_compose_declares_the_api_and_postgresql_15() -> None:
    services = _compose()["services"]
    assert {"api", "db"} <= set(services)
    assert re.fullmatch(r"postgres:15(\.\d+)?(-\w+)?", services["db"]["image"])
    assert services["api"]["build"] in (".", {"context": "."})
    assert (ROOT / "Dockerfile").is_file()


def test_every_service_has_a_healthcheck_and_the_api_waits_for_the_database() -> None:
    services = _compose()["services"]
    for name, service in services.items():
        check = service.get("healthcheck", {})
        assert check.get("test"), f"{name} has no healthcheck"
    assert services["api"]["depends_on"]["db"]["condition"] == "service_healthy"
    assert "/readyz" in " ".join(services["api"]["healthcheck"]["test"])


def test_the_api_is_configured_through_proreg_variables_without_baked_secrets() -> None:
    compose = _compose()
    env = compose["services"]["api"]["environment"]
    url = env["PROREG_DATABASE_URL"]
    assert url.startswith("postgresql://")
    assert "@db:5432/" in url
    password = compose["services"]["db"]["environment"]["POSTGRES_PASSWORD"]
    assert password.startswith("${"), "the password comes from the environment"
    volumes = compose["services"]["db"].get("volumes", [])
    assert any(v.endswith(":/var/lib/postgresql/data") for v in volumes)
    assert set(compose.get("volumes", {})) >= {v.split(":")[0] for v in volumes}
