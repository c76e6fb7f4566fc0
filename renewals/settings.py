"""All configuration, read once from the environment (and `.env`)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_JWT_SECRET = "dev-insecure-jwt-secret-change-me"
DEV_TWILIO_AUTH_TOKEN = "dev-twilio-auth-token"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    environment: Literal["dev", "prod"] = "dev"
    # Unset: `renewals dev` starts embedded servers and fills these in for its children.
    database_url: str | None = None
    temporal_address: str | None = None
    temporal_namespace: str = "default"
    temporal_api_key: str | None = None
    temporal_tls_cert: Path | None = None
    temporal_tls_key: Path | None = None
    temporal_tls_ca: Path | None = None
    task_queue: str = "renewals"
    data_dir: Path = Path(".data")
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    temporal_port: int = 7233
    temporal_ui_port: int = 8233
    timezone: str = "Asia/Shanghai"
    jwt_secret: str = DEV_JWT_SECRET
    jwt_expire_minutes: int = 480
    notify_backend: Literal["console", "twilio"] = "console"
    twilio_account_sid: str = "ACdev00000000000000000000000000000"
    twilio_auth_token: str = DEV_TWILIO_AUTH_TOKEN
    twilio_from: str | None = "+15005550006"
    twilio_messaging_service_sid: str | None = None
    twilio_api_base_url: str = "https://api.twilio.com"
    public_base_url: str = "http://127.0.0.1:8000"
    # SPEC §2: an unattended case (no follow-up status by T-10) goes to the deputy.
    escalate_without_status: bool = True
    # A customer who refuses all contact stays on the do-not-call list this long (at least 6 months).
    do_not_call_days: int = Field(default=183, ge=183)
    # SPEC §7: more claims than this last year makes a policy not quotable.
    max_claims_for_quote: int = 3
    log_level: str = "INFO"
    activity_workers: int = Field(default=50, ge=1)

    @model_validator(mode="after")
    def _refuse_default_secrets_in_prod(self) -> "Settings":
        if self.environment != "prod":
            return self
        problems = []
        if self.jwt_secret == DEV_JWT_SECRET or len(self.jwt_secret) < 32:
            problems.append("JWT_SECRET is the development default or shorter than 32 characters")
        if self.notify_backend == "twilio" and self.twilio_auth_token == DEV_TWILIO_AUTH_TOKEN:
            problems.append("TWILIO_AUTH_TOKEN is the development default")
        if not self.database_url:
            problems.append("DATABASE_URL must point at the production PostgreSQL")
        if not self.temporal_address:
            problems.append("TEMPORAL_ADDRESS must point at the production Temporal service")
        if problems:
            raise ValueError("refusing to start with ENVIRONMENT=prod: " + "; ".join(problems))
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
