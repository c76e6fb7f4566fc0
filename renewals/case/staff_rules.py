"""Who may act on an open renewal case, and why not (SPEC §2): the renewal workflow's validators
refuse with these reasons, and the console offers only the actions they allow. One rule, two
readers, both reading the case as `CaseState` shows it. None means allowed. Whose turn it is in a
stage and the statuses staff may set there are the stage table's (renewals/case/stages.py)."""

from __future__ import annotations

import uuid

import renewals.case.contract as c
from renewals.case.calendar import t_day
from renewals.case.stages import STAGE_TABLE, StageTable


def turn(stage: str, owner_id: uuid.UUID, deputy_id: uuid.UUID, table: StageTable = STAGE_TABLE) -> uuid.UUID:
    """Whose turn it is to work the case: the deputy manager under supervision, else its manager."""
    return deputy_id if _supervised(stage, table) else owner_id


def _supervised(stage: str, table: StageTable) -> bool:
    return table[stage].who == "deputy"


def _turn(state: c.CaseState, table: StageTable) -> uuid.UUID:
    return turn(state.stage, state.owner_id, state.deputy_id, table)


def _assists(actor_id: uuid.UUID, state: c.CaseState, table: StageTable) -> bool:
    """Under supervision the deputy assists (协助) the manager, who is not locked out: the case's
    manager may still record contacts and `success`."""
    return _supervised(state.stage, table) and actor_id == state.owner_id


def not_yours(state: c.CaseState, table: StageTable = STAGE_TABLE) -> str:
    who = "the deputy manager" if _supervised(state.stage, table) else "the case's service manager"
    return f"not your case to act on in {state.stage}: only {who} can"


def actor_refusal(actor: c.Actor) -> str | None:
    """Every update: role `system` is the system's own identity (contract.SYSTEM_ACTORS), not a role
    anyone can claim, so a made-up id with it, sent straight to Temporal, is refused. Only a
    service manager covers (顶岗) another, never themselves."""
    if actor.role is c.ActorRole.system and actor.id not in c.SYSTEM_ACTORS:
        return (f"{actor.id} is not the system's own actor: role system is accepted only from the system "
                f"itself (imports, the core policy system)")
    if actor.covering_for is not None and (actor.role is not c.ActorRole.sales or actor.covering_for == actor.id):
        return "only a service manager covers an absent colleague, and never themselves"
    return None


def contact_refusal(actor_id: uuid.UUID, state: c.CaseState, table: StageTable = STAGE_TABLE) -> str | None:
    """Recording a call or visit: whose turn it is, the manager under supervision, or the deputy
    while a complaint is open."""
    if state.renewed_elsewhere:
        return c.NO_MORE_CONTACT
    complaint = actor_id == state.deputy_id and any(task.kind == c.TaskKind.complaint for task in state.open_tasks)
    if actor_id == _turn(state, table) or complaint or _assists(actor_id, state, table):
        return None
    return not_yours(state, table)


def follow_up_refusal(actor_id: uuid.UUID, status: c.FollowUpStatus, state: c.CaseState, *,
                      noted: bool = True, table: StageTable = STAGE_TABLE) -> str | None:
    """`noted`: a note comes with the status; the deputy's `continue`/`failed` hands the case back
    to the manager with one when the next window opens. `success` is allowed in every stage."""
    if status is c.FollowUpStatus.success and _assists(actor_id, state, table):
        return None
    if actor_id != _turn(state, table):
        return not_yours(state, table)
    if status is c.FollowUpStatus.success:
        return None
    if status not in table[state.stage].statuses:
        allowed = [row for row in table if status in row.statuses]
        return (f"status {status.value!r} cannot be set in {state.stage}: only success is allowed before "
                f"{allowed[0].stage} ({t_day(allowed[0].opens)}) and after {allowed[-1].stage}")
    if state.renewed_elsewhere:
        return "the customer renewed elsewhere: record the loss reason instead"
    if _supervised(state.stage, table) and not noted:
        back_at = t_day(table.window(state.stage)[1] + 1)
        return (f"status {status.value!r} hands the case back to the service manager at {back_at}: add a hand-over "
                f"note (what was done, what to do next)")
    return None


def sms_refusal(actor_id: uuid.UUID, state: c.CaseState, table: StageTable = STAGE_TABLE) -> str | None:
    """A quote or service-request SMS from staff."""
    if actor_id != _turn(state, table):
        return not_yours(state, table)
    if state.renewed_elsewhere:
        return c.NO_MORE_CONTACT
    if state.no_contact:
        return "the customer refused all contact (do-not-call list): no SMS and no calls"
    if state.sms_opted_out:
        return "the customer opted out of SMS (退订); call instead"
    return None


def renewed_elsewhere_refusal(actor_id: uuid.UUID, state: c.CaseState, *, by_system: bool = False,
                              table: StageTable = STAGE_TABLE) -> str | None:
    """By the case's manager, whoever's turn it is, or the core system's data (`by_system`)."""
    if state.renewed_elsewhere:
        return "renewed elsewhere was already reported for this case"
    return None if by_system or actor_id in (state.owner_id, _turn(state, table)) else not_yours(state, table)


def loss_reason_refusal(actor_id: uuid.UUID, state: c.CaseState, table: StageTable = STAGE_TABLE) -> str | None:
    if not state.renewed_elsewhere:
        return "a loss reason can only be recorded after renewed elsewhere is reported"
    return None if actor_id == state.owner_id else not_yours(state, table)
