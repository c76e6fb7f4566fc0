"""All configuration, read once from the environment (and `.env`)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
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
    # Whoever reaches the Temporal frontend controls every case: in prod it needs credentials
    # (mTLS or an API key) unless the operator declares the network private.
    temporal_private_network: bool = False
    task_queue: str = "renewals"
    data_dir: Path = Path(".data")
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    temporal_port: int = 7233
    temporal_ui_port: int = 8233
    # Where managers open the Temporal UI (the console links its filtered lists); unset: the dev server's.
    temporal_ui_url: str | None = None
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
    # SPEC §2: only a manager's explicit `failed` (明确选择) goes to the deputy; on, an unattended case
    # (no follow-up status by T-10) goes too.
    escalate_without_status: bool = False
    # A customer who refuses all contact stays on the do-not-call list this long (at least 6 months).
    do_not_call_days: int = Field(default=183, ge=183)
    # SPEC §7: more claims than this last year makes a policy not quotable.
    max_claims_for_quote: int = Field(default=3, ge=0)
    # SPEC §7: vehicles older than this (from first registration to the renewal's start) are not quotable.
    max_vehicle_age_years: int = Field(default=10, ge=1)
    # No-claim-discount factor by last year's claims; the highest count applies to more claims too.
    quote_ncd_factors: dict[int, Decimal] = {0: Decimal("0.85"), 1: Decimal("1.00"), 2: Decimal("1.25"),
                                             3: Decimal("1.50")}
    # Channel factor: online (网销) quotes are priced below traditional (传统) ones.
    quote_channel_factors: dict[str, Decimal] = {"traditional": Decimal("1.00"), "online": Decimal("0.95")}
    quote_valid_days: int = Field(default=15, ge=1, le=90)
    # How often the archiver stores closed cases' histories; keep it well under the namespace's
    # retention (Temporal deletes a closed workflow's history when retention runs out).
    archive_every: timedelta = Field(default=timedelta(hours=1), gt=timedelta(0))
    # Issue 9: cases start once their policy's expiry is this many days away (T-60 opens FIRST_CONTACT).
    intake_horizon_days: int = Field(default=60, ge=1, le=366)
    # Training sandbox (ENVIRONMENT=dev only): imported cases run on a day this many seconds long.
    day_seconds: int = Field(default=86400, ge=1, le=86400)
    log_level: str = "INFO"
    # Server logs: plain lines, or one JSON object per line for a log collector.
    log_format: Literal["plain", "json"] = "plain"
    # /docs, /redoc and /openapi.json: on in dev, off in prod unless turned on here.
    api_docs: bool | None = None
    # Sign-in throttling (per client, and per user from one client): failures allowed per window.
    sign_in_max_failures: int = Field(default=10, ge=1)
    sign_in_window_seconds: int = Field(default=60, ge=1, le=3600)
    activity_workers: int = Field(default=50, ge=1)
    # Workflows a worker keeps in memory between wake-ups (about 20 KB each); an evicted one is
    # replayed from its short history when it next wakes. Cases sleep for days: size it to the
    # workflows busy at once, not to the open cases.
    workflow_cache_size: int = Field(default=1000, ge=0)

    @model_validator(mode="after")
    def _refuse_default_secrets_in_prod(self) -> "Settings":
        if self.environment != "prod":
            return self
        problems = []
        if self.jwt_secret == DEV_JWT_SECRET or len(self.jwt_secret) < 32:
            problems.append("JWT_SECRET is the development default or shorter than 32 characters")
        # The token also verifies webhook signatures, so it matters whatever NOTIFY_BACKEND is.
        if not self.twilio_auth_token or self.twilio_auth_token == DEV_TWILIO_AUTH_TOKEN:
            problems.append("TWILIO_AUTH_TOKEN is empty or the development default (it verifies webhooks)")
        has_credentials = self.temporal_api_key or (self.temporal_tls_cert and self.temporal_tls_key)
        if not (has_credentials or self.temporal_private_network):
            problems.append("Temporal needs credentials: TEMPORAL_API_KEY or TEMPORAL_TLS_CERT/_KEY "
                            "(or TEMPORAL_PRIVATE_NETWORK=true when only this system can reach it)")
        if not self.database_url:
            problems.append("DATABASE_URL must point at the production PostgreSQL")
        if not self.temporal_address:
            problems.append("TEMPORAL_ADDRESS must point at the production Temporal service")
        if self.day_seconds != 86400:
            problems.append("DAY_SECONDS compresses the renewal calendar for training; it is for ENVIRONMENT=dev only")
        if problems:
            raise ValueError("refusing to start with ENVIRONMENT=prod: " + "; ".join(problems))
        return self

    @property
    def docs_enabled(self) -> bool:
        return self.api_docs if self.api_docs is not None else self.environment != "prod"


@lru_cache
def get_settings() -> Settings:
    return Settings()
