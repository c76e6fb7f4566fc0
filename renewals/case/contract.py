"""Every type the renewal workflows, their activities and the API share: the stable names of
SPEC §3 that other tools rely on (workflow type, ids, search attributes), the seed's stages,
outcomes and task kinds (SPEC §2), and the workflow's messages and query result.

Imported by the workflow (passed through its sandbox), the worker, the API, the models and the
CLI, so it holds nothing but stdlib and temporalio.common.
"""

from __future__ import annotations

import uuid
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from temporalio.common import SearchAttributeKey

WORKFLOW_TYPE = "PolicyRenewal"

# Case ids are derived from the workflow id, so the API, the projection and retries agree on them.
_CASE_NAMESPACE = uuid.UUID("5b0c6e2a-9a59-4f1e-8f0e-7d1c1a2b3c4d")


def renewal_workflow_id(policy_no: str, expiry_date: date) -> str:
    return f"renewal-{policy_no}-{expiry_date:%Y%m%d}"


def case_id_for(workflow_id: str) -> uuid.UUID:
    return uuid.uuid5(_CASE_NAMESPACE, workflow_id)


POLICY_NO = SearchAttributeKey.for_keyword("PolicyNo")
SERVICE_MANAGER = SearchAttributeKey.for_keyword("ServiceManager")
DEPUTY = SearchAttributeKey.for_keyword("Deputy")
BRANCH = SearchAttributeKey.for_keyword("Branch")
SUB_BRANCH = SearchAttributeKey.for_keyword("SubBranch")
RENEWAL_STAGE = SearchAttributeKey.for_keyword("RenewalStage")
FOLLOW_UP_STATUS = SearchAttributeKey.for_keyword("FollowUpStatus")
RENEWAL_OUTCOME = SearchAttributeKey.for_keyword("RenewalOutcome")
EXPIRY_DATE = SearchAttributeKey.for_datetime("ExpiryDate")
ESCALATED = SearchAttributeKey.for_bool("Escalated")

SEARCH_ATTRIBUTES: tuple[SearchAttributeKey, ...] = (
    POLICY_NO, SERVICE_MANAGER, DEPUTY, BRANCH, SUB_BRANCH,
    RENEWAL_STAGE, FOLLOW_UP_STATUS, RENEWAL_OUTCOME, EXPIRY_DATE, ESCALATED,
)


# --- The seed's table (SPEC §2) ---------------------------------------------------------------------


class Stage(StrEnum):
    WAITING = "WAITING"
    FIRST_CONTACT = "FIRST_CONTACT"
    SECOND_CONTACT = "SECOND_CONTACT"
    THIRD_CONTACT = "THIRD_CONTACT"
    DEPUTY_SUPERVISION = "DEPUTY_SUPERVISION"
    FINAL_CONTACT = "FINAL_CONTACT"
    POST_EXPIRY = "POST_EXPIRY"


class Outcome(StrEnum):
    RENEWED = "RENEWED"
    LOST = "LOST"
    LAPSED = "LAPSED"
    CLOSED = "CLOSED"


class TaskKind(StrEnum):
    call = "call"  # call the customer (one per window, or daily)
    supervision = "supervision"  # deputy intervenes on an escalated case
    complaint = "complaint"  # deputy handles a complaint
    loss_reason = "loss_reason"  # manager records why the customer renewed elsewhere
    attention = "attention"  # branch admin: something the case could not do (see Problem)
    find_number = "find_number"  # owner: no working number for the customer; enter a corrected phone


# --- Vocabulary of staff actions (SPEC §2, §3) -------------------------------------------------


class ContactResult(StrEnum):
    reached = "reached"
    no_answer = "no_answer"
    busy = "busy"
    wrong_number = "wrong_number"  # 电话有误
    refused = "refused"
    complaint = "complaint"  # 投诉: goes to the deputy at once
    # The customer refuses all contact: do-not-call list, no more calls or customer SMS.
    do_not_contact = "do_not_contact"


class FollowUpStatus(StrEnum):
    success = "success"  # paid and issued (以是否缴费出单为准)
    failed = "failed"  # needs the deputy's help
    continue_ = "continue"  # confident; keep it with the manager


