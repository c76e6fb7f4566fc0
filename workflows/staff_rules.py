"""Who may act on an open renewal case, and why not (SPEC §2): the renewal workflow's validators
refuse with these reasons, and the console offers only the actions they allow. One rule, two
readers, both reading the case as `CaseState` shows it. None means allowed."""

from __future__ import annotations

import uuid

import renewals.case.contract as c
from renewals.case.contract import Stage

# Stages where the manager (or, under supervision, the deputy) sets `failed` or `continue`;
# `success` is allowed in every stage.
STAFF_STAGES_FOR_STATUS = (Stage.THIRD_CONTACT, Stage.DEPUTY_SUPERVISION)


def turn(stage: str, owner_id: uuid.UUID, deputy_id: uuid.UUID) -> uuid.UUID:
    """Whose turn it is to work the case: the deputy manager under supervision, else its manager."""
    return deputy_id if stage == Stage.DEPUTY_SUPERVISION else owner_id


def _turn(state: c.CaseState) -> uuid.UUID:
    return turn(state.stage, state.owner_id, state.deputy_id)


def _assists(actor_id: uuid.UUID, state: c.CaseState) -> bool:
    """Under supervision the deputy assists (协助) the manager, who is not locked out: the case's
    manager may still record contacts and `success`."""
    return state.stage == Stage.DEPUTY_SUPERVISION and actor_id == state.owner_id


def not_yours(state: c.CaseState) -> str:
    who = "the deputy manager" if state.stage == Stage.DEPUTY_SUPERVISION else "the case's service manager"
    return f"not your case to act on in {state.stage}: only {who} can"


def system_refusal(actor: c.Actor) -> str | None:
    """Every update: role `system` is the system's own identity (contract.SYSTEM_ACTORS), not a role
    anyone can claim, so a made-up id with it, sent straight to Temporal, is refused."""
    if actor.role is c.ActorRole.system and actor.id not in c.SYSTEM_ACTORS:
        return (f"{actor.id} is not the system's own actor: role system is accepted only from the system "
                f"itself (imports, the core policy system)")
    return None


def contact_refusal(actor_id: uuid.UUID, state: c.CaseState) -> str | None:
    """Recording a call or visit: whose turn it is, the manager under supervision, or the deputy
    while a complaint is open."""
    if state.renewed_elsewhere:
        return c.NO_MORE_CONTACT
    complaint = actor_id == state.deputy_id and any(task.kind == c.TaskKind.complaint for task in state.open_tasks)
    return None if actor_id == _turn(state) or complaint or _assists(actor_id, state) else not_yours(state)


def follow_up_refusal(actor_id: uuid.UUID, status: c.FollowUpStatus, state: c.CaseState, *,
                      noted: bool = True) -> str | None:
    """`noted`: a note comes with the status; the deputy's `continue`/`failed` hands the case back
    to the manager at T-7 with one."""
    if status is c.FollowUpStatus.success and _assists(actor_id, state):
        return None
    if actor_id != _turn(state):
        return not_yours(state)
    if status is c.FollowUpStatus.success:
        return None
    if state.stage not in STAFF_STAGES_FOR_STATUS:
        return (f"status {status.value!r} cannot be set in {state.stage}: only success is allowed "
                f"before THIRD_CONTACT (T-20) and after DEPUTY_SUPERVISION")
    if state.renewed_elsewhere:
        return "the customer renewed elsewhere: record the loss reason instead"
    if state.stage == Stage.DEPUTY_SUPERVISION and not noted:
        return (f"status {status.value!r} hands the case back to the service manager at T-7: add a hand-over "
                f"note (what was done, what to do next)")
    return None


def sms_refusal(actor_id: uuid.UUID, state: c.CaseState) -> str | None:
    """A quote or service-request SMS from staff."""
    if actor_id != _turn(state):
        return not_yours(state)
    if state.renewed_elsewhere:
        return c.NO_MORE_CONTACT
    if state.no_contact:
        return "the customer refused all contact (do-not-call list): no SMS and no calls"
    if state.sms_opted_out:
        return "the customer opted out of SMS (退订); call instead"
    return None


def renewed_elsewhere_refusal(actor_id: uuid.UUID, state: c.CaseState, *, by_system: bool = False) -> str | None:
    """By the case's manager, whoever's turn it is, or the core system's data (`by_system`)."""
    if state.renewed_elsewhere:
        return "renewed elsewhere was already reported for this case"
    return None if by_system or actor_id in (state.owner_id, _turn(state)) else not_yours(state)


def loss_reason_refusal(actor_id: uuid.UUID, state: c.CaseState) -> str | None:
    if not state.renewed_elsewhere:
        return "a loss reason can only be recorded after renewed elsewhere is reported"
    return None if actor_id == state.owner_id else not_yours(state)
