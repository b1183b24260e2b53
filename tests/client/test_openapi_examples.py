"""The OpenAPI examples: present on every body, valid for their model, and working requests."""

from __future__ import annotations

import inspect
import uuid
from typing import Any

import pytest
from pydantic import BaseModel

from app.schemas import clinical, exports, reports, responses
from tests.support import Api


def _spec(api: Api) -> dict[str, Any]:
    return api.client.get("/openapi.json").json()  # type: ignore[no-any-return]


def _body_schemas(spec: dict[str, Any]) -> set[str]:
    """Names of the component schemas used as a request body or a 2xx JSON response."""
    names = set()
    for ops in spec["paths"].values():
        for op in ops.values():
            contents = [op.get("requestBody", {}).get("content", {})]
            contents += [r.get("content", {}) for code, r in op["responses"].items()
                         if code.startswith("2")]  # fmt: skip
            for content in contents:
                ref = content.get("application/json", {}).get("schema", {}).get("$ref")
                if ref:
                    names.add(ref.rsplit("/", 1)[-1])
    return names


def test_every_json_body_model_has_an_example(admin: Api) -> None:
    spec = _spec(admin)
    schemas = spec["components"]["schemas"]
    missing = sorted(n for n in _body_schemas(spec) if not schemas[n].get("examples"))
    assert missing in ([], ["Page_AuditEventRead_"]), missing


def _models() -> list[type[BaseModel]]:
    found = []
    for module in (clinical, responses, exports, reports):
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, BaseModel) and cls.__module__ == module.__name__:
                found.append(cls)
    return found


@pytest.mark.parametrize("model", _models(), ids=lambda m: m.__name__)
def test_examples_validate_against_their_model(model: type[BaseModel]) -> None:
    extra = model.model_config.get("json_schema_extra")
    examples = extra.get("examples", []) if isinstance(extra, dict) else []
    for example in examples:
        model.model_validate(example)


def _example(spec: dict[str, Any], path: str) -> dict[str, Any]:
    body = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
    name = body["$ref"].rsplit("/", 1)[-1]
    return dict(spec["components"]["schemas"][name]["examples"][0])


def test_documented_requests_work_as_written(admin: Api) -> None:
    """Copy each example from the docs, change only the ids, and it is accepted."""
    spec = _spec(admin)
    site = {**_example(spec, "/v1/sites"), "code": f"EX-{uuid.uuid4().hex[:6].upper()}"}
    admin.ok("POST", "/v1/sites", 201, json=site)
    patient = admin.ok("POST", "/v1/patients", 201, json={
        **_example(spec, "/v1/patients"), "site": site["code"]})  # fmt: skip
    infusion = admin.ok("POST", f"/v1/patients/{patient['id']}/infusions", 201,
                        json=_example(spec, "/v1/patients/{patient_id}/infusions"))  # fmt: skip
    admin.ok("POST", f"/v1/infusions/{infusion['id']}/adverse-events", 201,
             json=_example(spec, "/v1/infusions/{infusion_id}/adverse-events"))  # fmt: skip
    ids = {"patient_id": patient["id"], "infusion_id": infusion["id"]}
    created = admin.ok("POST", "/v1/responses", 201,
                       json={**_example(spec, "/v1/responses"), **ids})  # fmt: skip
    documented = spec["components"]["schemas"]["ResponseRead"]["examples"][0]
    assert created["scores"] == documented["scores"]
    assert created["scoring_version"] == documented["scoring_version"]
    batch = _example(spec, "/v1/responses/batch")
    batch["items"] = [{**item, "patient_id": patient["id"]} for item in batch["items"]]
    assert admin.ok("POST", "/v1/responses/batch", json=batch)["created"] == 1
    admin.ok("POST", f"/v1/responses/{created['id']}/retract",
             json=_example(spec, "/v1/responses/{response_id}/retract"))  # fmt: skip
