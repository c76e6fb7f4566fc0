"""A deliberately changed copy of PolicyRenewal, for the replay gate's test only: it texts the
deputy before anything else on entering a stage, so every recorded history diverges from it."""

from __future__ import annotations

from temporalio import workflow

from renewals.case import contract as c
from workflows.renewal import PolicyRenewal


@workflow.defn(name=c.WORKFLOW_TYPE)
class ChangedPolicyRenewal(PolicyRenewal):
    @workflow.run
    async def run(self, inp: c.RenewalInput) -> c.CaseState:
        return await super().run(inp)

    def _enter(self, stage) -> None:
        self._notify_staff("deputy_escalation", "deputy")
        super()._enter(stage)
