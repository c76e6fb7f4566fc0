"""What every response carries and what no request may do, around the whole app:

- a request id (the caller's `X-Request-ID` when it is sane, else a new one) on every response
  and in every 500/503 body, so a staff member's report finds the log line;
- `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer`, `X-Frame-Options: DENY`,
  `Strict-Transport-Security` (browsers heed it over https only), a content security policy that
  lets a page load only this app's own files (no inline script or style, no framing, forms post
  only here), and `Cache-Control: no-store` (responses carry personal data); a route may set its
  own policy or caching (the API docs, SVG charts);
- bodies bounded (1 MiB; CSV uploads as multipart are bounded by their own route);
- the catch-all: an unhandled exception answers 500 in the API's error shape and is logged with
  its type, route and traceback only, never the request's parameters, body or exception text
  (which may quote them);
- the staff action deadline (StaffActionDeadline): JSON for the API, the console's own page for the
  console.
"""

from __future__ import annotations

import asyncio
import logging
import re
import traceback
import uuid

import anyio
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import RETRY_AFTER_SECONDS, error_body, unavailable_response
from renewals.core import logs
from renewals.core.notify import REQUEST_WORST_SECONDS

log = logging.getLogger("api.errors")
MAX_BODY_BYTES = 1 << 20
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
}
CONTENT_SECURITY_POLICY = "default-src 'self'; base-uri 'none'; object-src 'none'; form-action 'self'; " \
                          "frame-ancestors 'none'"


class Protect:
    def __init__(self, app: ASGIApp, max_body_bytes: int = MAX_BODY_BYTES):
        self.app, self.max_body_bytes = app, max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        given = headers.get("x-request-id", "")
        request_id = given if _SAFE_REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = False

        async def send_protected(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                out = MutableHeaders(scope=message)
                out["X-Request-ID"] = request_id
                for name, value in _HEADERS.items():
                    out[name] = value
                if "content-security-policy" not in out:
                    out["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
                if "cache-control" not in out:
                    out["Cache-Control"] = "no-store"
            await send(message)

        bounded = not headers.get("content-type", "").startswith("multipart/form-data")
        declared = headers.get("content-length", "")
        if bounded and declared.isdigit() and int(declared) > self.max_body_bytes:
            await self._too_large(scope, receive, send_protected)
            return
        received = 0

        async def receive_bounded() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if bounded and received > self.max_body_bytes:
                # Raised inside the app's body reading; FastAPI passes HTTPExceptions through.
                raise HTTPException(413, f"the request body is larger than {self.max_body_bytes} bytes")
            return message

        logged_as = logs.request_id.set(request_id)
        try:
            await self.app(scope, receive_bounded, send_protected)
        except Exception as exc:  # noqa: BLE001 — the catch-all: nothing leaves as a bare 500 text page
            _log_unhandled(scope, exc)
            if not started:
                body = error_body(500, "internal_error", f"internal error (request {request_id})",
                                  request_id=request_id)
                await JSONResponse(body, 500)(scope, receive, send_protected)
        finally:
            logs.request_id.reset(logged_as)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = error_body(413, "too_large", f"the request body is larger than {self.max_body_bytes} bytes")
        await JSONResponse(body, 413)(scope, receive, send)


def _log_unhandled(scope: Scope, exc: BaseException) -> None:
    route = getattr(scope.get("route"), "path", "?")
    log.error("unhandled %s in %s %s [request %s]\n%s", type(exc).__qualname__, scope["method"], route,
              scope["state"]["request_id"], "".join(traceback.format_tb(exc.__traceback__)).rstrip())


# A staff action: a POST or PUT on one case or one quote, through the API or the console.
_STAFF_ACTION = re.compile(r"(?:/app)?/(?:cases|quotes)/[^/]+/(?P<action>[^/]+)")


def _deadline(scope: Scope) -> float | None:
    """Seconds a staff action may take; None for any other request."""
    if scope["type"] != "http" or scope["method"] not in ("POST", "PUT"):
        return None
    action = _STAFF_ACTION.fullmatch(scope["path"])
    if action is None:
        return None
    deadline = scope["app"].state.settings.staff_action_deadline.total_seconds()
    # Click-to-call waits on Twilio, bounded by its HTTP timeout: cut short, it would answer 503 while the phone rings.
    return deadline + REQUEST_WORST_SECONDS if action["action"] == "call" else deadline


class StaffActionDeadline:
    """Every staff action answers within STAFF_ACTION_DEADLINE. A PostgreSQL or Temporal that hangs
    rather than refuses keeps none of its own timeouts (a frozen server answers nothing at all), so
    this side gives up: 503 with Retry-After, and the action is cancelled at its next step. A step
    already under way (a statement on a thread, an update Temporal has taken) still completes;
    retried with the same Idempotency-Key, the action is applied once."""

    def __init__(self, app: ASGIApp):
        self.app = app
        self._abandoned: set[asyncio.Task] = set()  # answered 503; kept until their last step ends

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        deadline = _deadline(scope)
        if deadline is None:
            await self.app(scope, receive, send)
            return
        answered = started = False

        async def send_unless_answered(message: Message) -> None:
            nonlocal started
            if not answered:
                started = True
                await send(message)

        # anyio's cancellation lets a step under way on a thread finish first, with the request's
        # database session, rather than closing that session under it.
        cancel = anyio.CancelScope()

        async def act() -> None:
            with cancel:
                await self.app(scope, receive, send_unless_answered)

        action = asyncio.ensure_future(act())
        try:
            await asyncio.wait({action}, timeout=deadline)
        except asyncio.CancelledError:  # the server is stopping: so is the action
            answered = True
            self._abandon(scope, action, cancel)
            raise
        if action.done() or started:
            await action  # done, or already answering
            return
        answered = True
        self._abandon(scope, action, cancel)
        request_id = scope["state"]["request_id"]
        log.warning("staff action not done within %g s: answered 503 [request %s]", deadline, request_id)
        message = (f"the action was not done within {deadline:g} s (the database or Temporal is not answering): "
                   "try again shortly with the same Idempotency-Key, and it is applied once")
        console_page = getattr(scope["app"].state, "console_unavailable", None)
        if console_page and scope["path"].startswith("/app/"):  # a person at a page, in their language
            await console_page(Request(scope), RETRY_AFTER_SECONDS)(scope, receive, send)
        else:
            await unavailable_response(message, request_id)(scope, receive, send)

    def _abandon(self, scope: Scope, action: asyncio.Task, cancel: anyio.CancelScope) -> None:
        cancel.cancel()
        self._abandoned.add(action)
        action.add_done_callback(lambda task: self._ended(scope, task))

    def _ended(self, scope: Scope, action: asyncio.Task) -> None:
        self._abandoned.discard(action)
        if not action.cancelled() and action.exception() is not None:
            _log_unhandled(scope, action.exception())
