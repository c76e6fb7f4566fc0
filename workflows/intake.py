"""PolicyIntake: the daily intake run (Temporal Schedule `policy-intake-daily`, 01:00 local).

Starts the case of every policy entering the horizon today, and of any policy in the horizon that
still has none (an import that died between committing its policies and starting their cases);
then moves any open case whose deputy manager is not its sub-branch's deputy to that deputy (a case
started while the deputy changed).
Decisions only: batches of policies are started by the `start_due_cases` activity, which
heartbeats as it goes; a batch retried after a crash starts only what is still missing. The
result is a summary a manager can read in the Temporal UI.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from renewals.case.calendar import local_date

WORKFLOW_TYPE = "PolicyIntake"
SCHEDULE_ID = "policy-intake-daily"
SCHEDULE_CRON = "0 1 * * *"  # 01:00 in the company's time zone, before anyone's working day
# Batches per run before continuing as new: keeps the history small for any size of book.
BATCHES_PER_RUN = 200


COUNTED = ("started", "already_running", "already_done", "no_deputy")


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


# Each activity heartbeats as it goes; a retried one does only what is still left to do.
_ACTIVITY = {"start_to_close_timeout": timedelta(minutes=10), "heartbeat_timeout": timedelta(minutes=1),
             "retry_policy": RetryPolicy(maximum_interval=timedelta(minutes=1), maximum_attempts=20)}


@workflow.defn(name=WORKFLOW_TYPE)
class PolicyIntake:
    @workflow.run
    async def run(self, inp: IntakeInput) -> IntakeSummary:
        summary = inp.summary
        summary.as_of = inp.as_of or local_date(workflow.now(), inp.timezone)
        after = inp.after_policy_no
        for _ in range(BATCHES_PER_RUN):
            batch = await workflow.execute_activity(
                "start_due_cases", IntakeBatch(summary.as_of, after), result_type=IntakeBatchResult,
                summary=f"policies after {after or 'the first'}", **_ACTIVITY,
            )
            summary.batches += 1
            for name in COUNTED:
                setattr(summary, name, getattr(summary, name) + getattr(batch, name))
            after = batch.last_policy_no
            workflow.set_current_details(f"{summary.as_of}: {summary.started} started in {summary.batches} batches")
            if not batch.more:
                if workflow.patched("intake-aligns-deputies"):
                    summary.deputies_aligned = await workflow.execute_activity(
                        "align_deputies", result_type=int, summary="open cases behind a deputy change", **_ACTIVITY)
                return summary
        workflow.continue_as_new(IntakeInput(summary.as_of, inp.timezone, after, summary))
