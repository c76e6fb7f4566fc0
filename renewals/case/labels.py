"""The business words for stages and loss reasons, in Chinese (the seed's wording) and English:
one word per thing, read alike by the console, the reports and the SMS.

Chinese follows the seed's renewal process ("第一次与客户进行续保接触", "支公司分管经理督办", loss reasons
"1、价格原因, 2、理赔原因, 3、人情原因"); English is the console's. A language is "en" for English;
anything else ("zh", "zh-CN") is Chinese, the staff's language.
"""

from __future__ import annotations

from datetime import date

from renewals.case.calendar import plan_renewal, t_day
from renewals.case.contract import LossReason, Stage

# value: (中文, English)
STAGE_WORDS: dict[Stage, tuple[str, str]] = {
    Stage.WAITING: ("等待续保窗口", "Waiting"),
    Stage.FIRST_CONTACT: ("第一次接触", "First contact"),
    Stage.SECOND_CONTACT: ("第二次接触", "Second contact"),
    Stage.THIRD_CONTACT: ("第三次接触", "Third contact"),
    Stage.DEPUTY_SUPERVISION: ("分管副经理督办", "Deputy supervision"),
    Stage.FINAL_CONTACT: ("第五次接触", "Final contact"),  # the seed counts the deputy's as the fourth
    Stage.POST_EXPIRY: ("第六次接触", "After expiry"),
}
LOSS_REASON_WORDS: dict[LossReason, tuple[str, str]] = {
    LossReason.price: ("价格原因", "price"),
    LossReason.claims: ("理赔原因", "claims"),
    LossReason.relationship: ("人情原因", "relationship"),
    LossReason.vehicle_transferred: ("车辆过户", "vehicle transferred"),
    LossReason.vehicle_scrapped: ("车辆报废", "vehicle scrapped"),
    LossReason.service: ("服务原因", "service"),
    LossReason.other: ("其他", "other"),
    LossReason.unknown: ("未知", "unknown"),
}
# The reasons staff choose from, in the order the loss-reason SMS numbers them for a reply;
# `unknown` is what a case records when nobody chose by the end of T+7.
LOSS_REASON_CHOICES: tuple[LossReason, ...] = tuple(r for r in LossReason if r is not LossReason.unknown)


def word(value: Stage | LossReason | str, language: str = "zh-CN") -> str:
    """The word for a stage or a loss reason (its enum or its value) in `language`."""
    pair = STAGE_WORDS.get(value) or LOSS_REASON_WORDS.get(value)
    if pair is None:
        raise ValueError(f"no words for {value!r}: not a stage or a loss reason")
    return pair[language == "en"]


# Task days are the same relative days for every case: read them off any plan.
_PLAN = plan_renewal(date(2001, 1, 1), "UTC")


def stage_with_days(stage: Stage | str, language: str = "zh-CN") -> str:
    """A stage as an SMS names it: its word and the days its tasks run, e.g. 第三次接触(终保前20~11天)."""
    slots = _PLAN.task_slots(stage)
    if not slots:
        return word(stage, language)
    first, last = slots[0].day, _PLAN.day_of(slots[-1].due_at) - 1
    if language == "en":
        return f"{word(stage, language)} ({t_day(first)} to {t_day(last)})"
    days = f"终保前{-first}~{-last}天" if last < 0 else f"到期后{first}~{last}天"
    return f"{word(stage, language)}({days})"
