"""Reading a renewal's Temporal history: what it cost (SPEC §11)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import History
from temporalio.client import WorkflowHistory

# Billable actions per event (Temporal Cloud): a start, each activity attempt, each timer, each
# signal, each accepted update, each search-attribute upsert.
_ACTION_EVENTS = {
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED: "start",
    EventType.EVENT_TYPE_TIMER_STARTED: "timer",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED: "signal",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED: "update",
    EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES: "upsert",
}


@dataclass(frozen=True)
class HistoryCost:
    actions: int
    history_bytes: int
    events: int
    by_kind: dict[str, int]


def history_cost(history: WorkflowHistory) -> HistoryCost:
    kinds: Counter[str] = Counter()
    for event in history.events:
        if event.event_type in _ACTION_EVENTS:
            kinds[_ACTION_EVENTS[event.event_type]] += 1
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            # Each attempt is an action; retries show as the attempt number of the started event.
            kinds["activity"] += max(event.activity_task_started_event_attributes.attempt, 1)
    return HistoryCost(
        actions=sum(kinds.values()),
        history_bytes=len(History(events=history.events).SerializeToString()),
        events=len(history.events),
        by_kind=dict(kinds),
    )
