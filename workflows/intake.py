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

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.intake import IntakeActivities
    from renewals.case.calendar import local_date
    from renewals.case.contract import INTAKE_WORKFLOW, IntakeBatch, IntakeInput, IntakeSummary

# Batches per run before continuing as new: keeps the history small for any size of book.
BATCHES_PER_RUN = 200
COUNTED = ("started", "already_running", "already_done", "no_deputy")
# Each activity heartbeats as it goes; a retried one does only what is still left to do.
_ACTIVITY = {"start_to_close_timeout": timedelta(minutes=10), "heartbeat_timeout": timedelta(minutes=1),
             "retry_policy": RetryPolicy(maximum_interval=timedelta(minutes=1), maximum_attempts=20)}


@workflow.defn(name=INTAKE_WORKFLOW)
class PolicyIntake:
    @workflow.run
    async def run(self, inp: IntakeInput) -> IntakeSummary:
        summary = inp.summary
        summary.as_of = inp.as_of or local_date(workflow.now(), inp.timezone)
        after = inp.after_policy_no
        for _ in range(BATCHES_PER_RUN):
            batch = await workflow.execute_activity_method(
                IntakeActivities.start_due_cases, IntakeBatch(summary.as_of, after),
                summary=f"policies after {after or 'the first'}", **_ACTIVITY,
            )
            summary.batches += 1
            for name in COUNTED:
                setattr(summary, name, getattr(summary, name) + getattr(batch, name))
            after = batch.last_policy_no
            workflow.set_current_details(f"{summary.as_of}: {summary.started} started in {summary.batches} batches")
            if not batch.more:
                summary.deputies_aligned = await workflow.execute_activity_method(
                    IntakeActivities.align_deputies, summary="open cases behind a deputy change", **_ACTIVITY)
                return summary
        workflow.continue_as_new(IntakeInput(summary.as_of, inp.timezone, after, summary))
