"""The console's cookies and CSRF tokens, without a browser."""

from __future__ import annotations

import pytest
from fastapi import Response
from starlette.datastructures import FormData
from starlette.requests import Request

from api.console import session as web
from renewals.core.settings import Settings
from tests.core.test_production_settings import PROD


def _settings(environment: str) -> Settings:
    return Settings(**(PROD | {"environment": environment}))


@pytest.mark.parametrize(("environment", "secure"), [("prod", True), ("dev", False)])
def test_session_cookies_are_http_only_same_site_and_secure_in_prod(environment: str, secure: bool):
    response = Response()
    web.start_session(response, _settings(environment), "token")
    cookies = response.headers.getlist("set-cookie")
    assert [cookie.split("=")[0] for cookie in cookies] == ["console_session", "console_csrf"]
    for cookie in cookies:
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/app" in cookie
        assert ("Secure" in cookie) is secure


def _request(cookies: dict[str, str]) -> Request:
    header = "; ".join(f"{k}={v}" for k, v in cookies.items())
    return Request({"type": "http", "method": "POST", "path": "/app/x", "headers": [(b"cookie", header.encode())]})


def test_a_csrf_token_is_bound_to_the_browser_nonce_and_the_secret():
    settings = _settings("dev")
    token, fresh = web.form_token(_request({}), settings)
    assert fresh, "a browser without a nonce is given one"
    browser = _request({web.CSRF_COOKIE: fresh})
    web.check_csrf(browser, FormData({web.CSRF_FIELD: token}), settings)
    for form, request in [(FormData({}), browser), (FormData({web.CSRF_FIELD: token}), _request({})),
                          (FormData({web.CSRF_FIELD: token}), _request({web.CSRF_COOKIE: "another-nonce"}))]:
        with pytest.raises(web.CsrfRefused):
            web.check_csrf(request, form, settings)
    other_secret = Settings(_env_file=None, jwt_secret="t" * 40)
    with pytest.raises(web.CsrfRefused):
        web.check_csrf(browser, FormData({web.CSRF_FIELD: token}), other_secret)


def test_each_render_carries_the_csrf_token_under_a_new_mask_and_every_mask_validates():
    # Pages are gzipped and some reflect what was typed: a secret repeated byte for byte in every
    # response could be guessed from compressed sizes (BREACH), so no two renders show the same string.
    settings = _settings("dev")
    browser = _request({web.CSRF_COOKIE: "the-browser-nonce"})
    tokens = {web.form_token(browser, settings)[0] for _ in range(20)}
    assert len(tokens) == 20
    for token in tokens:
        web.check_csrf(browser, FormData({web.CSRF_FIELD: token}), settings)
    token = tokens.pop()
    for forged in (token[:-1] + ("0" if token[-1] != "0" else "1"), token[:64], token + "00", "zz" * 64, ""):
        with pytest.raises(web.CsrfRefused):
            web.check_csrf(browser, FormData({web.CSRF_FIELD: forged}), settings)
