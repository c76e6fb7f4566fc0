"""The staff console: server-rendered pages under /app (see routes.py)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from api.console import session as web
from api.console.i18n import translator
from api.console.routes import render, router
from api.console.tools import router as tools_router

STATIC = Path(__file__).resolve().parent / "static"


def install(app: FastAPI) -> None:
    app.include_router(router)
    app.include_router(tools_router)
    app.mount("/app/static", StaticFiles(directory=STATIC), name="console-static")

    @app.exception_handler(web.SignInRequired)
    async def sign_in_first(_: Request, exc: web.SignInRequired) -> Response:
        response = RedirectResponse("/app/sign-in", status_code=303)
        if exc.reason:  # a stale or revoked session: drop it
            web.end_session(response)
        return response

    @app.exception_handler(web.CsrfRefused)
    async def csrf_refused(request: Request, _: web.CsrfRefused) -> Response:
        message = translator(web.language(request))("csrf")
        return render(request, "message.html", status=403, title_key="refused_title", message=message)
