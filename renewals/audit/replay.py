"""The replay gate: run recorded histories against the current workflow code with the SDK's
Replayer; any non-determinism is a failure a release must not ship."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows.archiver import HistoryArchiver
from workflows.renewal import PolicyRenewal

# The workflow code a replay checks against: what this build's workers would run.
WORKFLOWS: Sequence[type] = (PolicyRenewal, HistoryArchiver)


@dataclass(frozen=True)
class ReplayOutcome:
    name: str  # the policy, workflow id or file the history came from
    workflow_id: str
    events: int
    divergence: str | None  # the first divergence, None when the history replayed clean

    @property
    def ok(self) -> bool:
        return self.divergence is None


async def replay_all(histories: AsyncIterator[tuple[str, WorkflowHistory]], on_result=None) -> list[ReplayOutcome]:
    replayer = Replayer(workflows=list(WORKFLOWS), data_converter=pydantic_data_converter)
    outcomes = []
    async for name, history in histories:
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        failure = result.replay_failure
        outcome = ReplayOutcome(name, history.workflow_id, len(history.events),
                                _first_line(failure) if failure else None)
        outcomes.append(outcome)
        if on_result:
            on_result(outcome)
    return outcomes


def _first_line(failure: Exception) -> str:
    """The SDK wraps the server-style message (`[TMPRL1100] Nondeterminism error: …`) in a
    Rust debug dump: keep the message itself."""
    text = str(failure)
    inner = re.search(r'message: "([^"]+)"', text)
    return f"{type(failure).__name__}: {(inner.group(1) if inner else text).strip().splitlines()[0][:500]}"
