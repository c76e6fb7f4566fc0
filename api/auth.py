"""Signing in: OAuth2 password flow, Argon2 password hashes, HS256 JWTs that expire.

Tokens carry the staff id and the staff member's session version; role, scope, whether the account
is still active and the current session version are read from the database on every request (one
read by primary key), so a deactivation, a role change, signing out or a new password takes effect
at once. Token expiry is real (wall-clock) time, not the business clock the API otherwise runs on.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import jwt
from sqlmodel import Session, select

from api.errors import ApiError
from models import Staff
from renewals.dev.demo_users import is_demo_username
from renewals.core.security import hash_password, verify_password
from renewals.core.settings import Settings

ALGORITHM = "HS256"
# Verified when the username is unknown, so a wrong username costs as long as a wrong password.
_DUMMY_HASH = hash_password("not-a-password")


def unauthenticated(message: str) -> ApiError:
    return ApiError(401, message, headers={"WWW-Authenticate": "Bearer"})


def refuse_demo_in_prod(username: str, settings: Settings) -> None:
    """Demo accounts (password `demo`) never sign in under ENVIRONMENT=prod, even on a database
    that once ran `renewals dev --demo`."""
    if settings.environment == "prod" and is_demo_username(username):
        raise unauthenticated("demo accounts cannot sign in with ENVIRONMENT=prod")


def staff_signing_in(session: Session, username: str) -> Staff | None:
    return session.exec(select(Staff).where(Staff.username == username)).first()


def authenticate(staff: Staff | None, username: str, password: str, settings: Settings) -> Staff:
    """The staff member `username` names (read by staff_signing_in), if `password` is theirs: the
    password check alone, no database, so it can run on a hashing thread holding no connection."""
    refuse_demo_in_prod(username, settings)
    valid = verify_password(password, staff.password_hash if staff and staff.password_hash else _DUMMY_HASH)
    if staff is None or not staff.password_hash or not valid:
        raise unauthenticated("wrong username or password")
    if not staff.active:
        raise unauthenticated("this account is deactivated")
    return staff


def issue_token(staff: Staff, settings: Settings) -> tuple[str, datetime]:
    now = datetime.now(UTC)
    expires_at = now + timedelta(minutes=settings.jwt_expire_minutes)
    claims = {"sub": str(staff.id), "ver": staff.session_version, "iat": now, "exp": expires_at}
    return jwt.encode(claims, settings.jwt_secret, algorithm=ALGORITHM), expires_at


def token_claims(token: str, settings: Settings) -> tuple[uuid.UUID, int]:
    """The staff id and the session version a token was issued under."""
    try:
        claims = jwt.decode(token, settings.jwt_secret, algorithms=[ALGORITHM],
                            options={"require": ["sub", "ver", "exp"]})
        if not isinstance(claims["ver"], int):
            raise ValueError("ver")
        return uuid.UUID(claims["sub"]), claims["ver"]
    except jwt.ExpiredSignatureError:
        raise unauthenticated("the sign-in has expired: sign in again") from None
    except (jwt.InvalidTokenError, ValueError):
        raise unauthenticated("the bearer token is not valid") from None
