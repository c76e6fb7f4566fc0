"""All configuration, read once from the environment (and `.env`)."""

from __future__ import annotations

import ipaddress
from datetime import timedelta
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from renewals.core.security import estimated_entropy_bits

DEV_JWT_SECRET = "dev-insecure-jwt-secret-change-me"
DEV_TWILIO_AUTH_TOKEN = "dev-twilio-auth-token"
# Estimated randomness a production secret needs (renewals.core.security): the JWT key signs every
# sign-in, so about 128 bits (`openssl rand -hex 32` scores ~220); Twilio's auth tokens are 32 hex
# characters (~110), so anything below 64 is not one. The Alibaba Cloud webhook token is ours to
# choose and guards as much as the JWT key.
JWT_SECRET_MIN_BITS = 128
TWILIO_TOKEN_MIN_BITS = 64
WEBHOOK_TOKEN_MIN_BITS = 128
ProxyNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# Secrets as files, one per setting named after it (`/run/secrets/jwt_secret`): where Docker
# Compose and Kubernetes mount them, so they stay out of the environment and out of `docker
# inspect`. A variable of the same name still wins.
SECRETS_DIR = Path("/run/secrets")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", secrets_dir=SECRETS_DIR)

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings,
                                   file_secret_settings):
        # pydantic-settings warns on every start about a secrets folder that is not there.
        mounted = Path(file_secret_settings.secrets_dir).is_dir()
        return (init_settings, env_settings, dotenv_settings) + ((file_secret_settings,) if mounted else ())

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
    # Where SMS go: Twilio (abroad), Alibaba Cloud SMS (in the mainland; calls are refused) or the log.
    notify_backend: Literal["console", "twilio", "aliyun"] = "console"
    twilio_account_sid: str = "ACdev00000000000000000000000000000"
    twilio_auth_token: str = DEV_TWILIO_AUTH_TOKEN
    twilio_from: str | None = "+15005550006"
    twilio_messaging_service_sid: str | None = None
    twilio_api_base_url: str = "https://api.twilio.com"
    # Alibaba Cloud SMS (NOTIFY_BACKEND=aliyun): a RAM user's AccessKey allowed dysms:SendSms and
    # dysms:QuerySendDetails, the approved sign name (签名, shown in 【】 before every text) and the
    # approved template code of each message key ({"first_notice": "SMS_123456789", ...}).
    aliyun_access_key_id: str | None = None
    aliyun_access_key_secret: str | None = None
    aliyun_sms_sign_name: str | None = None
    aliyun_sms_templates: dict[str, str] = {}
    aliyun_sms_api_base_url: str = "https://dysmsapi.aliyuncs.com"
    # Alibaba Cloud signs none of its pushes (delivery receipts, replies): the receiving addresses set
    # in its console carry this token (?token=...), and a push without it is refused.
    aliyun_webhook_token: str | None = None
    # How Twilio reaches our webhooks (their signatures are checked against it); unset: the API's own address.
    public_base_url: str | None = None
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
    # Archived histories are dropped a whole month at a time once that month ended this many months
    # ago (each is kept at least this long after its case closed); 0 keeps them for ever.
    audit_archive_retention_months: int = Field(default=0, ge=0)
    # What `renewals temporal setup` sets as the namespace's retention: how long Temporal keeps a
    # closed case's history (the archive keeps it after). Several ARCHIVE_EVERY at least.
    temporal_namespace_retention_days: int = Field(default=30, ge=1)
    # Personal data is kept no longer than its purpose needs (PIPL Art. 19, 47): the nightly purge
    # (renewals.privacy) clears each class once older than this; what insurance law keeps stays
    # (README "Personal data"). SMS bodies and call recordings (their links) by their age; a contact
    # record's number and note by its age; a case's notes and contact details by the time since it
    # closed; a customer, anonymised whole, once no policy of theirs has been in force for the years.
    retention_sms_body_days: int = Field(default=90, ge=1)
    retention_recording_days: int = Field(default=180, ge=1)
    retention_contact_record_days: int = Field(default=730, ge=1)
    retention_closed_case_days: int = Field(default=1095, ge=1)
    retention_customer_without_policy_years: int = Field(default=5, ge=1)
    # Rows the purge changes per transaction: each batch's locks are brief.
    privacy_purge_batch: int = Field(default=500, ge=1)
    # Cases start once their policy's expiry is this many days away (T-60 opens FIRST_CONTACT).
    intake_horizon_days: int = Field(default=60, ge=1, le=366)
    # Training sandbox (ENVIRONMENT=dev only): imported cases run on a day this many seconds long.
    day_seconds: int = Field(default=86400, ge=1, le=86400)
    # Every database session (libpq and PostgreSQL settings): connecting, waiting for a lock and a
    # transaction left idle are bounded. libpq counts the connect timeout in whole seconds, at least 2.
    db_connect_timeout: int = Field(default=5, ge=2, le=60)
    db_lock_timeout: timedelta = Field(default=timedelta(seconds=3), gt=timedelta(0))
    db_idle_in_transaction_timeout: timedelta = Field(default=timedelta(minutes=1), gt=timedelta(0))
    # One statement: the API's are short (staff are waiting); the worker's stay under the activities'
    # 30 s start-to-close timeout; imports, reports, the task roll-up, migrations and the command-line
    # tools run long statements (and wait for locks) legitimately, up to the long limit.
    db_statement_timeout: timedelta = Field(default=timedelta(seconds=5), gt=timedelta(0))
    db_worker_statement_timeout: timedelta = Field(default=timedelta(seconds=20), gt=timedelta(0))
    db_long_statement_timeout: timedelta = Field(default=timedelta(hours=1), gt=timedelta(0))
    # A migration's wait for a table's lock: readers and writers of that table queue behind it, so it
    # gives up (and is retried) well before they would reach DB_LOCK_TIMEOUT. Its statements run up
    # to DB_LONG_STATEMENT_TIMEOUT.
    migration_lock_timeout: timedelta = Field(default=timedelta(seconds=1), gt=timedelta(0))
    # A staff action answers within this, whatever hangs (503 with Retry-After; retried with its
    # Idempotency-Key it is applied once). It must exceed the workflow's own wait for an action's
    # writes (0.8 s), or a slow Twilio or PostgreSQL would turn accepted actions into 503s.
    staff_action_deadline: timedelta = Field(default=timedelta(seconds=1.5), ge=timedelta(seconds=1))
    log_level: str = "INFO"
    # Server logs: plain lines, or one JSON object per line for a log collector.
    log_format: Literal["plain", "json"] = "plain"
    # /docs, /redoc and /openapi.json: on in dev, off in prod unless turned on here.
    api_docs: bool | None = None
    # Sign-in throttling (per client, and per user from one client): failures allowed per window.
    sign_in_max_failures: int = Field(default=10, ge=1)
    sign_in_window_seconds: int = Field(default=60, ge=1, le=3600)
    # Proxies (addresses or networks, comma-separated) whose X-Forwarded-For is believed; none by
    # default, so no client can choose the address it is throttled as.
    forwarded_allow_ips: str = ""
    activity_workers: int = Field(default=50, ge=1)
    # Each process's database pool (SQLAlchemy): kept open, and how far it may grow at a peak. Unset,
    # the worker's grows to ACTIVITY_WORKERS (one connection per activity thread, none waits for
    # one) and the API's by 20. With many processes, put PgBouncer in front (DATABASE_PGBOUNCER).
    database_pool_size: int = Field(default=10, ge=1)
    database_max_overflow: int | None = Field(default=None, ge=0)
    # DATABASE_URL points at PgBouncer in transaction pooling: no server-side prepared statements and
    # no session settings (the limits are set per transaction instead).
    database_pgbouncer: bool = False
    # The worker's Prometheus metrics (the Temporal SDK's) and its /healthz and /readyz, on API_HOST.
    worker_metrics_port: int = Field(default=9464, ge=1, le=65535)
    worker_health_port: int = Field(default=9465, ge=1, le=65535)
    # Workflows a worker keeps in memory between wake-ups (about 20 KB each); an evicted one is
    # replayed from its short history when it next wakes. Cases sleep for days: size it to the
    # workflows busy at once, not to the open cases.
    workflow_cache_size: int = Field(default=1000, ge=0)
    # Run workflows in the SDK's sandbox. Off in the worker: the sandbox re-runs the workflow module
    # for every case it wakes and wraps each workflow task, about half of a wake-up's CPU
    # (bench.replay). The tests and the replay gate keep it on, where it refuses a workflow that
    # reaches for the clock, randomness or I/O before such code is released.
    workflow_sandbox: bool = False

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _proxies_are_addresses(cls, value: str) -> str:
        _proxy_networks(value)
        return value

    @property
    def trusted_proxies(self) -> tuple[ProxyNetwork, ...]:
        return _proxy_networks(self.forwarded_allow_ips)

    @model_validator(mode="after")
    def _refuse_default_secrets_in_prod(self) -> "Settings":
        if self.environment != "prod":
            return self
        problems = []
        if self.jwt_secret == DEV_JWT_SECRET or len(self.jwt_secret) < 32 or \
                estimated_entropy_bits(self.jwt_secret) < JWT_SECRET_MIN_BITS:
            problems.append("JWT_SECRET is the development default or guessable (32+ random characters, "
                            "e.g. `openssl rand -hex 32`)")
        # The token also verifies webhook signatures, so it matters whatever NOTIFY_BACKEND is.
        if self.twilio_auth_token == DEV_TWILIO_AUTH_TOKEN or \
                estimated_entropy_bits(self.twilio_auth_token) < TWILIO_TOKEN_MIN_BITS:
            problems.append("TWILIO_AUTH_TOKEN is empty, guessable or the development default (the account's "
                            "auth token: it verifies webhooks)")
        # Twilio posts webhooks to PUBLIC_BASE_URL (signed against it); the client sends the
        # account's credentials to TWILIO_API_BASE_URL: neither in the clear.
        for name in ("public_base_url", "twilio_api_base_url"):
            url = urlsplit(getattr(self, name) or "")  # unset: the dev default (http) comes later
            if url.scheme != "https" or not url.hostname:
                problems.append(f"{name.upper()} must be an https:// URL")
        if self.notify_backend == "aliyun":
            problems += _aliyun_problems(self)
        if bool(self.temporal_tls_cert) != bool(self.temporal_tls_key):
            problems.append("TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY go together (a client certificate and its key)")
        for name in ("temporal_tls_cert", "temporal_tls_key", "temporal_tls_ca"):
            path = getattr(self, name)
            if path is not None and not path.is_file():
                problems.append(f"{name.upper()}: no such file: {path}")
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

    @model_validator(mode="after")
    def _public_base_url_defaults_to_the_api(self) -> "Settings":
        if self.public_base_url is None:
            host = "127.0.0.1" if self.api_host in ("0.0.0.0", "::") else self.api_host  # a bind-all is no address
            self.public_base_url = f"http://{host}:{self.api_port}"
        return self


