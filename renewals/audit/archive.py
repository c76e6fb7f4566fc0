"""The audit archive: closed cases' full Temporal histories kept in PostgreSQL (gzip-compressed
protobuf), so timelines, exports and replays outlive the namespace's retention. Readers ask
Temporal first and the archive after (`load_history`)."""

from __future__ import annotations

import asyncio
import gzip
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Engine, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import Session
from temporalio.api.history.v1 import History
from temporalio.client import (
    Client, Schedule, ScheduleActionStartWorkflow, ScheduleIntervalSpec, ScheduleOverlapPolicy, SchedulePolicy,
    ScheduleSpec, WorkflowHistory,
)
from temporalio.service import RPCError, RPCStatusCode

from models import ContactRecord, HistoryArchive, RefusedAction, RenewalCase, Staff, StaffAbsence
from renewals.audit.timeline import (
    CLOSING_STATUS, Archived, ContactInfo, CoverInfo, DecodedHistory, RefusalInfo, StaffInfo, Timeline, build_timeline,
    staff_ids,
)
from renewals.core.settings import Settings
from renewals.core.temporal import bounded, put_schedule
from renewals.case import contract as c
from renewals.case.contract import ARCHIVER_WORKFLOW

log = logging.getLogger(__name__)

ARCHIVER_SCHEDULE_ID = "renewals-history-archiver"

class HistoryNotFound(LookupError):
    pass


@dataclass(frozen=True)
class LoadedHistory:
    history: WorkflowHistory
    source: str  # temporal or archive
    archived_at: datetime | None = None


# --- writing ------------------------------------------------------------------------------------


def closing_status(history: WorkflowHistory) -> str | None:
    """The workflow's closing status, or None while it still runs."""
    return CLOSING_STATUS.get(history.events[-1].event_type) if history.events else None


def archive_row(history: WorkflowHistory, policy_no: str) -> dict:
    raw = History(events=history.events).SerializeToString()
    last = history.events[-1]
    return {
        "workflow_id": history.workflow_id, "case_id": c.case_id_for(history.workflow_id), "policy_no": policy_no,
        "run_id": history.events[0].workflow_execution_started_event_attributes.original_execution_run_id,
        "status": closing_status(history), "closed_at": last.event_time.ToDatetime().replace(tzinfo=UTC),
        "event_count": len(history.events), "history_bytes": len(raw),
        "history_gz": gzip.compress(raw, compresslevel=6), "archived_at": datetime.now(UTC),
    }


def ensure_archive_months(engine: Engine, times: list[datetime]) -> None:
    """The archive's partitions for the months (UTC) of these times, created where missing. In a
    transaction of its own: creating one locks the whole archive, briefly."""
    with engine.begin() as conn:
        conn.execute(text("SELECT archive.ensure_month(at) FROM unnest(CAST(:times AS timestamptz[])) AS at"),
                     {"times": sorted(set(times))})


def store_histories(engine: Engine, rows: list[dict]) -> int:
    """Store closed histories and mark their cases archived, in one transaction; storing one
    twice changes nothing (the first copy stays). Returns how many were new."""
    if not rows:
        return 0
    ensure_archive_months(engine, [row["closed_at"] for row in rows])
    with engine.begin() as conn:
        inserted = conn.execute(insert(HistoryArchive).values(rows)
                                .on_conflict_do_nothing(index_elements=[HistoryArchive.workflow_id,
                                                                        HistoryArchive.closed_at])
                                .returning(HistoryArchive.workflow_id)).scalars().all()
        mark_archived(conn, [r["workflow_id"] for r in rows])
    return len(inserted)


def mark_archived(conn, workflow_ids: list[str]) -> None:
    """Mark these cases archived as of when their history was stored (a rebuilt case row says the same)."""
    conn.execute(text("UPDATE renewal_case rc SET history_archived_at = ha.archived_at FROM history_archive ha "
                      "WHERE ha.workflow_id = rc.workflow_id AND rc.workflow_id = ANY(:ids) "
                      "AND rc.history_archived_at IS NULL"), {"ids": workflow_ids})


