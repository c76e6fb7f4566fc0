"""The interactive API docs (/docs, /redoc; off in prod unless API_DOCS=true).

They are FastAPI's own pages, which load Swagger UI and ReDoc from their CDN and start them with an
inline script: they answer with a policy of their own allowing exactly that (the CDN, and each
inline script by its hash). Every other response keeps the app's strict policy (api.middleware).
"""

from __future__ import annotations

import base64
import hashlib
import re

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse

CDN = "https://cdn.jsdelivr.net"
OAUTH2_REDIRECT = "/docs/oauth2-redirect"
_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.S)


def _with_policy(page: HTMLResponse) -> HTMLResponse:
    scripts = " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(script).digest()).decode()}'"
                       for script in _INLINE_SCRIPT.findall(page.body))
    page.headers["Content-Security-Policy"] = (
        f"default-src 'self'; script-src 'self' {CDN} {scripts}; "
        f"style-src 'self' {CDN} https://fonts.googleapis.com 'unsafe-inline'; font-src https://fonts.gstatic.com; "
        "img-src 'self' data: https://fastapi.tiangolo.com; worker-src blob:; "
        "base-uri 'none'; object-src 'none'; form-action 'self'; frame-ancestors 'none'")
    return page


def install(app: FastAPI) -> None:
    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return _with_policy(get_swagger_ui_html(openapi_url=app.openapi_url, title=f"{app.title} - Swagger UI",
                                                oauth2_redirect_url=OAUTH2_REDIRECT))

    @app.get(OAUTH2_REDIRECT, include_in_schema=False)
    async def swagger_ui_oauth2_redirect() -> HTMLResponse:
        return _with_policy(get_swagger_ui_oauth2_redirect_html())

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return _with_policy(get_redoc_html(openapi_url=app.openapi_url, title=f"{app.title} - ReDoc"))
