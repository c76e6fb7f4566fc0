"""The business words for stages, loss reasons and staff roles, in Chinese (the seed's wording) and
English: one word per thing, read alike by the console, the reports and the SMS.

Chinese follows the seed's renewal process ("第一次与客户进行续保接触", "支公司分管经理督办", loss reasons
"1、价格原因, 2、理赔原因, 3、人情原因"); English is the console's. A language is "en" for English;
anything else ("zh", "zh-CN") is Chinese, the staff's language.
"""

from __future__ import annotations

from renewals.case.calendar import t_day
from renewals.case.contract import LossReason, Stage
from renewals.case.stages import STAGE_TABLE, StageTable

# value: (中文, English); a stage's words are the stage table's.
STAGE_WORDS: dict[Stage, tuple[str, str]] = {row.stage: row.words for row in STAGE_TABLE}
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
# The roles as the team calls them (models.Role's values).
ROLE_WORDS: dict[str, tuple[str, str]] = {
    "sales": ("保单服务经理", "service manager"),
    "deputy": ("分管副经理", "deputy manager"),
    "admin": ("系统专员", "system specialist"),
    "manager": ("管理人员", "manager"),
    "auditor": ("审计", "auditor"),
}
# The reasons staff choose from, in the order the loss-reason SMS numbers them for a reply;
# `unknown` is what a case records when nobody chose by the end of T+7.
LOSS_REASON_CHOICES: tuple[LossReason, ...] = tuple(r for r in LossReason if r is not LossReason.unknown)


def word(value: Stage | LossReason | str, language: str = "zh-CN") -> str:
    """The word for a stage, a loss reason or a role (its enum or its value) in `language`."""
    pair = STAGE_WORDS.get(value) or LOSS_REASON_WORDS.get(value) or ROLE_WORDS.get(value)
    if pair is None:
        raise ValueError(f"no words for {value!r}: not a stage, a loss reason or a role")
    return _in_language(language, pair)


def stage_days(stage: Stage | str, language: str = "zh-CN", table: StageTable = STAGE_TABLE) -> str:
    """The days a stage's tasks run, as the seed writes them: 终保前30~25天, 到期后1~7天 ("" for none)."""
    task_days = table.task_days(stage)
    if not task_days:
        return ""
    (first, _), (_, last) = task_days[0], task_days[-1]
    if language == "en":
        return f"{t_day(first)} to {t_day(last)}"
    return f"终保前{-first}~{-last}天" if last < 0 else f"到期后{first}~{last}天"


def stage_with_days(stage: Stage | str, language: str = "zh-CN", table: StageTable = STAGE_TABLE) -> str:
    """A stage as an SMS names it: its word and its days, e.g. 第三次接触(终保前20~11天)."""
    name, days = _in_language(language, table[stage].words), stage_days(stage, language, table)
    if not days:
        return name
    return f"{name} ({days})" if language == "en" else f"{name}({days})"


def _in_language(language: str, words: tuple[str, str]) -> str:
    return words[language == "en"]