def cases_to_archive(engine: Engine, limit: int) -> list[tuple[str, str]]:
    """(workflow id, policy number) of closed cases not archived yet, oldest first (partial index)."""
    with engine.connect() as conn:
        rows = conn.execute(select(RenewalCase.workflow_id, RenewalCase.policy_no)
                            .where(RenewalCase.closed_at.is_not(None), RenewalCase.history_archived_at.is_(None))
                            .order_by(RenewalCase.closed_at).limit(limit)).all()
    return [tuple(row) for row in rows]


async def archive_closed_cases(client: Client, engine: Engine, *, batch: int = 100, concurrency: int = 10,
                               on_batch=None) -> int:
    """Archive every closed case not archived yet; returns how many were stored. A case whose
    workflow is still finishing (the outcome is projected just before the workflow returns) is
    left for the next run."""
    stored, skipped = 0, set()

    async def fetch(case: tuple[str, str]) -> dict | None:
        workflow_id, policy_no = case
        try:
            history = await client.get_workflow_handle(workflow_id).fetch_history()
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            log.error("history of %s is gone from Temporal before it was archived", workflow_id)
            return None
        return archive_row(history, policy_no) if closing_status(history) else None

    while True:
        pending = [p for p in await asyncio.to_thread(cases_to_archive, engine, batch + len(skipped))
                   if p[0] not in skipped]
        if not pending:
            return stored
        rows = await bounded(pending, fetch, concurrency)
        skipped |= {wid for (wid, _), row in zip(pending, rows) if row is None}
        stored += await asyncio.to_thread(store_histories, engine, [r for r in rows if r is not None])
        if on_batch:
            on_batch(stored)


# --- retention ------------------------------------------------------------------------------------


_PARTITION_PREFIX = "history_archive_"  # then the month: archive.history_archive_2026_12 (migration 0020)


