"""Managing the organisation tree and staff (used by the CLI, the demo and the admin API)."""

from __future__ import annotations

import uuid

from sqlalchemy import update
from sqlmodel import Session, select

from models import Branch, Role, Staff, SubBranch
from renewals.core.phones import FieldError, normalise_phone
from renewals.core.security import hash_password


class StaffError(FieldError):
    """Bad input for a staff or organisation change; the message names the field."""


def add_org(session: Session, *, branch_code: str, branch_name: str | None = None,
            sub_branch_code: str | None = None, sub_branch_name: str | None = None) -> tuple[Branch, SubBranch | None]:
    """Create (or find) a branch and optionally a sub-branch under it."""
    branch = session.exec(select(Branch).where(Branch.code == branch_code)).first()
    if branch is None:
        if not branch_name:
            raise StaffError(f"branch_name: branch {branch_code!r} does not exist yet, give its name")
        branch = Branch(code=branch_code, name=branch_name)
        session.add(branch)
        session.flush()
    sub = None
    if sub_branch_code:
        sub = session.exec(select(SubBranch).where(SubBranch.code == sub_branch_code)).first()
        if sub is None:
            if not sub_branch_name:
                raise StaffError(f"sub_branch_name: sub-branch {sub_branch_code!r} does not exist yet, give its name")
            sub = SubBranch(code=sub_branch_code, name=sub_branch_name, branch_id=branch.id)
            session.add(sub)
            session.flush()
        elif sub.branch_id != branch.id:
            raise StaffError(f"sub_branch_code: {sub_branch_code!r} belongs to another branch")
    return branch, sub


def sub_branch_codes(session: Session, ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not ids:
        return {}
    return dict(session.exec(select(SubBranch.id, SubBranch.code).where(SubBranch.id.in_(list(ids)))).all())


def add_staff(session: Session, *, username: str, name: str, role: Role | str, phone: str,
              sub_branch_code: str | None = None, branch_code: str | None = None,
              handler_code: str | None = None, password: str | None = None) -> Staff:
    role = Role(role)
    if session.exec(select(Staff).where(Staff.username == username)).first():
        raise StaffError(f"username: {username!r} is taken")
    check_handler_code(session, handler_code, role)
    sub = branch = None
    if sub_branch_code:
        sub = session.exec(select(SubBranch).where(SubBranch.code == sub_branch_code)).first()
        if sub is None:
            raise StaffError(f"sub_branch: no sub-branch with code {sub_branch_code!r}")
        branch = session.get(Branch, sub.branch_id)
    elif branch_code:
        branch = session.exec(select(Branch).where(Branch.code == branch_code)).first()
        if branch is None:
            raise StaffError(f"branch: no branch with code {branch_code!r}")
    if role in (Role.sales, Role.deputy) and sub is None:
        raise StaffError(f"sub_branch: a {role.value} works in a sub-branch; give its code")
    if role in (Role.admin, Role.manager) and branch is None:
        raise StaffError(f"branch: a {role.value} works in a branch; give a branch or sub-branch code")
    staff = Staff(
        username=username, name=name, role=role, phone=normalise_phone(phone),
        branch_id=branch.id if branch else None, sub_branch_id=sub.id if sub else None, handler_code=handler_code,
        password_hash=hash_password(password) if password else None,
    )
    session.add(staff)
    session.flush()
    return staff


class HandlerCodeTaken(StaffError):
    """Another staff member has the 经办人 code (codes are unique across the company)."""


def check_handler_code(session: Session, code: str | None, role: Role, staff_id: uuid.UUID | None = None) -> None:
    """A 经办人 code as the book's column has it, for a service manager, and nobody else's."""
    if code is None:
        return
    if not (0 < len(code) <= 32 and code.isprintable()):
        raise StaffError("handler_code: 1-32 printable characters, as the book's 经办人 column has it")
    if role != Role.sales:
        raise StaffError("handler_code: only a service manager (sales) owns policies by 经办人 code")
    if session.exec(select(Staff.id).where(Staff.handler_code == code, Staff.id != staff_id)).first():
        raise HandlerCodeTaken("handler_code: another staff member has this 经办人 code")


def set_handler_code(session: Session, staff: Staff, code: str | None) -> Staff:
    """Give a service manager their 经办人 code (None takes it away): import rows of direct sales
    that name only the code are theirs from the next import on."""
    check_handler_code(session, code, staff.role, staff.id)
    staff.handler_code = code
    session.add(staff)
    session.commit()
    return staff


def find_staff(session: Session, username: str) -> Staff:
    staff = session.exec(select(Staff).where(Staff.username == username)).first()
    if staff is None:
        raise StaffError(f"username: no staff member {username!r}")
    return staff


def deactivate_staff(session: Session, staff: Staff) -> Staff:
    """Ends the staff member's sign-ins; renewals.ownership.service.deactivate calls it once no book
    is left (ownership stands on the organisation, not under it)."""
    staff.active = False
    session.add(staff)
    end_sessions(session, staff.id)
    session.commit()
    return staff


# New passwords: the rule `renewals staff add` applies in production, for everyone.
MIN_PASSWORD_LENGTH = 8


def end_sessions(session: Session, staff_id: uuid.UUID) -> None:
    """End every session (bearer token, console cookie) of the staff member, wherever it began:
    their tokens carry the version this moves on (atomically: concurrent ends both count)."""
    session.execute(update(Staff).where(Staff.id == staff_id).values(session_version=Staff.session_version + 1))


def sign_out_everywhere(session: Session, staff: Staff) -> None:
    """Signing out ends every session of theirs at once, not just the one signing out."""
    end_sessions(session, staff.id)
    session.commit()


def store_new_password(session: Session, staff: Staff, password_hash: str) -> None:
    """A new password (hashed by the caller, off the event loop) ends every earlier session;
    `staff` is read again, so a token issued next carries the new session version."""
    session.execute(update(Staff).where(Staff.id == staff.id).values(
        password_hash=password_hash, session_version=Staff.session_version + 1))
    session.commit()
    session.refresh(staff)
