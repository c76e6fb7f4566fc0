"""Cover while away (顶岗): a salesperson (or their deputy, for them) records an absence with a
covering colleague of the same sub-branch. While it runs, the absent person's tasks show on the
cover's to-do panel instead of theirs (api.access.own_tasks substitutes at read time, so no task,
case or workflow changes); ownership, reports and commission stay with the owner. At its end the
tasks are back on the owner's panel by themselves. The case's audit timeline shows both moves
(renewals.audit.timeline, from this table)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ColumnElement, and_, or_
from sqlmodel import Session, select

from models import Role, Staff, StaffAbsence
from renewals.core.phones import FieldError


class AbsenceError(FieldError):
    """An absence that cannot be recorded as asked; the message names the field."""


def running(at: datetime) -> ColumnElement[bool]:
    return and_(StaffAbsence.starts_at <= at, StaffAbsence.ends_at > at)


def record_absence(session: Session, absent: Staff, cover: Staff | None, starts_at: datetime, ends_at: datetime,
                   by: Staff, now: datetime) -> StaffAbsence:
    if cover is None or not cover.active or cover.id == absent.id or cover.role != Role.sales \
            or cover.sub_branch_id != absent.sub_branch_id:
        raise AbsenceError("cover_id: the cover must be another active service manager of the same sub-branch")
    if ends_at <= starts_at:
        raise AbsenceError("ends_at: an absence ends after it starts")
    if ends_at <= now:
        raise AbsenceError("ends_at: the absence is already over")
    starts_at = max(starts_at, now)  # entered late, it runs from now: what has passed clashes with nothing
    overlapping = or_(StaffAbsence.staff_id.in_([absent.id, cover.id]), StaffAbsence.cover_id == absent.id)
    clash = session.exec(select(StaffAbsence.id).where(
        overlapping, StaffAbsence.starts_at < ends_at, StaffAbsence.ends_at > starts_at)).first()
    if clash is not None:
        raise AbsenceError("starts_at: it overlaps another absence of the absent person or the cover, or one the "
                           "absent person covers")
    absence = StaffAbsence(staff_id=absent.id, cover_id=cover.id, starts_at=starts_at, ends_at=ends_at,
                           recorded_by=by.id)
    session.add(absence)
    session.commit()
    session.refresh(absence)
    return absence


def end_absence(session: Session, absence: StaffAbsence, by: Staff, now: datetime) -> StaffAbsence | None:
    """Back early: a running absence ends now (its tasks return); one not begun yet is withdrawn (None)."""
    if absence.starts_at > now:
        session.delete(absence)
        session.commit()
        return None
    if absence.ends_at > now:
        absence.ends_at, absence.ended_by = now, by.id
        session.add(absence)
        session.commit()
        session.refresh(absence)
    return absence


def absences_of(session: Session, staff_id: uuid.UUID, now: datetime) -> list[StaffAbsence]:
    """The absences running or to come that a staff member is away in or covers."""
    return list(session.exec(select(StaffAbsence).where(
        or_(StaffAbsence.staff_id == staff_id, StaffAbsence.cover_id == staff_id), StaffAbsence.ends_at > now)
        .order_by(StaffAbsence.starts_at)).all())

