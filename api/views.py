"""What staff read, scoped and masked by api.access, for the API's routes and the console's pages
alike: the cases in their scope, one case with its workflow's live state, the unified customer view
(统一客户视图) and the to-do panel (待办任务)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, or_
from sqlmodel import Session, select
from temporalio.client import Client, WorkflowQueryFailedError
from temporalio.service import RPCError

from api.access import (
    CustomerVisibility, case_scope, identity_visible, log_full_view, log_own_panel_views, own_tasks,
)
from api.deps import read_then_release
from api.schemas import quotes_of
from api.schemas import (
    CasePage, CaseStatus, CaseView, ContactOut, ContactPerson, CustomerView, LapseRisk, NoteOut, PolicyOut, TaskItem,
    TaskPage, VehicleOut,
)
from models import (
    ContactRecord, Customer, LapseScore, Note, Policy, RenewalCase, SigningIntent, Staff, Task, TaskState, Vehicle,
)
from renewals.case.contract import Outcome, Stage, TaskKind
from renewals.core.masking import mask_id_number, mask_name, mask_phone, mask_plate, mask_text
from renewals.core.settings import Settings
from renewals.case import contract as c

QUERY_TIMEOUT = timedelta(seconds=5)


# --- cases ---------------------------------------------------------------------------------------------


def _case_filters(staff: Staff, stage: Stage | None, status: CaseStatus | None, outcome: Outcome | None,
                  owner: uuid.UUID | None) -> list:
    where = [case_scope(staff)]
    if stage:
        where.append(RenewalCase.stage == stage)
    if status:
        where.append(RenewalCase.outcome.is_(None) if status is CaseStatus.open else RenewalCase.outcome.is_not(None))
    if outcome:
        where.append(RenewalCase.outcome == outcome)
    if owner:
        where.append(RenewalCase.owner_id == owner)
    return where


def cases_in_scope(session: Session, staff: Staff, *, stage: Stage | None = None, status: CaseStatus | None = None,
                   outcome: Outcome | None = None, owner: uuid.UUID | None = None, limit: int = 50,
                   offset: int = 0) -> CasePage:
    rows = session.exec(select(RenewalCase, func.count().over())
                        .where(*_case_filters(staff, stage, status, outcome, owner))
                        .order_by(RenewalCase.expiry_date, RenewalCase.id).limit(limit).offset(offset)).all()
    return CasePage(items=[row[0] for row in rows], total=rows[0][1] if rows else 0, limit=limit, offset=offset)


@dataclass(frozen=True)
class CaseRow:
    """A case list's row: the case, its customer and plate as the reader may see them, its owner's name."""

    case: RenewalCase
    customer_name: str | None
    plate: str | None
    owner_name: str | None


CASE_SORTS = {
    "expiry": (RenewalCase.expiry_date, RenewalCase.id),
    "-expiry": (RenewalCase.expiry_date.desc(), RenewalCase.id),
    "policy": (RenewalCase.policy_no, RenewalCase.id),
    "stage": (RenewalCase.stage, RenewalCase.expiry_date, RenewalCase.id),
}


def search_cases(session: Session, staff: Staff, *, q: str | None = None, stage: Stage | None = None,
                 status: CaseStatus | None = None, sort: str = "expiry", limit: int = 50,
                 offset: int = 0) -> tuple[list[CaseRow], int]:
    """The cases in the reader's scope matching `q`: a policy number or plate (any part), or the
    customer's name for readers who see names in full."""
    where = _case_filters(staff, stage, status, None, None)
    identity = identity_visible(staff)
    if q:
        pattern = f"%{q.strip().replace(' ', '').upper()}%"
        found = [func.upper(RenewalCase.policy_no).like(pattern), func.upper(Vehicle.plate).like(pattern)]
        if identity:
            found.append(Customer.name.like(f"%{q.strip()}%"))
        where.append(or_(*found))
    rows = session.exec(
        select(RenewalCase, Customer.name, Vehicle.plate, Staff.name, func.count().over())
        .join(Policy, Policy.id == RenewalCase.policy_id)
        .join(Customer, Customer.id == Policy.customer_id)
        .join(Vehicle, Vehicle.id == Policy.vehicle_id)
        .outerjoin(Staff, Staff.id == RenewalCase.owner_id)
        .where(*where).order_by(*CASE_SORTS.get(sort, CASE_SORTS["expiry"])).limit(limit).offset(offset)
    ).all()
    shown = [CaseRow(case, name if identity else mask_name(name), plate if identity else mask_plate(plate), owner)
             for case, name, plate, owner, _ in rows]
    return shown, rows[0][-1] if rows else 0


