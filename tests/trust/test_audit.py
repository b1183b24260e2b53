"""Audit trail: every write (failed ones too) and every row-level read is recorded with who,
what, when and outcome — never the answers — and only admins can read it."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import pytest

from app.services import keys
from tests.support import Api, Registry, hads, response_body, run_db


def events(admin: Api, **filters: Any) -> list[dict[str, Any]]:
    page = admin.ok("GET", "/v1/audit", params={"limit": 500, **filters})
    return page["items"]  # type: ignore[no-any-return]


def prefix(api: Api) -> str:
    return api.token[:12]


def test_successful_write_is_audited_once_without_content(admin: Api, clinic: Api) -> None:
    pseudonym = f"SECRET-{uuid.uuid4().hex[:8]}"
    patient = clinic.make_patient(pseudonym=pseudonym)
    answers = hads(3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2)
    response = clinic.make_response(patient["id"], instrument="hads", answers=answers)
    mine = events(admin, key_prefix=prefix(clinic))
    created = [(e["action"], e["resource"], e["resource_id"], e["outcome"]) for e in mine]
    assert created.count(("create", "patient", patient["id"], 201)) == 1
    assert created.count(("create", "response", response["id"], 201)) == 1
    for e in mine:
        assert (e["role"], e["site_code"]) == ("clinic", clinic.site)
        assert e["request_id"]
        assert dt.datetime.fromisoformat(e["at"]) <= dt.datetime.now(dt.UTC)
    assert pseudonym not in json.dumps(mine)
    assert "hads_1" not in json.dumps(mine)


def test_failed_writes_are_audited(admin: Api, clinic: Api) -> None:
    bad = clinic.post("/v1/patients", {"pseudonym": "P-1", "sex": "nonsense"})
    assert bad.status_code == 422
    missing = str(uuid.uuid4())
    assert clinic.post("/v1/responses", response_body(missing)).status_code == 404
    amend = clinic.post(f"/v1/responses/{missing}/amend", {"answers": {}, "reason": "typo"})
    assert amend.status_code == 404
    mine = {(e["action"], e["resource"], e["resource_id"], e["outcome"]) for e in
            events(admin, key_prefix=prefix(clinic))}  # fmt: skip
    assert ("create", "patient", None, 422) in mine
    assert ("create", "response", None, 404) in mine
    assert ("amend", "response", missing, 404) in mine


def test_foreign_reads_are_audited_as_404(admin: Api, clinic: Api, other_clinic: Api) -> None:
    theirs = other_clinic.make_patient()["id"]
    assert clinic.get(f"/v1/patients/{theirs}").status_code == 404
    mine = events(admin, key_prefix=prefix(clinic), resource_id=theirs)
    assert [(e["action"], e["resource"], e["outcome"]) for e in mine] == [("read", "patient", 404)]


def test_row_level_reads_are_audited_catalogues_are_not(admin: Api, clinic: Api) -> None:
    pid = clinic.make_patient()["id"]
    rid = clinic.make_response(pid)["id"]
    clinic.ok("GET", f"/v1/patients/{pid}")
    clinic.ok("GET", f"/v1/responses/{rid}")
    clinic.ok("GET", f"/v1/patients/{pid}/responses")
    clinic.ok("GET", "/v1/instruments")
    clinic.ok("GET", "/v1/sites")
    mine = {(e["action"], e["resource"], e["resource_id"]) for e in
            events(admin, key_prefix=prefix(clinic))}  # fmt: skip
    assert {("read", "patient", pid), ("read", "response", rid), ("list", "response", pid)} <= mine
    assert not {r for _, r, _ in mine} & {"instrument", "site"}


def test_replays_are_audited_as_replays(admin: Api, clinic: Api) -> None:
    pid = clinic.make_patient()["id"]
    key = {"Idempotency-Key": uuid.uuid4().hex}
    first = clinic.post("/v1/responses", response_body(pid), headers=key)
    again = clinic.post("/v1/responses", response_body(pid), headers=key)
    assert again.headers["Idempotent-Replayed"] == "true"
    mine = [(e["action"], e["outcome"]) for e in events(admin, key_prefix=prefix(clinic))
            if e["resource"] == "response"]  # fmt: skip
    assert sorted(mine) == [("create", 201), ("replay", 201)]
    assert first.json()["id"] == again.json()["id"]


def test_rejected_keys_are_audited_by_prefix(registry: Registry, admin: Api, clinic: Api) -> None:
    run_db(registry.database_url, lambda s: keys.revoke_key(s, prefix(clinic)))
    assert clinic.get("/v1/patients").status_code == 401
    mine = events(admin, key_prefix=prefix(clinic))
    assert [(e["action"], e["role"], e["outcome"]) for e in mine] == [("list", None, 401)]


@pytest.mark.parametrize("role", ["analyst", "clinic", None])
def test_only_admins_read_the_trail(registry: Registry, role: str | None) -> None:
    if role is None:
        assert registry.client.get("/v1/audit").status_code == 401
        return
    api = registry.analyst if role == "analyst" else registry.new_clinic()
    r = api.get("/v1/audit")
    assert r.status_code == 403
    assert r.headers["content-type"] == "application/problem+json"


def test_filters_and_paging(admin: Api, clinic: Api) -> None:
    before = dt.datetime.now(dt.UTC)
    pids = [clinic.make_patient()["id"] for _ in range(5)]
    after = dt.datetime.now(dt.UTC)
    filters = {"key_prefix": prefix(clinic), "action": "create", "resource": "patient"}
    seen: list[str] = []
    cursor = None
    while True:
        params = {**filters, "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = admin.ok("GET", "/v1/audit", params=params)
        seen += [e["resource_id"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == pids[::-1]  # newest first, each exactly once
    window = {"since": before.isoformat(), "until": after.isoformat()}
    assert len(events(admin, **filters, **window)) == 5
    assert events(admin, **filters, since=after.isoformat()) == []
    assert events(admin, **filters, resource_id=pids[2])[0]["resource_id"] == pids[2]
    assert admin.get("/v1/audit", params={"cursor": "not-a-cursor"}).status_code == 422
