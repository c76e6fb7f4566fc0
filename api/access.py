"""The one authorization layer: who may read or act on which case and customer, and what of a
customer they see in full (SPEC §1, §5). Every route gets its cases and customers from here.

What a role reads (its scope; reports count the same cases):
    sales    the cases they currently own; the customers of those cases and of policies assigned to them;
             in reports their own figures only
    deputy   their sub-branch
    admin    their branch
    manager  their branch (read-only)
    auditor  the whole company (read-only, masked)

Who acts on a case:
    casework (contacts, follow-up, renewed elsewhere, loss reason, SMS, click-to-call)
             the case's service manager or its deputy, and while the manager is away the colleague
             covering them (顶岗), in the manager's turn; the workflow's validator then decides whether
             it is their turn in the current stage (409 with its reason when it is not)
    customer phone (corrected phone, unreachable)
             the case's current service manager only, through an open case: a closed case changes
             nothing any more (409 with the case's reason)
    administration (close, reassign)
             a system specialist (admin) of the case's branch

Who records an absence (cover while away, renewals.ownership.cover): a salesperson for themselves,
the deputy of their sub-branch for them; either may end it. While it runs the cover reads the absent
manager's cases and their customers as the manager would, to work them; reports and the case lists
stay the manager's (readers that pass no business clock).

Who imports policies: a system specialist (admin) of a branch, into that branch only. Every row names
one of its sub-branches; a row naming another branch's policy is refused, and a row's customer is
found among the branch's own records of people (renewals.intake.service), so an import reads and writes
nothing of another branch. The system operator's `renewals import` loads the whole company's book,
each row within its sub-branch's branch.

Ids beyond one's scope reveal nothing: a caller who may not see a case or customer gets the same 403
whether it exists elsewhere or not at all. Only auditors, whose scope is everything, get 404 for an
id that does not exist.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from fastapi import Depends
from sqlalchemy import ColumnElement, exists, false, or_, true
from sqlmodel import Session, select

from api.deps import CurrentStaff, NowDep, SessionDep
from api.errors import ApiError
from models import (
    Assignment, Branch, Customer, ImportJob, Policy, Quote, RenewalCase, Role, Staff, StaffAbsence, SubBranch, Task,
)
from renewals.case.start import CaseRejected
from renewals.ownership.cover import running
from renewals.reports.queries import Filters
from renewals.case.contract import Actor, ActorRole, closed_reason
from renewals.privacy.service import record_full_views
from renewals.reports.rules import Period
from renewals.reports.service import Reading


class CaseAction(StrEnum):
    casework = "casework"
    customer_phone = "customer_phone"
    administer = "administer"


_REFUSALS = {
    CaseAction.casework: "only the case's service manager or its deputy manager can work on this case",
    CaseAction.customer_phone: "only the case's current service manager can change the customer's phone",
    CaseAction.administer: "only a system specialist (admin) of the case's branch can close or reassign a case "
                           "or resolve what needs attention in it",
}
READ_ONLY_ROLES = (Role.manager, Role.auditor)


def _scope(staff: Staff, sub_branch_id: Any, own: ColumnElement[bool]) -> ColumnElement[bool]:
    if staff.role == Role.sales:
        return own
    if staff.role == Role.deputy:
        return sub_branch_id == staff.sub_branch_id
    if staff.role in (Role.admin, Role.manager):
        return sub_branch_id.in_(select(SubBranch.id).where(SubBranch.branch_id == staff.branch_id))
    return true() if staff.role == Role.auditor else false()


def covered_by(staff: Staff, now: datetime):
    """The service managers `staff` covers at `now`: those away with them as their cover."""
    return select(StaffAbsence.staff_id).where(running(now), StaffAbsence.cover_id == staff.id)


def _owned(staff: Staff, now: datetime | None) -> ColumnElement[bool]:
    """The cases a salesperson works: their own, and at `now` those of colleagues they cover."""
    own = RenewalCase.owner_id == staff.id
    return own if now is None else or_(own, RenewalCase.owner_id.in_(covered_by(staff, now)))


def case_scope(staff: Staff, now: datetime | None = None) -> ColumnElement[bool]:
    """The cases `staff` may read, as a condition on RenewalCase (lists and single reads alike);
    with the business clock's `now`, a cover's absent colleagues' cases too."""
    return _scope(staff, RenewalCase.sub_branch_id, _owned(staff, now))