async def case_view(case: RenewalCase, session: Session, client: Client, now: datetime) -> CaseView:
    # The database first, its transaction ended: no connection waits while the workflow answers.
    policy = await read_then_release(session, Session.get, Policy, case.policy_id)
    try:
        state = await client.get_workflow_handle(case.workflow_id).query(
            "state", now, result_type=c.CaseState, rpc_timeout=QUERY_TIMEOUT)
    except (RPCError, WorkflowQueryFailedError):
        state = None  # the projection still answers while Temporal cannot
    return CaseView(case=case, state=state, customer_id=policy.customer_id)


# --- the unified customer view ---------------------------------------------------------------------------


def _identity(value: str | None, mask, seen: CustomerVisibility) -> str | None:
    return value if seen.identity else mask(value)


def customer_view(session: Session, customer: Customer, seen: CustomerVisibility, today: date) -> CustomerView:
    phone = (lambda number: number) if seen.contact else mask_phone

    def _text(text: str | None) -> str | None:
        """Free text (SMS bodies, notes) carries names, phones, plates and id numbers."""
        return mask_text(text, contact=seen.contact, identity=seen.identity, names=[customer.name])

    def _person(person: dict[str, str]) -> ContactPerson:
        """A family member or the proxy: their phone as the customer's own, their name as an identity."""
        return ContactPerson(name=_identity(person.get("name"), mask_name, seen), relation=_text(person.get("relation")),
                             phone=phone(person.get("phone")))

    policies = session.exec(select(Policy).where(Policy.customer_id == customer.id)
                            .order_by(Policy.expires_on.desc())).all()
    vehicles = session.exec(select(Vehicle).where(Vehicle.customer_id == customer.id)).all()
    cases = session.exec(select(RenewalCase).where(RenewalCase.policy_id.in_([p.id for p in policies]))
                         .order_by(RenewalCase.expiry_date.desc())).all()
    contacts = session.exec(select(ContactRecord, Note.body).outerjoin(Note, Note.id == ContactRecord.note_id)
                            .where(ContactRecord.customer_id == customer.id)
                            .order_by(ContactRecord.created_at.desc())).all()
    notes = session.exec(select(Note).where(Note.case_id.in_([case.id for case in cases]))
                         .order_by(Note.created_at.desc())).all()
    log_full_view(session, customer, seen)
    return CustomerView(
        id=customer.id, name=_identity(customer.name, mask_name, seen), id_number=mask_id_number(customer.id_number),
        phone=phone(customer.phone), other_phones=[phone(number) for number in customer.other_phones],
        corrected_phone=customer.corrected_phone if seen.corrected_phone else None,
        has_corrected_phone=customer.corrected_phone is not None, phone_unreachable=customer.phone_unreachable,
        sms_opt_out=customer.sms_opt_out, do_not_call_until=customer.do_not_call_until,
        blacklisted=customer.blacklisted, language=customer.language,
        family=[_person(member) for member in customer.family],
        proxy=_person(customer.proxy) if customer.proxy else None,
        vehicles=[VehicleOut(id=v.id, plate=_identity(v.plate, mask_plate, seen),
                             vin=_identity(v.vin, mask_plate, seen), model_code=v.model_code,
                             model_confirmed=v.model_confirmed, first_registered_on=v.first_registered_on)
                  for v in vehicles],
        policies=[PolicyOut.model_validate(p, from_attributes=True) for p in policies],
        cases=list(cases),
        contacts=[ContactOut(id=r.id, case_id=r.case_id, staff_id=r.staff_id, recipient=r.recipient,
                             channel=r.channel, direction=r.direction, number=r.masked_number, template=r.template,
                             body=_text(r.body), delivery_status=r.delivery_status, error_code=r.error_code,
                             duration_seconds=r.duration_seconds, recording_url=r.recording_url, result=r.result,
                             note=_text(note), at=r.sent_at or r.created_at)
                  for r, note in contacts],
        notes=[NoteOut(id=n.id, case_id=n.case_id, author_id=n.author_id, body=_text(n.body),
                       created_at=n.created_at) for n in notes],
        quotes=quotes_of(session, [case.id for case in cases], today),
    )