def _month_after(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def archive_months(engine: Engine) -> list[date]:
    """The months the archive has a partition for, oldest first."""
    with engine.connect() as conn:
        names = conn.execute(text("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                                  "WHERE i.inhparent = 'public.history_archive'::regclass")).scalars().all()
    return sorted(datetime.strptime(name.removeprefix(_PARTITION_PREFIX), "%Y_%m").date() for name in names)


def keep_archive_months(engine: Engine, retention_months: int, now: datetime | None = None) -> list[date]:
    """The archive's upkeep, run after each archiving: this month's and next month's partitions
    made ahead, and, with a retention, every month that ended `retention_months` or more ago
    dropped whole (each history is kept at least that long after its case closed; 0 keeps them
    for ever). Returns the months dropped."""
    now = now or datetime.now(UTC)
    this_month = now.astimezone(UTC).date().replace(day=1)
    ensure_archive_months(engine, [datetime.combine(month, time(), UTC)
                                   for month in (this_month, _month_after(this_month))])
    if not retention_months:
        return []
    months_back = this_month.year * 12 + this_month.month - 1 - retention_months
    oldest_kept = date(months_back // 12, months_back % 12 + 1, 1)
    dropped = [month for month in archive_months(engine) if _month_after(month) <= oldest_kept]
    for month in dropped:
        with engine.begin() as conn:
            conn.execute(text(f'DROP TABLE archive."{_PARTITION_PREFIX}{month:%Y_%m}"'))
        log.info("dropped the history archive of %s (retention %d months)", f"{month:%Y-%m}", retention_months)
    return dropped


# --- reading ------------------------------------------------------------------------------------


def find_archived(session: Session, workflow_id: str) -> HistoryArchive | None:
    """A workflow's archived history (the archive's key also holds its closing time)."""
    return session.scalars(select(HistoryArchive).where(HistoryArchive.workflow_id == workflow_id)).first()


def archived_history(engine: Engine, workflow_id: str) -> LoadedHistory | None:
    with Session(engine) as session:
        row = find_archived(session, workflow_id)
        if row is None:
            return None
        history = History.FromString(gzip.decompress(row.history_gz))
        return LoadedHistory(WorkflowHistory(workflow_id, list(history.events)), "archive", row.archived_at)


async def load_history(client: Client | None, engine: Engine, workflow_id: str) -> LoadedHistory:
    """Temporal while it still has the history; the archive after retention deleted it (or
    while Temporal cannot be reached)."""
    if client is not None:
        try:
            history = await client.get_workflow_handle(workflow_id).fetch_history()
            archived = await asyncio.to_thread(_archived_at, engine, workflow_id)
            return LoadedHistory(history, "temporal", archived)
        except RPCError as exc:
            if exc.status not in (RPCStatusCode.NOT_FOUND, RPCStatusCode.UNAVAILABLE):
                raise
    found = await asyncio.to_thread(archived_history, engine, workflow_id)
    if found is None:
        raise HistoryNotFound(f"no history for {workflow_id} in Temporal or in the archive")
    return found


def _archived_at(engine: Engine, workflow_id: str) -> datetime | None:
    with engine.connect() as conn:
        return conn.execute(select(HistoryArchive.archived_at)
                            .where(HistoryArchive.workflow_id == workflow_id)).scalar_one_or_none()


def case_records(engine: Engine, case_id: uuid.UUID, staff_in_history: set[uuid.UUID]
                 ) -> tuple[list[ContactInfo], list[RefusalInfo], list[CoverInfo], dict[uuid.UUID, StaffInfo]]:
    """What the timeline joins from PostgreSQL: contact records, refusals, the absences of the staff
    the history names, and the staff involved."""
    with Session(engine) as session:
        contacts = [ContactInfo(id=r.id, channel=r.channel, staff_id=r.staff_id, idempotency_key=r.idempotency_key,
                                provider_id=r.provider_id, masked_number=r.masked_number,
                                delivery_status=r.delivery_status, error_code=r.error_code,
                                duration_seconds=r.duration_seconds, recording_url=r.recording_url,
                                created_at=r.created_at)
                    for r in session.scalars(select(ContactRecord).where(ContactRecord.case_id == case_id))]
        refusals = [RefusalInfo(staff_id=r.staff_id, role=r.role, action=r.action, request=r.request,
                                reason=r.reason, at=r.at)
                    for r in session.scalars(select(RefusedAction).where(RefusedAction.case_id == case_id))]
        covers = [CoverInfo(staff_id=a.staff_id, cover_id=a.cover_id, starts_at=a.starts_at, ends_at=a.ends_at,
                            recorded_by=a.recorded_by, ended_by=a.ended_by)
                  for a in session.scalars(select(StaffAbsence).where(StaffAbsence.staff_id.in_(staff_in_history)))]
        ids = (staff_in_history | {r.staff_id for r in refusals} | {r.staff_id for r in contacts if r.staff_id}
               | {a.cover_id for a in covers} | {a.recorded_by for a in covers}
               | {a.ended_by for a in covers if a.ended_by})
        staff = {s.id: StaffInfo(role=s.role.value, name=s.name)
                 for s in session.scalars(select(Staff).where(Staff.id.in_(ids)))} if ids else {}
    return contacts, refusals, covers, staff


async def case_timeline(client: Client | None, engine: Engine, workflow_id: str, *, identities_masked: bool,
                        now: datetime | None = None) -> Timeline:
    loaded = await load_history(client, engine, workflow_id)
    history = DecodedHistory(loaded.history)
    contacts, refusals, covers, staff = await asyncio.to_thread(case_records, engine, c.case_id_for(workflow_id),
                                                                staff_ids(history))
    return build_timeline(history, contacts=contacts, refusals=refusals, covers=covers, staff=staff,
                          identities_masked=identities_masked, history_from=loaded.source,
                          archived=Archived(loaded.archived_at) if loaded.archived_at else None, now=now)


# --- the schedule ---------------------------------------------------------------------------------


async def ensure_archiver_schedule(client: Client, settings: Settings) -> None:
    """Create (or bring up to date) the schedule that runs the archiver every ARCHIVE_EVERY."""
    spec = ScheduleSpec(intervals=[ScheduleIntervalSpec(every=settings.archive_every)])
    action = ScheduleActionStartWorkflow(ARCHIVER_WORKFLOW, id=ARCHIVER_SCHEDULE_ID, task_queue=settings.task_queue,
                                         execution_timeout=max(settings.archive_every, timedelta(minutes=30)))
    schedule = Schedule(action=action, spec=spec, policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP))
    await put_schedule(client, ARCHIVER_SCHEDULE_ID, schedule)
