"""The staff console: server-rendered pages under /app (see routes.py)."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.types import Scope

from api.console import session as web
from api.console.audit import router as audit_router
from api.console.i18n import translator
from api.console.routes import STATIC, refusal_page, render, router
from api.console.tools import router as tools_router


class FingerprintedFiles(StaticFiles):
    """The pages name each file with its content's hash (routes.STATIC_URLS): a browser keeps it for
    good and a changed file comes under a new name."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code == 200:
            response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        return response


# Last: any other /app address answers the console's own page, in the reader's language.
unknown = APIRouter(prefix="/app", include_in_schema=False)


@unknown.api_route("/{rest:path}", methods=["GET", "POST"])
def page_not_found(request: Request) -> Response:
    return refusal_page(request, None, 404, "")


def unavailable_page(request: Request, retry_after: int) -> Response:
    """The console's answer when a staff action is cut short by its deadline (api.middleware)."""
    page = render(request, "message.html", status=503, title_key="unavailable_title",
                  message=translator(web.language(request))("unavailable"))
    page.headers["Retry-After"] = str(retry_after)
    return page


def install(app: FastAPI) -> None:
    app.include_router(router)
    app.include_router(tools_router)
    app.include_router(audit_router)
    app.mount("/app/static", FingerprintedFiles(directory=STATIC), name="console-static")
    app.include_router(unknown)
    app.state.console_unavailable = unavailable_page

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