# --- the to-do panel -----------------------------------------------------------------------------------


# Missed tasks stay on the panel, first, for the day after their deadline, so what slipped
# yesterday is seen today; older ones are history (reports count them).
MISSED_SHOWN_FOR = timedelta(days=1)
# The to-do panel's rows at most, in the console and `renewals staff tasks`.
PANEL_ROWS = 200
# The longest a task stays open (a loss-reason task reported at T-60 is due at T+7): bounds the
# index range scanned for missed tasks.
LONGEST_TASK = timedelta(days=70)
# Among tasks due at the same time: the likeliest to lapse first (unscored last), then high signing
# intent (签单意向较高的客户要重点联络), then medium, then customers whose intent nobody recorded yet,
# then low.
RISK_ORDER = LapseScore.score.desc().nulls_last()
INTENT_ORDER = case({SigningIntent.high: 0, SigningIntent.medium: 1, SigningIntent.low: 3},
                    value=RenewalCase.signing_intent, else_=2)

# What to do, per task kind and stage, as the seed's training material says it (中文 / English).
WHAT_TO_DO = {
    (TaskKind.call, Stage.FIRST_CONTACT): "首次电话联系客户并记录结果；客户需要报价时才发报价短信；投诉立即转副经理 / "
                                   "first call: record the result; send a quote SMS only if the customer wants one",
    (TaskKind.call, Stage.SECOND_CONTACT): "再次致电犹豫客户；拒接电话的客户发送报价短信 / "
                                    "call hesitating customers again; text a quote to those who refuse calls",
    (TaskKind.call, Stage.THIRD_CONTACT): "每日电话跟进并设置跟进状态 / call daily and set the follow-up status",
    (TaskKind.supervision, Stage.DEPUTY_SUPERVISION): "副经理介入督办，协助客户经理：成功出单，或设置跟进状态并写交接备注 / "
                                               "intervene personally and assist the manager: set success, or "
                                               "continue/failed with a hand-over note",
    (TaskKind.call, Stage.FINAL_CONTACT): "每日电话跟进；每次联系后发送报价短信和服务请求短信 / "
                                   "call daily; after every contact send the quote and the service-request SMS",
    (TaskKind.call, Stage.POST_EXPIRY): "客户已脱保，每天电话或短信联系一次；如已在他处续保，登记原因 / "
                                 "the policy has lapsed: call or text the customer once a day; if renewed "
                                 "elsewhere, report it",
}
WHAT_TO_DO_ANY_STAGE = {
    TaskKind.complaint: "处理客户投诉并记录联系结果 / handle the customer's complaint and record the contact",
    TaskKind.loss_reason: "客户已在他处续保：选择流失原因 / renewed elsewhere: choose the loss reason",
    TaskKind.attention: "续保流程有一步未能完成（见案件详情），请处理 / the case could not do something (see its details): "
                          "sort it out",
    TaskKind.find_number: "客户号码无法接通：查找可用号码并录入 / no working number: find one and enter it",
}


def what_to_do(kind: str, stage: str, proposal_no: str | None = None) -> str:
    if proposal_no and kind == TaskKind.call:  # the customer accepted a quote: the proposal awaits payment
        return (f"待缴费：客户已接受报价，暂存单 {proposal_no}；缴费出单后设置跟进状态“成功”并填写新保单号 / awaiting "
                f"payment on proposal {proposal_no}: once paid and issued, set success with the new policy number")
    return WHAT_TO_DO.get((kind, stage)) or WHAT_TO_DO_ANY_STAGE.get(kind, "联系客户 / contact the customer")