def policy_scope(staff: Staff, now: datetime | None = None) -> ColumnElement[bool]:
    """The policies (and through them customers) `staff` may read, as a condition on Policy."""
    owned = select(RenewalCase.policy_id).where(_owned(staff, now))
    assigned = select(Assignment.policy_id).where(Assignment.staff_id == staff.id, Assignment.ended_at.is_(None))
    return _scope(staff, Policy.sub_branch_id, or_(Policy.id.in_(owned), Policy.id.in_(assigned)))


def own_tasks(staff: Staff, now: datetime) -> ColumnElement[bool]:
    """The to-do panel shows a staff member their own tasks, nobody else's, but for absences: while
    a colleague is away, their tasks are on the panel of the colleague covering them, not theirs."""
    # One list of assignees (a semi-join), not an OR: the panel's range scan on the assignee index stays.
    away = select(StaffAbsence.staff_id).where(running(now))
    myself = select(Staff.id).where(Staff.id == staff.id, ~exists(away.where(StaffAbsence.staff_id == staff.id)))
    return Task.assignee_id.in_(myself.union_all(away.where(StaffAbsence.cover_id == staff.id)))


def staff_scope(staff: Staff) -> ColumnElement[bool]:
    """The staff whose figures `staff` may read in reports, as a condition on Staff: oneself for
    sales, the sub-branch for a deputy, the branch for admins and managers, everyone for auditors."""
    return _scope(staff, Staff.sub_branch_id, Staff.id == staff.id)


def task_scope(staff: Staff) -> ColumnElement[bool]:
    """The tasks a reader's reports count, as a condition on Task: those of the staff in scope
    (cases move only within their sub-branch, so these are the tasks of the cases in scope), read
    through the to-do panel's index on the assignee."""
    if staff.role == Role.auditor:
        return true()
    return Task.assignee_id.in_(select(Staff.id).where(staff_scope(staff)))


def report_filters(session: Session, staff: Staff, branch_code: str | None, sub_branch_code: str | None,
                   manager_id: uuid.UUID | None) -> Filters:
    """A report's branch, sub-branch and manager filters, each refused (like a case id) when it
    names something beyond the reader's scope: a salesperson reads no other manager's figures, a
    deputy no other sub-branch."""
    sub_branch_scope = _scope(staff, SubBranch.id, SubBranch.id == staff.sub_branch_id)
    if branch_code is not None:
        visible = or_(Branch.id == staff.branch_id, Branch.id.in_(select(SubBranch.branch_id).where(sub_branch_scope)))
        if session.exec(select(Branch.id).where(Branch.code == branch_code, visible)).first() is None:
            raise _out_of_scope(staff, "branch", field="branch", key="code")
    if sub_branch_code is not None:
        if session.exec(select(SubBranch.id).where(SubBranch.code == sub_branch_code, sub_branch_scope)).first() is None:
            raise _out_of_scope(staff, "sub-branch", field="sub_branch", key="code")
    if manager_id is not None:
        if session.exec(select(Staff.id).where(Staff.id == manager_id, staff_scope(staff))).first() is None:
            raise _out_of_scope(staff, "manager", field="manager")
    return Filters(branch_code, sub_branch_code, manager_id)


def report_reading(session: Session, staff: Staff, period: Period, timezone: str, now: datetime,
                   branch_code: str | None = None, sub_branch_code: str | None = None,
                   manager_id: uuid.UUID | None = None) -> Reading:
    """What a report reads for `staff`: their filters (report_filters) over the cases and tasks in
    their scope."""
    return Reading(period, report_filters(session, staff, branch_code, sub_branch_code, manager_id),
                   case_scope(staff), task_scope(staff), timezone, now)


