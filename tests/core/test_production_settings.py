"""ENVIRONMENT=prod refuses to start with what would let anyone forge webhooks or sign-ins, or
drive Temporal: guessable secrets, plain-http URLs, files that are not there."""

from __future__ import annotations

import secrets
import warnings
from pathlib import Path

import pytest

from renewals.core.settings import DEV_JWT_SECRET, DEV_TWILIO_AUTH_TOKEN, Settings

# Secrets as an operator generates them (`openssl rand -hex 32`; Twilio's 32 hex characters).
STRONG_JWT_SECRET = "381752c3f72325969b9d772e6df4952d196c9a6779ce63c54de0020f2aa69a3a"
TWILIO_TOKEN = "d12fbdb9b6bc0c59407271eebb6df2f4"
PROD = {"_env_file": None, "environment": "prod", "database_url": "postgresql://db/x", "temporal_address": "t:7233",
        "jwt_secret": STRONG_JWT_SECRET, "twilio_auth_token": TWILIO_TOKEN, "temporal_api_key": "key",
        "public_base_url": "https://renewals.example.com"}


def prod(**changes) -> Settings:
    return Settings(**(PROD | changes))


@pytest.mark.parametrize("backend", ["console", "twilio"])
@pytest.mark.parametrize("token", ["", " ", "x", "f" * 32, "0123456789abcdef" * 2, DEV_TWILIO_AUTH_TOKEN])
def test_prod_refuses_an_empty_guessable_or_development_twilio_token_whatever_the_backend(backend, token):
    with pytest.raises(ValueError, match="TWILIO_AUTH_TOKEN is empty, guessable or the development default"):
        prod(notify_backend=backend, twilio_auth_token=token)


@pytest.mark.parametrize("secret", [DEV_JWT_SECRET, "j" * 40, "ab" * 20, "password1234567890password12345678",
                                    "d12fbdb9b6bc0c59407271eebb6df2f4", "Xk3#q9!Lm2@v"])
def test_prod_refuses_a_guessable_jwt_secret_by_its_randomness_not_its_length(secret):
    with pytest.raises(ValueError, match="JWT_SECRET is the development default or guessable"):
        prod(jwt_secret=secret)


def test_prod_accepts_secrets_made_the_usual_ways():
    for _ in range(100):
        assert prod(jwt_secret=secrets.token_hex(32), twilio_auth_token=secrets.token_hex(16)).environment
        assert prod(jwt_secret=secrets.token_urlsafe(32)).environment


@pytest.mark.parametrize(("setting", "url"), [("public_base_url", "http://renewals.example.com"),
                                              ("public_base_url", "renewals.example.com"),
                                              ("twilio_api_base_url", "http://api.twilio.com")])
def test_prod_refuses_urls_that_are_not_https(setting, url):
    with pytest.raises(ValueError, match=f"{setting.upper()} must be an https:// URL"):
        prod(**{setting: url})


ALIYUN = {"notify_backend": "aliyun", "aliyun_access_key_id": "LTAI5tExampleKeyId01", "aliyun_access_key_secret":
          "9b3f0c2e7a1d4c5b8e6f0a2d3c4b5e6f", "aliyun_sms_sign_name": "中国人保财险",
          "aliyun_sms_templates": {"first_notice": "SMS_480001"}, "aliyun_webhook_token": STRONG_JWT_SECRET}


def test_prod_sends_through_alibaba_cloud_only_with_its_credentials_templates_and_an_unguessable_token():
    assert prod(**ALIYUN).notify_backend == "aliyun"
    for changes, refused in (({"aliyun_access_key_secret": None}, "ALIYUN_ACCESS_KEY_SECRET must be set"),
                             ({"aliyun_sms_sign_name": ""}, "ALIYUN_SMS_SIGN_NAME must be set"),
                             ({"aliyun_sms_templates": {}}, "ALIYUN_SMS_TEMPLATES must name"),
                             ({"aliyun_webhook_token": "a" * 64}, "ALIYUN_WEBHOOK_TOKEN is empty or guessable"),
                             ({"aliyun_webhook_token": None}, "ALIYUN_WEBHOOK_TOKEN is empty or guessable"),
                             ({"aliyun_sms_api_base_url": "http://dysmsapi.aliyuncs.com"},
                              "ALIYUN_SMS_API_BASE_URL must be an https:// URL")):
        with pytest.raises(ValueError, match=refused):
            prod(**ALIYUN | changes)


def test_prod_refuses_tls_files_that_do_not_exist_or_a_certificate_without_its_key(tmp_path):
    cert, key, ca = (tmp_path / name for name in ("client.pem", "client.key", "ca.pem"))
    for path in (cert, key, ca):
        path.write_text("-----BEGIN-----")
    assert prod(temporal_api_key=None, temporal_tls_cert=cert, temporal_tls_key=key, temporal_tls_ca=ca).environment
    with pytest.raises(ValueError, match="TEMPORAL_TLS_CA: no such file"):
        prod(temporal_api_key=None, temporal_tls_cert=cert, temporal_tls_key=key, temporal_tls_ca=tmp_path / "nope")
    with pytest.raises(ValueError, match="TEMPORAL_TLS_KEY: no such file"):
        prod(temporal_api_key=None, temporal_tls_cert=cert, temporal_tls_key=tmp_path)  # a folder is no key file
    with pytest.raises(ValueError, match="TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY go together"):
        prod(temporal_tls_key=key)  # an API key, and half a client certificate