class LossReason(StrEnum):
    price = "price"  # 价格
    claims = "claims"  # 理赔
    relationship = "relationship"  # 人情
    vehicle_transferred = "vehicle_transferred"
    vehicle_scrapped = "vehicle_scrapped"
    service = "service"
    other = "other"
    unknown = "unknown"  # nobody recorded a reason by the end of T+7


class CloseReason(StrEnum):
    policy_cancelled = "policy_cancelled"
    vehicle_scrapped = "vehicle_scrapped"
    vehicle_transferred = "vehicle_transferred"
    other = "other"


class Insurer(StrEnum):
    """Who the customer renewed with instead (codes only: staff free text goes in a note)."""

    picc = "picc"  # 中国人保财险
    ping_an = "ping_an"  # 平安产险
    cpic = "cpic"  # 太平洋产险
    china_life = "china_life"  # 国寿财险
    china_united = "china_united"  # 中华联合
    sunshine = "sunshine"  # 阳光财险
    taiping = "taiping"  # 太平财险
    dajia = "dajia"  # 大家财险
    tianan = "tianan"  # 天安财险
    zhongan = "zhongan"  # 众安保险
    other = "other"  # named in the note


INSURER_NAMES = {
    Insurer.picc: "中国人保财险", Insurer.ping_an: "平安产险", Insurer.cpic: "太平洋产险",
    Insurer.china_life: "国寿财险", Insurer.china_united: "中华联合", Insurer.sunshine: "阳光财险",
    Insurer.taiping: "太平财险", Insurer.dajia: "大家财险", Insurer.tianan: "天安财险",
    Insurer.zhongan: "众安保险", Insurer.other: "其他保险公司",
}


def insurer_name(code: str | None) -> str | None:
    """What staff read for an insurer code (cases recorded before the codes kept free text)."""
    return INSURER_NAMES.get(code, code) if code else code


class ActorRole(StrEnum):
    sales = "sales"
    deputy = "deputy"
    admin = "admin"
    system = "system"  # the system's own actors only (SYSTEM_ACTORS below)


class SystemComponent(StrEnum):
    """Who acted when no staff member did: named in signals and in the timeline."""

    intake = "intake"  # policy imports start cases
    core_system = "core_system"  # the core policy system: renewals issued, endorsements
    twilio_webhook = "twilio_webhook"  # delivery callbacks and inbound SMS (STOP/START)
    workflow = "workflow"  # the case's own clock: stage changes, escalation, automatic SMS
    archiver = "archiver"  # stores closed cases' histories in PostgreSQL


class Channel(StrEnum):
    call = "call"
    sms = "sms"
    visit = "visit"


# --- Workflow input, messages and query ---------------------------------------------------------
# Nothing personal here: ids, codes, dates and enums only. Free text lives in PostgreSQL (`note_id`).


@dataclass
class RenewalInput:
    policy_no: str
    expiry_date: date
    owner_id: uuid.UUID
    deputy_id: uuid.UUID
    branch: str
    sub_branch: str
    timezone: str = "Asia/Shanghai"
    escalate_without_status: bool = True
    day_seconds: int = 86400
    # Compressed days only: the instant that counts as 00:00 of the expiry day.
    clock_anchor: datetime | None = None
    # The system specialists (admins) of the case's branch when it started; kept current by the
    # `branch_admins` signal. Only they may close or reassign the case, and a needs-attention
    # task goes to the first. Cases started before this field existed have none recorded.
    admin_ids: list[uuid.UUID] = field(default_factory=list)
    # The customer is on the do-not-call list when the case starts: no calls and no customer SMS.
    do_not_contact: bool = False
    # Real days: the case wakes for a boundary at its policy's minute of the night before the window
    # opens, and sends the window's SMS at its minute of the morning (calendar.night_wake,
    # morning_sms_time), so a book does not wake in one minute. Cases started before: on the boundary.
    spread_wake_ups: bool = False


@dataclass
class Actor:
    id: uuid.UUID
    role: ActorRole
    # A cover (顶岗) working the case of the absent service manager named here, while the absence
    # runs (the API checks it): the staff rules see the manager, the records name who acted.
    covering_for: uuid.UUID | None = None

    @property
    def acts_as(self) -> uuid.UUID:
        """Whose turn and tasks this actor's action counts for."""
        return self.covering_for or self.id