def _out_of_scope(staff: Staff, what: str, field: str | None = None, key: str = "id") -> ApiError:
    if staff.role == Role.auditor:
        return ApiError(404, f"no {what} with this {key}", field=field)
    return ApiError(403, f"no {what} with this {key} is in your scope", field=field)


def find_case(session: Session, staff: Staff, case_id: uuid.UUID, now: datetime | None = None) -> RenewalCase:
    case = session.exec(select(RenewalCase).where(RenewalCase.id == case_id, case_scope(staff, now))).first()
    if case is None:
        raise _out_of_scope(staff, "case")
    return case


def cover_of(session: Session, staff: Staff, case: RenewalCase, now: datetime) -> uuid.UUID | None:
    """The case's service manager when they are away at `now` and `staff` covers them, else None."""
    if staff.role != Role.sales or staff.id == case.owner_id:
        return None
    covering = session.exec(select(StaffAbsence.id).where(
        running(now), StaffAbsence.staff_id == case.owner_id, StaffAbsence.cover_id == staff.id)).first()
    return case.owner_id if covering else None


def require(staff: Staff, case: RenewalCase, action: CaseAction, covering_for: uuid.UUID | None = None) -> None:
    """`covering_for`: cover_of's answer; a cover works the case (casework) and nothing more."""
    if action is CaseAction.casework:
        allowed = staff.role in (Role.sales, Role.deputy) and staff.id in (case.owner_id, case.deputy_id) \
            or covering_for is not None and covering_for == case.owner_id
    elif action is CaseAction.customer_phone:
        allowed = staff.id == case.owner_id
    else:  # administration; the scope already keeps an admin to their own branch
        allowed = staff.role == Role.admin
    if not allowed:
        role_note = f" (the {staff.role} role reads only)" if staff.role in READ_ONLY_ROLES else ""
        raise ApiError(403, _REFUSALS[action] + role_note)
    # The workflow refuses casework on a closed case; the phone is written here, so it is refused here.
    if action is CaseAction.customer_phone and case.outcome:
        raise CaseRejected(closed_reason(case.outcome))


# Who reads a case's audit timeline: auditors, the branch's admins and managers (their scope is the
# branch) and the case's own staff (its service manager and deputy), not every sales or deputy of the branch.
TIMELINE_ROLES = (Role.auditor, Role.admin, Role.manager)


def reads_timeline(staff: Staff, case: RenewalCase) -> bool:
    """Whether `staff`, who may read `case`, may read its audit timeline."""
    return staff.role in TIMELINE_ROLES or staff.id in (case.owner_id, case.deputy_id)


def require_timeline_reader(staff: Staff, case: RenewalCase) -> None:
    if not reads_timeline(staff, case):
        raise ApiError(403, "only the case's own service manager and deputy, the branch's admins and managers, "
                            "and auditors can read a case's timeline")


def find_customer(session: Session, staff: Staff, customer_id: uuid.UUID, now: datetime | None = None) -> Customer:
    in_scope = select(Policy.id).where(Policy.customer_id == Customer.id, policy_scope(staff, now)).exists()
    customer = session.exec(select(Customer).where(Customer.id == customer_id, in_scope)).first()
    if customer is None:
        raise _out_of_scope(staff, "customer")
    return customer


def find_quote(session: Session, staff: Staff, quote_id: uuid.UUID, now: datetime,
               action: CaseAction | None = None) -> Quote:
    """A quote is read and acted on through its case: the same scope, the same casework rule."""
    row = session.exec(select(Quote, RenewalCase).join(RenewalCase, RenewalCase.id == Quote.case_id)
                       .where(Quote.id == quote_id, case_scope(staff, now))).first()
    if row is None:
        raise _out_of_scope(staff, "quote")
    if action:
        require(staff, row[1], action, cover_of(session, staff, row[1], now))
    return row[0]


