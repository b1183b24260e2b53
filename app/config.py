"""Runtime configuration, read once from `PROREG_*` environment variables."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob an operator can turn; none of them is a secret."""

    model_config = SettingsConfigDict(env_prefix="PROREG_", extra="ignore")

    database_url: str = "sqlite:///./proreg.db"
    min_cell: int = Field(default=11, ge=1, description="CMS small-cell threshold; 1 disables")
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    rate_limit_per_minute: int = Field(default=6000, ge=0, description="0 disables the limit")
    rate_limit_burst: int = Field(default=1000, ge=1)
    page_limit_max: int = 500
    idempotency_retention_hours: int = Field(default=48, ge=24)
    # Sized for 32+ concurrent requests per worker: overflow connections are closed on
    # return, so a pool that is too small reconnects (TLS attempt, auth) under load.
    pool_size: int = Field(default=20, ge=1)
    pool_max_overflow: int = Field(default=10, ge=0)
    pool_timeout: float = Field(
        default=10, gt=0, description="seconds a request waits for a connection before 503"
    )
    # Single submissions take well under a millisecond of database time each: more of them
    # at once than the database has cores only contend there (locks, WAL insertion). The
    # others wait for a turn in the process, which costs nothing.
    submit_concurrency: int = Field(
        default=8, ge=1, description="single submissions written at once per worker"
    )
    db_outage_retry_after: int = Field(default=5, ge=1, description="seconds, sent on 503")
    db_command_timeout: float = Field(
        default=60,
        gt=0,
        description="seconds a request's statement may run on PostgreSQL before the request "
        "answers 503; exports, whose reads grow with the registry, are not bounded",
    )
    cors_origins: list[str] = Field(default_factory=list)
    log_level: str = "INFO"
    future_skew_seconds: int = 300


@lru_cache
def get_settings() -> Settings:
    """Settings are process-wide; tests clear the cache after changing the environment."""
    return Settings()
