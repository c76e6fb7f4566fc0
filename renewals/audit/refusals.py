"""Refused staff actions: a rejected workflow update leaves no history event, so the API records
each refusal here (who, what, why) and the audit timeline shows it."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime

from sqlmodel import Session

from models import RefusedAction, RenewalCase, Staff
from renewals.audit.timeline import asked_request


def refused_request(payload: object) -> dict:
    """What was asked, as JSON: ids, codes and enums only (no actor, no note: its text was dropped)."""
    fields = dataclasses.asdict(payload) if dataclasses.is_dataclass(payload) else {}
    return json.loads(json.dumps(asked_request(fields), default=str))


def record_refusal(session: Session, case: RenewalCase, staff: Staff, action: str, payload: object, reason: str,
                   at: datetime) -> None:
    session.add(RefusedAction(case_id=case.id, staff_id=staff.id, role=staff.role.value, action=action,
                              request=refused_request(payload), reason=reason[:500], at=at))
    session.commit()