def todo_panel(session: Session, staff: Staff, settings: Settings, now: datetime, day: date | None = None,
               limit: int = PANEL_ROWS, offset: int = 0, *, own_in_full: bool = False) -> TaskPage:
    """The staff member's tasks for a day (default today in the company time zone), with those of
    a colleague they cover while the colleague is away: missed first, then what is due."""
    zone = ZoneInfo(settings.timezone)
    day = day or now.astimezone(zone).date()
    day_start = datetime.combine(day, time(0), tzinfo=zone)
    day_end = day_start + timedelta(days=1)
    missed_since = day_start - MISSED_SHOWN_FOR
    # The projection expires a missed task only on the case's next change: until then it is open
    # past its deadline, and counts as missed all the same.
    missed = or_(Task.state == TaskState.expired, Task.due_at < now).label("missed")
    # One query, driven by ix_task_assignee_state_opens (assignee, state in (open, expired), opens_at range).
    rows = session.exec(
        select(Task, RenewalCase.policy_no, RenewalCase.proposal_no, RenewalCase.signing_intent,
               RenewalCase.owner_id, RenewalCase.expiry_date, Customer.name,
               Customer.phone, Vehicle.plate, missed, Note.body, LapseScore, Customer.id.label("customer_id"),
               func.count().over().label("total"))
        .join(RenewalCase, RenewalCase.id == Task.case_id)
        .join(Policy, Policy.id == RenewalCase.policy_id)
        .join(Customer, Customer.id == Policy.customer_id)
        .join(Vehicle, Vehicle.id == Policy.vehicle_id)
        .outerjoin(Note, Note.id == Task.handover_note_id)
        .outerjoin(LapseScore, LapseScore.case_id == Task.case_id)
        .where(own_tasks(staff, now), Task.opens_at < day_end, RenewalCase.outcome.is_(None),
               or_(and_(Task.state == TaskState.open, Task.due_at >= now),
                   and_(Task.state.in_([TaskState.open, TaskState.expired]), Task.due_at > missed_since,
                        Task.opens_at >= missed_since - LONGEST_TASK)))
        .order_by(missed.desc(), Task.due_at, RISK_ORDER, INTENT_ORDER, Task.opens_at, Task.id)
        .limit(limit).offset(offset)
    ).all()

    # With own_in_full (the console's panel) the owner works their own customers by name and number;
    # anyone else's (a deputy's complaint or supervision) stay masked.
    def shown(owner_id: uuid.UUID, value: str | None, mask) -> str | None:
        return value if own_in_full and owner_id == staff.id else mask(value)

    items = [
        TaskItem(task_id=task.id, case_id=task.case_id, policy_no=policy_no, stage=task.stage, kind=task.kind,
                 day=task.day, what_to_do=what_to_do(task.kind, task.stage, proposal_no), opens_at=task.opens_at,
                 due_at=task.due_at, missed=is_missed, expiry_date=expiry,
                 customer_name=shown(owner_id, name, mask_name), customer_phone=shown(owner_id, phone, mask_phone),
                 plate=shown(owner_id, plate, mask_plate), handover_note=handover,
                 signing_intent=intent, best_hour=risk.best_hour if risk else None,
                 lapse_risk=LapseRisk(score=risk.score, reasons=risk.reasons, model_version=risk.model_version)
                 if risk else None,
                 covering_for=task.assignee_id if task.assignee_id != staff.id else None)
        for task, policy_no, proposal_no, intent, owner_id, expiry, name, phone, plate, is_missed, handover, risk, *_
        in rows
    ]
    if own_in_full:
        log_own_panel_views(session, staff, {row.customer_id for row in rows if row.owner_id == staff.id and row.phone})
    return TaskPage(date=day, items=items, total=rows[0].total if rows else 0, limit=limit, offset=offset)


@dataclass
class CaseCard:
    """One case on the to-do panel with its tasks, in the panel's order. `urgent` puts it first: a
    complaint (the seed says 立即) or a policy that expires today."""

    first: TaskItem
    tasks: list[TaskItem]
    urgent: str | None

    @property
    def missed(self) -> bool:
        return any(task.missed for task in self.tasks)


def case_cards(page: TaskPage) -> list[CaseCard]:
    cards: dict[uuid.UUID, CaseCard] = {}
    for item in page.items:
        card = cards.setdefault(item.case_id, CaseCard(item, [], None))
        card.tasks.append(item)
    for card in cards.values():
        kinds = {task.kind for task in card.tasks}
        card.urgent = ("complaint" if "complaint" in kinds
                       else "expires_today" if card.first.expiry_date == page.date else None)
    return sorted(cards.values(), key=lambda card: card.urgent is None)  # stable: the panel's order within


def due_today(page: TaskPage, zone: str) -> int:
    """Tasks still to do whose deadline falls on the panel's day (not the missed, not later days')."""
    return sum(not task.missed and (task.due_at - timedelta(microseconds=1)).astimezone(ZoneInfo(zone)).date()
               <= page.date for task in page.items)