def absent_staff(session: Session, staff: Staff, staff_id: uuid.UUID | None) -> Staff:
    """Whose absence `staff` may record or end: their own as a salesperson, or a salesperson's of
    their sub-branch as its deputy."""
    if staff_id is None or staff_id == staff.id:
        if staff.role != Role.sales:
            raise ApiError(403, "only a service manager is covered while away: a deputy records it for them")
        return staff
    absent = session.get(Staff, staff_id)
    if staff.role != Role.deputy or absent is None or absent.sub_branch_id != staff.sub_branch_id \
            or absent.role != Role.sales:
        raise ApiError(403, "no service manager with this id is in your scope", field="staff_id")
    return absent


def find_absence(session: Session, staff: Staff, absence_id: uuid.UUID) -> StaffAbsence:
    absence = session.get(StaffAbsence, absence_id)
    if absence is None:
        raise ApiError(403, "no absence with this id is in your scope")
    absent_staff(session, staff, absence.staff_id)  # the same rule as recording it
    return absence


def importing_branch(staff: Staff) -> uuid.UUID:
    """The branch an import by `staff` reaches (see the module's docstring)."""
    if staff.role != Role.admin or staff.branch_id is None:
        raise ApiError(403, "only a system specialist (admin) of a branch can import policies")
    return staff.branch_id


def find_import_job(session: Session, staff: Staff, job_id: uuid.UUID) -> ImportJob:
    """An import job, for the admins of the branch it was imported into."""
    job = session.get(ImportJob, job_id)
    if job is None or staff.role != Role.admin or job.branch_id != staff.branch_id:
        raise ApiError(403, "no import with this id is in your scope")
    return job


def find_policy(session: Session, staff: Staff, policy_no: str) -> Policy:
    policy = session.exec(select(Policy).where(Policy.policy_no == policy_no, policy_scope(staff))).first()
    if policy is None:
        raise ApiError(403, "no policy with this number is in your scope")
    return policy


def find_branch_staff(session: Session, admin: Staff, staff_id: uuid.UUID, *, write: bool = True) -> Staff:
    """A staff member of the reader's branch, for its admins (managers may read their books)."""
    if admin.role != Role.admin and (write or admin.role != Role.manager):
        raise ApiError(403, "only a system specialist (admin) of the staff member's branch can do this")
    staff = session.get(Staff, staff_id)
    branch_id = staff.branch_id if staff else None
    if staff and staff.sub_branch_id and branch_id is None:
        branch_id = session.get(SubBranch, staff.sub_branch_id).branch_id
    if staff is None or branch_id != admin.branch_id:
        raise ApiError(403, "no staff member with this id is in your scope")
    return staff


def case_to_preview(session: Session, staff: Staff, case_id: uuid.UUID | None) -> RenewalCase:
    """The case an SMS template is previewed with: the one named, or the newest in scope."""
    if case_id is not None:
        return find_case(session, staff, case_id)
    case = session.exec(select(RenewalCase).where(case_scope(staff)).order_by(RenewalCase.started_at.desc())
                        .limit(1)).first()
    if case is None:
        raise ApiError(409, "there is no case in your branch to preview the template with")
    return case


def actor(staff: Staff, covering_for: uuid.UUID | None = None) -> Actor:
    """Who the workflow sees acting (ids and roles only, never names), and whom they cover."""
    return Actor(id=staff.id, role=ActorRole(staff.role), covering_for=covering_for)


# --- what a reader sees in full ------------------------------------------------------------------


@dataclass(frozen=True)
class CustomerVisibility:
    reader: uuid.UUID
    contact: bool  # full phones, SMS bodies and notes: the current owner of one of the customer's open cases
    corrected_phone: bool  # the corrected phone: only the manager who entered it, while they own an open case
    identity: bool  # names, plates and VINs in full: everyone but auditors, who read masked


def customer_visibility(session: Session, staff: Staff, customer: Customer) -> CustomerVisibility:
    """A cover reads the absent manager's customers masked, as a deputy does (click-to-call dials for them)."""
    owns_open_case = session.exec(
        select(RenewalCase.id).join(Policy, Policy.id == RenewalCase.policy_id)
        .where(Policy.customer_id == customer.id, RenewalCase.owner_id == staff.id, RenewalCase.outcome.is_(None))
        .limit(1)
    ).first() is not None
    return CustomerVisibility(
        reader=staff.id,
        contact=owns_open_case,
        corrected_phone=owns_open_case and customer.corrected_phone_by == staff.id,
        identity=identity_visible(staff),
    )


