"""The signed-in staff member and their to-do panel (待办任务)."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query
from sqlalchemy import and_, case, func, or_
from sqlmodel import select

from api.access import own_tasks
from api.deps import CurrentStaff, NowDep, SessionDep, SettingsDep
from api.errors import error_responses
from api.inputs import Day, Limit, Offset
from api.schemas import MeOut, TaskItem, TaskPage
from models import Branch, Customer, Note, Policy, RenewalCase, SigningIntent, SubBranch, Task, TaskState, Vehicle
from renewals.case.contract import Stage
from renewals.core.masking import mask_name, mask_phone, mask_plate

router = APIRouter(prefix="/me", tags=["me"])

# Missed tasks stay on the panel, first, for the day after their deadline, so what slipped
# yesterday is seen today; older ones are history (reports count them).
MISSED_SHOWN_FOR = timedelta(days=1)
# The to-do panel's rows at most, in the console and `renewals staff tasks`.
PANEL_ROWS = 200
# The longest a task stays open (a loss-reason task reported at T-60 is due at T+7): bounds the
# index range scanned for missed tasks.
LONGEST_TASK = timedelta(days=70)
# Among tasks due at the same time: high signing intent first (签单意向较高的客户要重点联络), then medium,
# then customers whose intent nobody recorded yet, then low.
INTENT_ORDER = case({SigningIntent.high: 0, SigningIntent.medium: 1, SigningIntent.low: 3},
                    value=RenewalCase.signing_intent, else_=2)

# What to do, per task kind and stage, as the seed's training material says it (中文 / English).
WHAT_TO_DO = {
    ("call", Stage.FIRST_CONTACT): "首次电话联系客户并记录结果;客户需要报价时才发报价短信;投诉立即转副经理 / "
                                   "first call: record the result; send a quote SMS only if the customer wants one",
    ("call", Stage.SECOND_CONTACT): "再次致电犹豫客户;拒接电话的客户发送报价短信 / "
                                    "call hesitating customers again; text a quote to those who refuse calls",
    ("call", Stage.THIRD_CONTACT): "每日电话跟进并设置跟进状态 / call daily and set the follow-up status",
    ("supervision", Stage.DEPUTY_SUPERVISION): "副经理介入督办,协助客户经理:成功出单,或设置跟进状态并写交接备注 / "
                                               "intervene personally and assist the manager: set success, or "
                                               "continue/failed with a hand-over note",
    ("call", Stage.FINAL_CONTACT): "每日电话跟进;每次联系后发送报价短信和服务请求短信 / "
                                   "call daily; after every contact send the quote and the service-request SMS",
    ("call", Stage.POST_EXPIRY): "客户已脱保,每天电话或短信联系一次;如已在他处续保,登记原因 / "
                                 "the policy has lapsed: call or text the customer once a day; if renewed "
                                 "elsewhere, report it",
}
WHAT_TO_DO_ANY_STAGE = {
    "complaint": "处理客户投诉并记录联系结果 / handle the customer's complaint and record the contact",
    "loss_reason": "客户已在他处续保:选择流失原因 / renewed elsewhere: choose the loss reason",
    "attention": "续保流程有一步未能完成(见案件详情),请处理 / the case could not do something (see its details): "
                 "sort it out",
    "find_number": "客户号码无法接通:查找可用号码并录入 / no working number: find one and enter it",
}


def what_to_do(kind: str, stage: str, proposal_no: str | None = None) -> str:
    if proposal_no and kind == "call":  # the customer accepted a quote: the proposal awaits payment
        return (f"待缴费:客户已接受报价,暂存单 {proposal_no};缴费出单后设置跟进状态“成功”并填写新保单号 / awaiting "
                f"payment on proposal {proposal_no}: once paid and issued, set success with the new policy number")
    return WHAT_TO_DO.get((kind, stage)) or WHAT_TO_DO_ANY_STAGE.get(kind, "联系客户 / contact the customer")


@router.get("", summary="Who I am", response_model=MeOut, responses=error_responses(401))
def me(staff: CurrentStaff, session: SessionDep) -> MeOut:
    branch = session.get(Branch, staff.branch_id) if staff.branch_id else None
    sub_branch = session.get(SubBranch, staff.sub_branch_id) if staff.sub_branch_id else None
    return MeOut(id=staff.id, username=staff.username, name=staff.name, role=staff.role, phone=staff.phone,
                 branch_code=branch.code if branch else None, sub_branch_code=sub_branch.code if sub_branch else None)


@router.get(
    "/tasks", summary="My to-do panel for a day: missed tasks first, then what is due",
    description="Tasks of my still-running cases: those open by the end of the day, and those missed (their day "
                "ended unhandled) on that day or the day before, missed first; among tasks due at the same time, "
                "high signing intent (签单意向) first. Customer name, phone and plate are masked.",
    response_model=TaskPage, responses=error_responses(401, 422),
)
def my_tasks(staff: CurrentStaff, session: SessionDep, settings: SettingsDep, now: NowDep,
             date: Day | None = Query(None, description="YYYY-MM-DD; default today in the company time zone"),
             limit: Limit = 50, offset: Offset = 0) -> TaskPage:
    zone = ZoneInfo(settings.timezone)
    day = date or now.astimezone(zone).date()
    day_start = datetime.combine(day, time(0), tzinfo=zone)
    day_end = day_start + timedelta(days=1)
    missed_since = day_start - MISSED_SHOWN_FOR
    # The projection expires a missed task only on the case's next change: until then it is open
    # past its deadline, and counts as missed all the same.
    missed = or_(Task.state == TaskState.expired, Task.due_at < now).label("missed")
    # One query, driven by ix_task_assignee_state_opens (assignee, state in (open, expired), opens_at range).
    rows = session.exec(
        select(Task, RenewalCase.policy_no, RenewalCase.proposal_no, RenewalCase.signing_intent, Customer.name,
               Customer.phone, Vehicle.plate, missed, Note.body,
               func.count().over().label("total"))
        .join(RenewalCase, RenewalCase.id == Task.case_id)
        .join(Policy, Policy.id == RenewalCase.policy_id)
        .join(Customer, Customer.id == Policy.customer_id)
        .join(Vehicle, Vehicle.id == Policy.vehicle_id)
        .outerjoin(Note, Note.id == Task.handover_note_id)
        .where(own_tasks(staff), Task.opens_at < day_end, RenewalCase.outcome.is_(None),
               or_(and_(Task.state == TaskState.open, Task.due_at >= now),
                   and_(Task.state.in_([TaskState.open, TaskState.expired]), Task.due_at > missed_since,
                        Task.opens_at >= missed_since - LONGEST_TASK)))
        .order_by(missed.desc(), Task.due_at, INTENT_ORDER, Task.opens_at, Task.id)
        .limit(limit).offset(offset)
    ).all()
    items = [
        TaskItem(task_id=task.id, case_id=task.case_id, policy_no=policy_no, stage=task.stage, kind=task.kind,
                 day=task.day, what_to_do=what_to_do(task.kind, task.stage, proposal_no), opens_at=task.opens_at,
                 due_at=task.due_at, missed=is_missed, customer_name=mask_name(name),
                 customer_phone=mask_phone(phone), plate=mask_plate(plate), handover_note=handover,
                 signing_intent=intent)
        for task, policy_no, proposal_no, intent, name, phone, plate, is_missed, handover, _ in rows
    ]
    return TaskPage(date=day, items=items, total=rows[0].total if rows else 0, limit=limit, offset=offset)