# The system's own actors, for what no staff member does: fixed, well-known ids. Role `system` is
# theirs alone, not a role anyone can claim: every update refuses it with any other id.
# Imports and the daily intake run (an import naming a new manager, the deputy alignment):
INTAKE_ACTOR = Actor(id=uuid.UUID("00000000-0000-5000-8000-000000000001"), role=ActorRole.system)
# The core policy system's data (a renewal elsewhere it learnt of):
CORE_SYSTEM_ACTOR = Actor(id=uuid.UUID("00000000-0000-5000-8000-000000000002"), role=ActorRole.system)
SYSTEM_ACTORS: dict[uuid.UUID, SystemComponent] = {
    INTAKE_ACTOR.id: SystemComponent.intake, CORE_SYSTEM_ACTOR.id: SystemComponent.core_system,
}


@dataclass
class RecordContact:
    actor: Actor
    channel: Channel
    result: ContactResult
    note_id: uuid.UUID | None = None


@dataclass
class SetFollowUp:
    actor: Actor
    status: FollowUpStatus
    note_id: uuid.UUID | None = None
    new_policy_no: str | None = None


@dataclass
class ReportRenewedElsewhere:
    actor: Actor
    insurer: str  # an Insurer code (a str so histories recorded with free text still replay)
    reason: LossReason | None = None
    note_id: uuid.UUID | None = None


@dataclass
class RecordLossReason:
    actor: Actor
    reason: LossReason
    note_id: uuid.UUID | None = None


@dataclass
class Reassign:
    actor: Actor
    new_owner_id: uuid.UUID
    reason: str
    note_id: uuid.UUID | None = None


@dataclass
class ChangeDeputy:
    """The sub-branch's deputy manager changed: the case (and the deputy's open tasks) go to the new one."""

    actor: Actor
    new_deputy_id: uuid.UUID


@dataclass
class Close:
    actor: Actor
    reason: CloseReason
    note_id: uuid.UUID | None = None


@dataclass
class ResolveAttention:
    """The branch admin sorted out what the case could not do (see Problem): their task is done."""

    actor: Actor
    note_id: uuid.UUID | None = None


class StaffSmsTemplate(StrEnum):
    quote = "quote"  # 报价短信
    service_request = "service_request"  # 诚恳请求给予服务机会


@dataclass
class SendCustomerSms:
    actor: Actor
    template: StaffSmsTemplate
    quote_id: uuid.UUID | None = None


@dataclass
class ActionDone:
    """What a staff action's update answers: the projection's revision (renewal_case.revision) that
    shows the action, and the case's fields it changed (CaseState names, values as JSON has them),
    so the caller reads the case from the projection and can still say what changed if the
    projection lags."""

    revision: int
    changed: dict[str, str | bool | None] = field(default_factory=dict)


@dataclass
class SmsDecision:
    status: str  # sent, held (quiet hours: goes out at send_at), queued (Twilio slow), suppressed or failed
    send_at: datetime
    error_code: int | None = None


@dataclass
class PolicyRenewed:
    new_policy_no: str
    source: SystemComponent = SystemComponent.core_system


@dataclass
class ExpiryChanged:
    new_expiry_date: date
    source: SystemComponent = SystemComponent.core_system


@dataclass
class BranchAdmins:
    """The branch's system specialists now (sent when one is added or leaves)."""

    admin_ids: list[uuid.UUID]


@dataclass
class ContactFailed:
    channel: Channel
    error_code: int | None = None
    source: SystemComponent = SystemComponent.twilio_webhook


@dataclass
class CustomerRefusedContact:
    """The customer refused all contact on another of their cases (`on_case`), as `staff_id` recorded."""

    on_case: uuid.UUID
    staff_id: uuid.UUID


@dataclass
class OpenTask:
    id: uuid.UUID
    kind: TaskKind
    assignee_id: uuid.UUID
    stage: Stage
    opens_at: datetime
    due_at: datetime
    day: int | None = None
    # The first final-week call after supervision: the deputy's hand-over note (a note id).
    handover_note_id: uuid.UUID | None = None


@dataclass
class Problem:
    """Something the case could not do after bounded retries, with a needs-attention task for the
    branch admin; or a window that passed before the case could enter it (its worker down or
    late), counted in the funnel report. Either way the case carries on with its calendar."""

    at: datetime
    activity: str  # project_case, send_sms (with the template), or window_skipped (with the window)
    error: str  # the failure's type and message, numbers masked; for a window, what became of its SMS


