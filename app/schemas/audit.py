"""Audit events as the API shows them."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field


class AuditEventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: dt.datetime = Field(description="When the request was handled (UTC).")
    key_prefix: str | None = Field(description="Public prefix of the API key used, if any.")
    role: str | None = Field(description="Role of the key (null when authentication failed).")
    site_code: str | None = Field(description="Site of a clinic key.")
    action: str = Field(examples=["create", "read", "list", "amend", "retract", "replay"])
    resource: str = Field(examples=["response"])
    resource_id: str | None = Field(description="Id of the resource, or of its parent.")
    outcome: int = Field(description="HTTP status the request was answered with.")
    request_id: str | None = Field(description="`X-Request-ID` of the request.")