def test_forwarded_allow_ips_must_name_addresses_or_networks():
    assert Settings(_env_file=None, forwarded_allow_ips="10.0.0.0/8, 192.168.1.7 ,::1").trusted_proxies
    assert Settings(_env_file=None).trusted_proxies == ()
    for wrong in ("*", "proxy.internal", "10.0.0.0/33"):
        with pytest.raises(ValueError, match="FORWARDED_ALLOW_IPS"):
            Settings(_env_file=None, forwarded_allow_ips=wrong)


def test_prod_refuses_temporal_without_credentials_unless_the_network_is_private():
    with pytest.raises(ValueError, match="Temporal needs credentials"):
        prod(temporal_api_key=None)
    with pytest.raises(ValueError, match="Temporal needs credentials"):  # a client certificate without its key
        prod(temporal_api_key=None, temporal_tls_cert=Path("client.pem"))
    assert prod(temporal_api_key=None, temporal_private_network=True).temporal_private_network
    # Development needs none of this.
    assert Settings(_env_file=None, twilio_auth_token="", temporal_api_key=None).environment == "dev"


def test_api_docs_are_off_in_prod_unless_turned_on():
    assert Settings(_env_file=None).docs_enabled is True
    assert prod().docs_enabled is False
    assert prod(api_docs=True).docs_enabled is True


def test_settings_read_secrets_from_files_named_after_them_and_a_variable_still_wins(tmp_path, monkeypatch):
    for name, value in (("jwt_secret", STRONG_JWT_SECRET), ("twilio_auth_token", TWILIO_TOKEN),
                        ("database_url", "postgresql://renewals_app:pw@pgbouncer:6432/renewals")):
        (tmp_path / name).write_text(value + "\n")  # as `openssl rand -hex 32 > file` writes it
    files = {key: value for key, value in PROD.items() if key not in ("jwt_secret", "twilio_auth_token", "database_url")}
    settings = Settings(**files, _secrets_dir=tmp_path)
    assert (settings.jwt_secret, settings.twilio_auth_token) == (STRONG_JWT_SECRET, TWILIO_TOKEN)
    assert settings.database_url == "postgresql://renewals_app:pw@pgbouncer:6432/renewals"
    monkeypatch.setenv("DATABASE_URL", "postgresql://elsewhere/renewals")
    assert Settings(**files, _secrets_dir=tmp_path).database_url == "postgresql://elsewhere/renewals"


def test_settings_read_secrets_where_compose_and_kubernetes_mount_them():
    assert Settings.model_config["secrets_dir"] == Path("/run/secrets")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no folder (development): nothing read, nothing said on every start
        assert Settings(_env_file=None, _secrets_dir=Path("/nonexistent")).jwt_secret == DEV_JWT_SECRET


def compose() -> dict:
    import yaml  # noqa: PLC0415 — only these tests read YAML

    return yaml.safe_load((Path(__file__).parents[2] / "docker-compose.yml").read_text())


APP_SERVICES = ("migrate", "temporal-setup", "worker", "api")


def secret_files(service: dict) -> set[str]:
    return {entry if isinstance(entry, str) else entry["target"] for entry in service["secrets"]}


def test_compose_passes_every_setting_to_the_application_as_a_variable_or_a_secret_file():
    services = compose()["services"]
    for name in APP_SERVICES:
        passed = set(services[name]["environment"]) | {secret.upper() for secret in secret_files(services[name])}
        missing = {field.upper() for field in Settings.model_fields} - passed
        assert not missing, f"{name}: {sorted(missing)} cannot be set"


def test_compose_hands_secrets_to_the_application_as_files_never_variables():
    services = compose()["services"]
    for name in APP_SERVICES:
        env = services[name]["environment"]
        for secret in ("JWT_SECRET", "TWILIO_AUTH_TOKEN", "DATABASE_URL"):
            assert secret not in env, f"{name}: {secret} would be in the environment (and `docker inspect`)"
        assert secret_files(services[name]) == {"jwt_secret", "twilio_auth_token", "database_url"}
        assert set(secret_files(services[name])) <= set(Settings.model_fields)  # each is read as its setting
    # Migrations connect as the schema's owner, everything else as the application's role.
    assert services["migrate"]["secrets"][-1] == {"source": "owner_database_url", "target": "database_url"}
    assert "database_url" in services["api"]["secrets"]


def test_compose_publishes_no_temporal_port_and_has_no_default_for_what_production_needs():
    services = compose()["services"]
    assert "ports" not in services["temporal"] and "ports" not in services["temporal-ui"]
    env = services["api"]["environment"]
    for name in ("PUBLIC_BASE_URL", "TWILIO_FROM", "TWILIO_ACCOUNT_SID"):
        assert env[name].startswith(f"${{{name}:?"), f"{name}: no default, compose refuses to start without it"
