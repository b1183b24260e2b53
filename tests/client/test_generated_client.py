"""A Python client generated from /openapi.json (openapi-python-client) round-trips a submission."""

from __future__ import annotations

import datetime as dt
import importlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.support import Api

PACKAGE = "pro_registry_client"


class ThroughTestClient(httpx.BaseTransport):
    """Send the generated client's requests through the app's running TestClient."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        r = self.client.send(request)
        return httpx.Response(r.status_code, headers=r.headers, content=r.content)


@pytest.fixture(scope="module")
def generated(client: TestClient, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """Generate the client from the served spec into a temp dir and import it."""
    out = tmp_path_factory.mktemp("generated")
    spec = out / "openapi.json"
    spec.write_text(json.dumps(client.get("/openapi.json").json()))
    tool = Path(sys.executable).parent / "openapi-python-client"
    env = {**os.environ, "PATH": f"{tool.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run(
        [str(tool), "generate", "--path", str(spec), "--output-path", str(out / PACKAGE),
         "--meta", "none"],
        capture_output=True, text=True, timeout=300, env=env, cwd=out,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    sys.path.insert(0, str(out))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(out))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def _module(name: str) -> Any:
    return importlib.import_module(f"{PACKAGE}.{name}")


def _client(generated: ModuleType, api: Api) -> Any:
    authed = generated.AuthenticatedClient(base_url="http://testserver", token=api.token)
    transport = ThroughTestClient(api.client)
    authed.set_httpx_client(
        httpx.Client(base_url="http://testserver", transport=transport,
                     headers={"Authorization": f"Bearer {api.token}"})
    )  # fmt: skip
    return authed


def test_generated_client_round_trips_a_submission(generated: ModuleType, clinic: Api) -> None:
    models = _module("models")
    client = _client(generated, clinic)
    patient = _module("api.patients.create_patient").sync(
        client=client,
        body=models.PatientCreate(
            pseudonym=f"GEN-{uuid.uuid4().hex[:8]}", birth_year=1968, sex=models.Sex.FEMALE,
            conditions=[models.Condition.FIBROMYALGIA], enrolled_on=dt.date(2024, 1, 10),
        ),
        idempotency_key=str(uuid.uuid4()),
    )  # fmt: skip
    assert isinstance(patient, models.PatientRead)
    assert patient.site == clinic.site
    answers = models.ResponseCreateAnswers.from_dict({f"hads_{i}": i % 4 for i in range(1, 15)})
    created = _module("api.responses.create_response").sync(
        client=client,
        body=models.ResponseCreate(
            patient_id=patient.id, instrument="hads", timepoint=models.Timepoint.BASELINE,
            collected_at=dt.datetime(2024, 1, 15, 10, 0, tzinfo=dt.UTC), answers=answers,
        ),
    )  # fmt: skip
    assert isinstance(created, models.ResponseRead)
    read = _module("api.responses.get_response").sync(client=client, response_id=created.id)
    assert isinstance(read, models.ResponseRead)
    assert read.id == created.id
    assert read.version == 1
    assert read.status == models.ResponseStatus.COMPLETED
    odd = sum(i % 4 for i in range(1, 15, 2))
    assert read.scores.to_dict()["hads_anxiety"] == odd
    assert read.answers.to_dict() == answers.to_dict()


def test_generated_client_reports_problems(generated: ModuleType, clinic: Api) -> None:
    detailed = _module("api.patients.get_patient").sync_detailed(
        client=_client(generated, clinic), patient_id=uuid.uuid4()
    )
    assert detailed.status_code == 404
    assert json.loads(detailed.content)["status"] == 404
