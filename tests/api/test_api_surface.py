"""The production surface: security headers on every response, no caching of personal data, docs
off in prod, a catch-all that answers the error shape with a request id and logs no request data,
and an honest 503 when PostgreSQL or Temporal cannot be reached."""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import time

import httpx
import pytest
from fastapi import FastAPI

from api.main import create_app
from models import Role
from renewals.core.db import make_engine
from tests.api.conftest import Api, add_person
from tests.scenario import Scenario

pytestmark = pytest.mark.asyncio(loop_scope="session")


def client_of(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
                             base_url="http://testserver")


async def test_every_response_carries_the_security_headers_and_personal_data_is_not_cached(api: Api):
    auditor = await api.sign_in(add_person(api.engine, Role.auditor).id)
    responses = [await api.get("/healthz"), await api.get("/me"), await api.get("/no/such/route"),
                 await api.get("/me", headers=auditor), await api.get("/docs"), await api.get("/openapi.json"),
                 await api.webhook("/webhooks/twilio/sms-status", {"MessageSid": "SM1"}, signature="")]
    for response in responses:
        assert response.headers["X-Content-Type-Options"] == "nosniff", response.url
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
        assert len(response.headers["X-Request-ID"]) >= 16
    pages = [await api.get("/healthz"), await api.get("/app/sign-in"), await api.get("/app/static/console.css")]
    for response in pages:
        policy = {directive.split()[0]: directive.split()[1:]
                  for directive in response.headers["Content-Security-Policy"].split(";")}
        # No inline script or style, nothing from elsewhere: only files this app serves.
        assert policy["default-src"] == ["'self'"], policy
        assert not {"script-src", "style-src", "img-src"} & set(policy), policy
        assert policy["object-src"] == ["'none'"] and policy["base-uri"] == ["'none'"], policy
        assert policy["form-action"] == ["'self'"] and policy["frame-ancestors"] == ["'none'"], policy
    assert responses[3].status_code == 200 and responses[3].headers["Cache-Control"] == "no-store"
    echoed = await api.get("/healthz", headers={"X-Request-ID": "trace-42"})
    assert echoed.headers["X-Request-ID"] == "trace-42"


async def test_the_api_docs_may_run_their_own_scripts_and_nothing_else_inline(api: Api):
    for path in ("/docs", "/docs/oauth2-redirect", "/redoc"):
        page = await api.get(path)
        policy = {directive.split()[0]: directive.split()[1:]
                  for directive in page.headers["Content-Security-Policy"].split(";")}
        assert "'unsafe-inline'" not in policy["script-src"] and policy["frame-ancestors"] == ["'none'"], path
        for script in re.findall(rb"<script>(.*?)</script>", page.content, re.S):
            digest = base64.b64encode(hashlib.sha256(script).digest()).decode()
            assert f"'sha256-{digest}'" in policy["script-src"], path


async def test_docs_are_off_in_prod_unless_a_setting_turns_them_on(api: Api):
    prod = api.settings.model_copy(update={"environment": "prod"})
    async with client_of(create_app(prod, engine=api.engine)) as client:
        for path in ("/docs", "/redoc", "/openapi.json"):
            assert (await client.get(path)).status_code == 404, path
    on = prod.model_copy(update={"api_docs": True})
    async with client_of(create_app(on, engine=api.engine)) as client:
        assert (await client.get("/openapi.json")).status_code == 200


async def test_an_unexpected_error_answers_500_with_a_request_id_and_logs_no_request_data(api: Api, caplog):
    app = create_app(api.settings, engine=api.engine)

    async def explode(phone: str) -> None:
        raise ValueError(f"cannot handle {phone}")

    app.add_api_route("/explode", explode)
    caplog.set_level(logging.INFO)
    async with client_of(app) as client:
        response = await client.get("/explode", params={"phone": "13912345678"})
    assert response.status_code == 500 and response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert (error["status"], error["code"]) == (500, "internal_error")
    assert error["request_id"] == response.headers["X-Request-ID"] and error["request_id"] in error["message"]
    server_log = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("httpx"))  # not our client
    assert "unhandled ValueError in GET /explode" in server_log and error["request_id"] in server_log
    assert "13912345678" not in server_log, "neither the parameters nor the exception's text (which quotes them)"


async def test_an_unreachable_database_or_temporal_answers_503_with_retry_after(api: Api, sc: Scenario):
    case = await sc.start(days_to_expiry=62)
    owner = await api.sign_in(case.owner_id)
    dead_database = make_engine("postgresql://nobody@127.0.0.1:1/none", connect_args={"connect_timeout": 2})
    no_temporal = api.settings.model_copy(update={"temporal_address": "127.0.0.1:1"})
    outages = [
        (create_app(api.settings, engine=dead_database), "GET", "/me", None, "the database"),
        (create_app(no_temporal, engine=api.engine), "POST", f"/cases/{case.case_id}/contacts",
         {"channel": "call", "result": "reached"}, "Temporal"),
    ]
    for app, method, path, body, what in outages:
        async with client_of(app) as client:
            started = time.monotonic()
            response = await client.request(method, path, headers=owner, json=body)
        assert response.status_code == 503, response.text
        assert time.monotonic() - started < 5
        assert int(response.headers["Retry-After"]) > 0
        error = response.json()["error"]
        assert error["code"] == "unavailable" and what in error["message"] and error["request_id"]
    dead_database.dispose()
