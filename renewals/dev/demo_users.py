"""Demo sign-ins for `renewals dev --demo`: one account per role, password `demo`. Never in prod."""

from __future__ import annotations

from sqlmodel import Session, select

from models import Role, Staff
from renewals.core.settings import Settings, get_settings
from renewals.org.service import add_staff

DEMO_PASSWORD = "demo"
# username, name, role, phone (valid mainland mobile numbers, so add_staff accepts them)
DEMO_USERS: tuple[tuple[str, str, Role, str], ...] = (
    ("demo-sales-1", "张伟", Role.sales, "+8613800000101"),
    ("demo-sales-2", "王芳", Role.sales, "+8613800000102"),
    ("demo-sales-3", "李娜", Role.sales, "+8613800000103"),
    ("demo-deputy", "刘洋", Role.deputy, "+8613800000104"),
    ("demo-admin", "陈静", Role.admin, "+8613800000105"),
    ("demo-manager", "杨磊", Role.manager, "+8613800000106"),
    ("demo-auditor", "赵敏", Role.auditor, "+8613800000107"),
)


_DEMO_USERNAMES = frozenset(username for username, *_ in DEMO_USERS)


def is_demo_username(username: str) -> bool:
    return username in _DEMO_USERNAMES


class DemoRefused(RuntimeError):
    """Demo accounts with a known password must never exist in production."""


def create_demo_users(session: Session, sub_branch_code: str, branch_code: str,
                      settings: Settings | None = None) -> list[str]:
    """Create the demo staff that do not exist yet (sales and deputy in the sub-branch, admin and
    manager in the branch, the auditor company-wide) and return every demo username. Idempotent:
    accounts already there are left as they are. The caller commits."""
    settings = settings or get_settings()
    if settings.environment == "prod":
        raise DemoRefused("refusing to create demo users with password 'demo' in ENVIRONMENT=prod")
    existing = set(session.exec(select(Staff.username).where(Staff.username.in_([u[0] for u in DEMO_USERS]))).all())
    for username, name, role, phone in DEMO_USERS:
        if username in existing:
            continue
        codes = {"sub_branch_code": sub_branch_code} if role in (Role.sales, Role.deputy) else (
            {"branch_code": branch_code} if role in (Role.admin, Role.manager) else {})
        add_staff(session, username=username, name=name, role=role, phone=phone, password=DEMO_PASSWORD, **codes)
    return [username for username, *_ in DEMO_USERS]
