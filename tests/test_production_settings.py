"""ENVIRONMENT=prod refuses to start with what would let anyone forge webhooks or drive Temporal."""

from __future__ import annotations

from pathlib import Path

import pytest

from renewals.settings import DEV_TWILIO_AUTH_TOKEN, Settings

PROD = {"_env_file": None, "environment": "prod", "database_url": "postgresql://db/x", "temporal_address": "t:7233",
        "jwt_secret": "j" * 40, "twilio_auth_token": "f" * 32, "temporal_api_key": "key"}


def prod(**changes) -> Settings:
    return Settings(**(PROD | changes))


@pytest.mark.parametrize("backend", ["console", "twilio"])
@pytest.mark.parametrize("token", ["", DEV_TWILIO_AUTH_TOKEN])
def test_prod_refuses_an_empty_or_development_twilio_token_whatever_the_backend(backend, token):
    with pytest.raises(ValueError, match="TWILIO_AUTH_TOKEN is empty or the development default"):
        prod(notify_backend=backend, twilio_auth_token=token)


def test_prod_refuses_temporal_without_credentials_unless_the_network_is_private():
    with pytest.raises(ValueError, match="Temporal needs credentials"):
        prod(temporal_api_key=None)
    with pytest.raises(ValueError, match="Temporal needs credentials"):  # a client certificate without its key
        prod(temporal_api_key=None, temporal_tls_cert=Path("client.pem"))
    assert prod(temporal_api_key=None, temporal_tls_cert=Path("c.pem"), temporal_tls_key=Path("c.key")).environment
    assert prod(temporal_api_key=None, temporal_private_network=True).temporal_private_network
    # Development needs none of this.
    assert Settings(_env_file=None, twilio_auth_token="", temporal_api_key=None).environment == "dev"


def test_api_docs_are_off_in_prod_unless_turned_on():
    assert Settings(_env_file=None).docs_enabled is True
    assert prod().docs_enabled is False
    assert prod(api_docs=True).docs_enabled is True


def test_compose_publishes_no_temporal_port_and_has_no_default_twilio_token():
    compose = (Path(__file__).parent.parent / "docker-compose.yml").read_text()
    import yaml  # noqa: PLC0415 — only this test reads YAML

    services = yaml.safe_load(compose)["services"]
    assert "ports" not in services["temporal"] and "ports" not in services["temporal-ui"]
    env = services["api"]["environment"]
    assert env["TWILIO_AUTH_TOKEN"].startswith("${TWILIO_AUTH_TOKEN:?"), "no default: compose refuses to start"
