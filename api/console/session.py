"""The console's sign-in session, CSRF protection and language choice.

The session cookie carries the same signed token as the API's bearer header (api.auth), so a
deactivation, a role change, signing out (here or in the API) or a new password takes effect at
once here too. It is HttpOnly (no script reads it), SameSite=Lax (not sent on cross-site posts)
and Secure in production.

CSRF: every form carries a token that is an HMAC of a random per-browser nonce kept in its own
HttpOnly cookie (signed double submit). A post without the matching token is refused, even from
a browser that holds a valid session. The nonce is renewed at sign-in, so a nonce planted before
sign-in is useless after it. Pages are gzipped and some reflect what was typed, so the token is
never shown twice alike (BREACH): each render carries it XORed with a fresh random pad, pad first.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import quote, unquote
from typing import Annotated

from fastapi import Depends, Request, Response
from starlette.datastructures import FormData

from api.deps import SessionDep, SettingsDep, staff_for_token
from api.errors import ApiError
from models import Staff
from renewals.core.settings import Settings

SESSION_COOKIE = "console_session"
CSRF_COOKIE = "console_csrf"
LANG_COOKIE = "console_lang"
# What the last action did, shown once on the page it redirected to (post/redirect/get): a reload
# shows the page, not the confirmation again.
DONE_COOKIE = "console_done"
CSRF_FIELD = "csrf_token"
LANGUAGES = ("zh", "en")
COOKIE_PATH = "/app"


class SignInRequired(Exception):
    """Raised by console pages when nobody (valid) is signed in: answered with a redirect."""

    def __init__(self, reason: str | None = None):
        super().__init__(reason)
        self.reason = reason


class CsrfRefused(Exception):
    """A form post without the token this browser was given."""


def _cookie(response: Response, settings: Settings, name: str, value: str, *, max_age: int | None,
            http_only: bool = True) -> None:
    response.set_cookie(name, value, max_age=max_age, path=COOKIE_PATH, httponly=http_only, samesite="lax",
                        secure=settings.environment == "prod")


def start_session(response: Response, settings: Settings, token: str) -> None:
    _cookie(response, settings, SESSION_COOKIE, token, max_age=settings.jwt_expire_minutes * 60)
    give_nonce(response, settings, secrets.token_urlsafe(32))


def end_session(response: Response) -> None:
    for name in (SESSION_COOKIE, CSRF_COOKIE):
        response.delete_cookie(name, path=COOKIE_PATH)


def set_language(response: Response, settings: Settings, language: str) -> None:
    _cookie(response, settings, LANG_COOKIE, language, max_age=365 * 86400)


def tell_done(response: Response, settings: Settings, done: str, detail: str) -> None:
    _cookie(response, settings, DONE_COOKIE, quote(f"{done}|{detail}"), max_age=120)


def take_done(request: Request) -> tuple[str | None, str]:
    """What the last action did, and its detail; the page that shows it calls forget_done."""
    value = request.cookies.get(DONE_COOKIE)
    if value is None:
        return None, ""
    done, _, detail = unquote(value).partition("|")
    return done, detail[:40]


def forget_done(response: Response) -> None:
    """Shown once: a reload does not repeat what the last action did."""
    response.delete_cookie(DONE_COOKIE, path=COOKIE_PATH)


def language(request: Request) -> str:
    chosen = request.cookies.get(LANG_COOKIE)
    return chosen if chosen in LANGUAGES else LANGUAGES[0]


def _csrf_for(nonce: str, settings: Settings) -> bytes:
    return hmac.new(settings.jwt_secret.encode(), f"console-csrf:{nonce}".encode(), hashlib.sha256).digest()


def _xor(pad: bytes, data: bytes) -> bytes:
    return bytes(a ^ b for a, b in zip(pad, data, strict=True))


def form_token(request: Request, settings: Settings) -> tuple[str, str | None]:
    """The token for this browser's forms, masked anew, and a new nonce to set when the browser has none yet."""
    nonce = request.cookies.get(CSRF_COOKIE)
    fresh = None if nonce else secrets.token_urlsafe(32)
    token = _csrf_for(nonce or fresh, settings)
    pad = secrets.token_bytes(len(token))
    return (pad + _xor(pad, token)).hex(), fresh


def give_nonce(response: Response, settings: Settings, nonce: str) -> None:
    _cookie(response, settings, CSRF_COOKIE, nonce, max_age=None)


def check_csrf(request: Request, form: FormData, settings: Settings) -> None:
    nonce, sent = request.cookies.get(CSRF_COOKIE), form.get(CSRF_FIELD)
    if not nonce or not isinstance(sent, str):
        raise CsrfRefused()
    token = _csrf_for(nonce, settings)
    try:
        masked = bytes.fromhex(sent)
    except ValueError:
        raise CsrfRefused() from None
    if len(masked) != 2 * len(token) or not hmac.compare_digest(_xor(masked[:len(token)], masked[len(token):]), token):
        raise CsrfRefused()


def console_staff(request: Request, session: SessionDep, settings: SettingsDep) -> Staff:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise SignInRequired()
    try:
        return staff_for_token(token, session, settings)
    except ApiError as exc:  # expired, forged, or the account was deactivated
        raise SignInRequired(exc.message) from None


ConsoleStaff = Annotated[Staff, Depends(console_staff)]