def _aliyun_problems(settings: Settings) -> list[str]:
    problems = [f"{name.upper()} must be set to send through Alibaba Cloud" for name in (
        "aliyun_access_key_id", "aliyun_access_key_secret", "aliyun_sms_sign_name") if not getattr(settings, name)]
    if not settings.aliyun_sms_templates:
        problems.append("ALIYUN_SMS_TEMPLATES must name the approved template code of each message key")
    if estimated_entropy_bits(settings.aliyun_webhook_token or "") < WEBHOOK_TOKEN_MIN_BITS:
        problems.append("ALIYUN_WEBHOOK_TOKEN is empty or guessable (it is all that stands between anyone and "
                        "the receipt and reply webhooks: `openssl rand -hex 32`)")
    # The client sends the AccessKey's signatures there: not in the clear.
    url = urlsplit(settings.aliyun_sms_api_base_url)
    if url.scheme != "https" or not url.hostname:
        problems.append("ALIYUN_SMS_API_BASE_URL must be an https:// URL")
    return problems


@lru_cache
def _proxy_networks(value: str) -> tuple[ProxyNetwork, ...]:
    networks = []
    for entry in filter(None, (part.strip() for part in value.split(","))):
        try:
            networks.append(ipaddress.ip_network(entry))
        except ValueError:
            raise ValueError(f"FORWARDED_ALLOW_IPS: {entry!r} is not an address or network (list your proxies, "
                             "e.g. 10.0.0.5,10.1.0.0/16)") from None
    return tuple(networks)


@lru_cache
def get_settings() -> Settings:
    return Settings()


def how_to_start(setting: str, settings: Settings) -> str:
    """What a command says when it has nothing to reach (renewals.dev.stack finds the stack beside it)."""
    return (f"{setting} is not set and no `renewals dev` is running with its data in {settings.data_dir.resolve()}: "
            f"start one in another terminal (`uv run renewals dev`), or set {setting}")