@dataclass
class CaseState:
    case_id: uuid.UUID
    policy_no: str
    expiry_date: date
    stage: str
    owner_id: uuid.UUID
    deputy_id: uuid.UUID
    escalated: bool
    last_status: FollowUpStatus | None
    outcome: str | None
    outcome_reason: str | None
    new_policy_no: str | None
    renewed_elsewhere: bool
    sms_opted_out: bool
    open_tasks: list[OpenTask] = field(default_factory=list)
    no_contact: bool = False  # the customer refused all contact (do-not-call list)
    contact_failures: int = 0  # permanent SMS/call failures, at send time or from delivery webhooks
    next_deadline: datetime | None = None
    problems: list[Problem] = field(default_factory=list)  # needs attention (see Problem)


# After a renewal elsewhere is reported the customer is left alone (SPEC §2); the workflow and the
# API's click-to-call refuse with the same words.
NO_MORE_CONTACT = "the customer renewed elsewhere: no more contact, record the loss reason instead"
# A loss reason `other` says nothing by itself (SPEC §2: "other with text"); the API and the
# workflow refuse it without a note with the same words.
OTHER_NEEDS_TEXT = "loss reason 'other' needs a short text (the note): what made the customer go elsewhere"


def other_without_text(reason: LossReason | None, note: object) -> str | None:
    """OTHER_NEEDS_TEXT when the reason is `other` and no note (text or note id) comes with it."""
    return OTHER_NEEDS_TEXT if reason is LossReason.other and not note else None


def closed_reason(outcome: str) -> str:
    """Why nothing can change a finished case (the validator and the API say the same)."""
    return f"the case is closed ({outcome}); nothing can change it any more"


# --- What the renewal workflow hands its activities ----------------------------------------------
# Ids, codes and instants only: the activities look up everything personal (names, phones, plates)
# in PostgreSQL themselves.


@dataclass
class CaseSnapshot:
    """The case row as the workflow sees it now; written whole, so a retry writes the same."""

    case_id: uuid.UUID
    workflow_id: str
    policy_no: str
    expiry_date: date
    timezone: str
    stage: str
    owner_id: uuid.UUID
    deputy_id: uuid.UUID
    escalated: bool = False
    day_seconds: int = 86400
    clock_anchor: datetime | None = None
    follow_up_status: str | None = None
    outcome: str | None = None
    outcome_reason: str | None = None
    outcome_stage: str | None = None
    new_policy_no: str | None = None
    lost_to_insurer: str | None = None
    plan_revision: int = 0  # see renewals.case.tasks.task_id
    calls_stopped: bool = False  # the customer refused all contact: stages open no call tasks
    skipped_windows: list[str] = field(default_factory=list)  # passed before the case could enter them
    # The case started mid-window at this instant: its stage has no task for the days before it.
    started_at: datetime | None = None
    handover_note_id: uuid.UUID | None = None  # the deputy's note for the manager (see planned_tasks)


@dataclass
class ContactToRecord:
    """A contact staff recorded; its row's id derives from the case and the write's revision, so a
    retried write finds its row. A task it handles was handled by its staff member with its result."""

    staff_id: uuid.UUID
    channel: str
    result: str
    note_id: uuid.UUID | None = None


@dataclass
class CaseChange:
    """One write of the projection. The first (and the first after a write that failed for good)
    carries the whole case; the others only the case's fields that changed since the last write,
    the rest is in the row already (the case is the one of the workflow that writes)."""

    at: datetime  # workflow time: what "now" means for this change
    case: CaseSnapshot | None = None
    revision: int = 0  # the case's writes so far, this one included (renewal_case.revision)
    changed: dict[str, Any] = field(default_factory=dict)  # CaseSnapshot fields, as JSON has them
    open_stage_tasks: bool = False  # the stage's planned tasks (see renewals.case.tasks.planned_tasks)
    # The expiry moved: call and supervision tasks of the old plan are cancelled and only the new
    # plan's tasks not yet due are opened (days that passed under the old plan are not "missed").
    replan: bool = False
    open_tasks: list[OpenTask] = field(default_factory=list)  # one-off tasks: complaint, loss reason
    complete_task_id: uuid.UUID | None = None
    handled_by: uuid.UUID | None = None
    handled_result: str | None = None
    # Open tasks of these kinds are cancelled (a terminal outcome cancels every kind).
    cancel_kinds: list[TaskKind] = field(default_factory=list)
    move_tasks_from: uuid.UUID | None = None  # reassignment: open tasks move to case.owner_id
    move_deputy_tasks_from: uuid.UUID | None = None  # deputy change: open tasks move to case.deputy_id
    contact: ContactToRecord | None = None
    # The final week: this staff SMS (a stage table `sms_after_contact` template) followed the contact that
    # handled the task.
    sms_after_contact: tuple[uuid.UUID, str] | None = None


