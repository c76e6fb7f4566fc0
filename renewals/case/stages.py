"""The stage table of SPEC §2 as data: each stage's window, the tasks it opens and who does them,
the SMS it sends on entry, the follow-up statuses staff set in it, whether only an escalated case
enters it, and its words in Chinese and English.

The calendar, the task planner, the staff rules, the labels and the console all read it, so a
window's days are changed here, in one place. Each reader takes the table as an argument that
defaults to STAGE_TABLE, so a changed copy can be followed through all of them.

Days are calendar days relative to the policy's expiry date (T0); a window opens at 09:00 local
on its first day and runs until the next one opens.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from renewals.case.contract import FollowUpStatus, Stage, TaskKind


@dataclass(frozen=True)
class EntrySms:
    """An SMS a window sends as the case enters it."""

    template: str
    recipient: str  # customer, owner or deputy
    # When the window passed before the case could enter it (its worker was down, or too busy to
    # wake it in time), the SMS still goes out late if the case wakes in `late_until` or before;
    # after that it would come too late, and it is recorded as not sent. None: never late.
    late_until: Stage | None = None


@dataclass(frozen=True)
class StageTasks:
    """The tasks a window opens for whoever's turn it is. The first opens when the window does."""

    kind: TaskKind
    daily: bool = False  # one task every day, each due at the end of its day; else one task
    until: int | None = None  # the day the last is due; None: the window's last day
    # The contact channels that handle a daily task, where the seed names the means; None: any.
    channels: tuple[str, ...] | None = None
    staff_sms_handles: bool = False  # a quote or service-request SMS to the customer handles it too


@dataclass(frozen=True)
class StageRow:
    stage: Stage
    opens: int | None  # the window's first day; None (WAITING): it is everything before the first window
    words: tuple[str, str]  # (中文, English)
    who: str = "owner"  # whose turn it is to work the case: owner (its service manager) or deputy
    tasks: StageTasks | None = None
    entry_sms: tuple[EntrySms, ...] = ()
    # The follow-up statuses staff may set in it; `success` (paid and issued) ends the case in any stage.
    statuses: tuple[FollowUpStatus, ...] = (FollowUpStatus.success,)
    escalated_only: bool = False  # entered only by an escalated case; others go on to the next window
    # The SMS staff send after each contact, recorded on the task the day's contact handled.
    sms_after_contact: tuple[str, ...] = ()


_POSITION = {stage: i for i, stage in enumerate(Stage)}


@dataclass(frozen=True)
class StageTable:
    rows: tuple[StageRow, ...]
    last_day: int  # the last window ends with this day; a case still open then closes

    def __post_init__(self) -> None:
        if tuple(row.stage for row in self.rows) != tuple(Stage):
            raise ValueError("the stage table has one row per stage, in the lifecycle's order")
        days = [row.opens for row in self.rows[1:]]
        if self.rows[0].opens is not None or None in days or days != sorted(set(days)) or days[-1] > self.last_day:
            raise ValueError(f"windows must open on increasing days up to {self.last_day}, after WAITING: {days}")
        for row in self.rows:
            if row.tasks is not None and not row.opens <= self.task_days(row.stage)[-1][1] <= self.window(row.stage)[1]:
                raise ValueError(f"{row.stage}'s tasks are due outside its window")

    def __iter__(self) -> Iterator[StageRow]:
        return iter(self.rows)

    def __getitem__(self, stage: Stage | str) -> StageRow:
        return self.rows[self.index(stage)]

    def index(self, stage: Stage | str) -> int:
        return _POSITION[Stage(stage)]  # the rows are in the lifecycle's order (checked above)

    def window(self, stage: Stage | str) -> tuple[int, int]:
        """The first and last day of a stage's window: it ends the day before the next one opens."""
        i = self.index(stage)
        later = self.rows[i + 1:]
        return self.rows[i].opens, later[0].opens - 1 if later else self.last_day

    def task_days(self, stage: Stage | str) -> tuple[tuple[int, int], ...]:
        """(opening day, due day) of every task the stage opens."""
        row = self[stage]
        if row.tasks is None:
            return ()
        until = self.window(stage)[1] if row.tasks.until is None else row.tasks.until
        if row.tasks.daily:
            return tuple((day, day) for day in range(row.opens, until + 1))
        return ((row.opens, until),)

    @property
    def task_kinds(self) -> tuple[str, ...]:
        """The kinds of task the table plans (every other task is a one-off)."""
        return tuple(dict.fromkeys(row.tasks.kind for row in self.rows if row.tasks is not None))


_ANY_STATUS = (FollowUpStatus.success, FollowUpStatus.failed, FollowUpStatus.continue_)

STAGE_TABLE = StageTable(
    rows=(
        StageRow(Stage.WAITING, None, ("等待续保窗口", "Waiting")),
        StageRow(
            Stage.FIRST_CONTACT, -60, ("第一次接触", "First contact"),
            tasks=StageTasks(TaskKind.call, until=-45),
            # Introducing the service manager is still worth it until the final notice does it again.
            entry_sms=(EntrySms("first_notice", "customer", late_until=Stage.DEPUTY_SUPERVISION),),
        ),
        StageRow(Stage.SECOND_CONTACT, -30, ("第二次接触", "Second contact"),
                 tasks=StageTasks(TaskKind.call, until=-25)),
        StageRow(
            Stage.THIRD_CONTACT, -20, ("第三次接触", "Third contact"),
            # The seed: "每天电话联系", only a call handles the day's task.
            tasks=StageTasks(TaskKind.call, daily=True, channels=("call",)),
            statuses=_ANY_STATUS,
        ),
        StageRow(
            Stage.DEPUTY_SUPERVISION, -10, ("分管副经理督办", "Deputy supervision"),
            who="deputy", tasks=StageTasks(TaskKind.supervision),
            # The deputy supervises in this window only: from the next the case is back with the manager.
            entry_sms=(EntrySms("deputy_escalation", "deputy"),),
            statuses=_ANY_STATUS, escalated_only=True,
        ),
        StageRow(
            # The seed counts the deputy's contact as the fourth.
            Stage.FINAL_CONTACT, -7, ("第五次接触", "Final contact"),
            tasks=StageTasks(TaskKind.call, daily=True, until=-1),
            # "Expires soon" means nothing once the policy has expired.
            entry_sms=(EntrySms("manager_final_reminder", "owner"), EntrySms("final_notice", "customer")),
            # "每次联系后,无论客户态度如何,均应发送报价短信、诚恳请求给予服务机会的短信".
            sms_after_contact=("quote", "service_request"),
        ),
        StageRow(
            Stage.POST_EXPIRY, 1, ("第六次接触", "After expiry"),
            # The seed: "每天与客户电话或短信沟通一次", a call or an SMS staff send the customer.
            tasks=StageTasks(TaskKind.call, daily=True, staff_sms_handles=True),
        ),
    ),
    last_day=7,
)