def require_quoter(staff: Staff) -> None:
    """A quote configuration is a service manager's or a deputy manager's own."""
    if staff.role not in (Role.sales, Role.deputy):
        raise ApiError(403, "only service managers and deputy managers quote")


def identity_visible(staff: Staff) -> bool:
    """Names, plates and VINs in full: everyone but auditors, who read masked."""
    return staff.role != Role.auditor


def log_full_view(session: Session, customer: Customer, seen: CustomerVisibility) -> None:
    """The access log (PIPL): a response about to show this customer's phone or corrected phone in
    full records who read which, and when. The id number is never shown in full here."""
    shown = [name for name, full, value in (("phone", seen.contact, customer.phone),
                                           ("corrected_phone", seen.corrected_phone, customer.corrected_phone))
             if full and value]
    if shown:
        record_full_views(session, seen.reader, [(customer.id, name) for name in shown])


def log_own_panel_views(session: Session, staff: Staff, customer_ids: set[uuid.UUID]) -> None:
    """The to-do panel showed the owner these customers' phones in full."""
    if customer_ids:
        record_full_views(session, staff.id, [(customer_id, "phone") for customer_id in sorted(customer_ids)])


# --- personal data: subjects' requests and the access log ----------------------------------------------


def privacy_branch(staff: CurrentStaff) -> uuid.UUID:
    """A person's data is exported or erased on request by a system specialist (admin), for the
    records of their own branch."""
    if staff.role != Role.admin or staff.branch_id is None:
        raise ApiError(403, "only a system specialist (admin) of a branch can export or erase a customer's data")
    return staff.branch_id


def access_log_reader(staff: CurrentStaff) -> Staff:
    if staff.role != Role.auditor:
        raise ApiError(403, "only auditors read the log of who saw full id numbers and phones")
    return staff


def number_to_dial(customer: Customer) -> str:
    """Everyone who may call the case (owner, deputy, a successor after reassignment) dials the
    corrected phone when there is one: the old number is known to be wrong. Only its author ever
    sees it (customer_visibility); the others' click-to-call shows it masked."""
    return customer.corrected_phone or customer.phone


# --- dependencies for routes ---------------------------------------------------------------------


def readable_case(case_id: uuid.UUID, staff: CurrentStaff, session: SessionDep, now: NowDep) -> RenewalCase:
    return find_case(session, staff, case_id, now)


def _case_for(action: CaseAction):
    def case_for_action(case_id: uuid.UUID, staff: CurrentStaff, session: SessionDep, now: NowDep) -> RenewalCase:
        case = find_case(session, staff, case_id, now)
        require(staff, case, action, cover_of(session, staff, case, now))
        return case

    return Depends(case_for_action)


def template_admin(staff: CurrentStaff) -> Staff:
    if staff.role != Role.admin:
        raise ApiError(403, "only a system specialist (admin) manages the SMS templates")
    return staff


def readable_customer(customer_id: uuid.UUID, staff: CurrentStaff, session: SessionDep, now: NowDep) -> Customer:
    return find_customer(session, staff, customer_id, now)


ReadableCase = Annotated[RenewalCase, Depends(readable_case)]
CaseForWork = Annotated[RenewalCase, _case_for(CaseAction.casework)]
CaseForPhone = Annotated[RenewalCase, _case_for(CaseAction.customer_phone)]
CaseForAdmin = Annotated[RenewalCase, _case_for(CaseAction.administer)]
ReadableCustomer = Annotated[Customer, Depends(readable_customer)]
TemplateAdmin = Annotated[Staff, Depends(template_admin)]
PrivacyBranch = Annotated[uuid.UUID, Depends(privacy_branch)]
AccessLogReader = Annotated[Staff, Depends(access_log_reader)]