@dataclass
class SmsRequest:
    case_id: uuid.UUID
    template: str
    recipient: str  # customer, owner or deputy
    at: datetime
    stage: str
    day: int  # the renewal calendar's day (T+day) at `at`, real or compressed
    quote_id: uuid.UUID | None = None
    sent_by: uuid.UUID | None = None  # the staff member who sent a customer SMS (None: the system)
    # A customer never gets the same SMS twice; None: sms_key's (case, stage, template, day).
    idempotency_key: str | None = None

    @property
    def key(self) -> str:
        return self.idempotency_key or sms_key(self.case_id, self.stage, self.template, self.day)


def sms_key(case_id: uuid.UUID, stage: str, template: str, day: int) -> str:
    """An automatic SMS's idempotency key: one per case, stage, template and calendar day."""
    return f"{case_id}:{stage}:{template}:{day}"


@dataclass
class SmsOutcome:
    status: str  # sent, suppressed (opt-out) or failed (permanent)
    contact_id: uuid.UUID | None = None
    error_code: int | None = None


def without_defaults(value: Any) -> Any:
    """A dataclass as a dict without the fields left at their defaults (nested ones too): what an
    activity's payload carries, the activity filling the defaults back in."""
    if isinstance(value, list):
        return [without_defaults(item) for item in value]
    if not is_dataclass(value):
        return value
    kept = {}
    for f in fields(value):
        item = getattr(value, f.name)
        default = f.default_factory() if f.default_factory is not MISSING else f.default
        if default is MISSING or item != default:
            kept[f.name] = without_defaults(item)
    return kept


# --- The system's other workflows: the daily intake, the history archiver, the task roll-up, scoring -

INTAKE_WORKFLOW = "PolicyIntake"
INTAKE_SCHEDULE_ID = "policy-intake-daily"
INTAKE_SCHEDULE_CRON = "0 1 * * *"  # 01:00 in the company's time zone, before anyone's working day
ARCHIVER_WORKFLOW = "HistoryArchiver"
IMPORT_WORKFLOW = "ImportPolicies"
TASK_ROLLUP_WORKFLOW = "TaskRollup"
PRIVACY_PURGE_WORKFLOW = "PrivacyPurge"
LAPSE_SCORING_WORKFLOW = "LapseScoring"  # trains the lapse-risk model and scores the open cases (counts only)


@dataclass
class IntakeSummary:
    as_of: date | None = None
    started: int = 0
    already_running: int = 0
    already_done: int = 0
    no_deputy: int = 0  # due, but the sub-branch has no deputy manager: set one, the next run starts them
    batches: int = 0
    deputies_aligned: int = 0  # open cases moved to their sub-branch's deputy manager


@dataclass
class IntakeInput:
    as_of: date | None = None  # the local day to run for; None: today in `timezone` (the schedule)
    timezone: str = "Asia/Shanghai"
    after_policy_no: str = ""  # continue-as-new: where the previous run stopped
    summary: IntakeSummary = field(default_factory=IntakeSummary)


@dataclass
class IntakeBatch:
    as_of: date
    after_policy_no: str


@dataclass
class IntakeBatchResult:
    """One batch of due policies (renewals.intake.service.start_due_cases)."""

    started: int = 0
    already_running: int = 0
    already_done: int = 0
    no_deputy: int = 0
    last_policy_no: str = ""
    more: bool = False  # the batch was full: there may be more after last_policy_no


def import_workflow_id(job_id: uuid.UUID) -> str:
    """One import workflow per uploaded file: a second start of the same job is refused."""
    return f"import-{job_id}"


@dataclass
class ImportInput:
    """An uploaded file's import (the file itself stays in the database: see renewals.intake.durable)."""

    job_id: uuid.UUID
    actor: Actor  # who imports: an admin (for their branch), or the system (the CLI)
    branch_id: uuid.UUID | None
    as_of: date  # the local day the cases due are worked out for: the day of the upload

