"""The console's Chinese reads as one voice: full-width punctuation in Chinese text, one word for a
missed task, and each window named by the days the seed gives it (终保前30~25天)."""

from __future__ import annotations

import re
from pathlib import Path

from api.console.i18n import ENUMS, TEXT, translator, window_days
from api.views import WHAT_TO_DO, WHAT_TO_DO_ANY_STAGE, what_to_do
from renewals.case.contract import Stage
from renewals.case.labels import LOSS_REASON_WORDS, STAGE_WORDS
from renewals.reports.rules import ENGLISH as REPORT_WORDS

TEMPLATES = Path(__file__).resolve().parents[2] / "templates" / "console"
CJK = r"[\u3400-\u9fff\u3000-\u303f\uff01-\uff5e“”]"
HALF_WIDTH_NEXT_TO_CJK = re.compile(rf"{CJK}\s*[,:;()!?]|[,:;()!?]\s*{CJK}|{CJK}\s*\([^()]*\)|\([^()]*\)\s*{CJK}")
# "Missed" is 逾期未办 everywhere; these say the same thing in other words.
OTHER_WORDS_FOR_MISSED = re.compile(r"已逾期|逾期(?!未办)|错过")
# A page word shown right before or after a half-width mark in a template: {{ t('x') }}: or ({{ t('x') }}).
TEMPLATE_PUNCTUATION = re.compile(r"\{\{ ?t\([^}]*\}\}(?:</\w+>)?[:;,!?)]|[(]\{\{ ?t\(")


def chinese_strings() -> dict[str, str]:
    """Every Chinese string the console shows, by where it comes from."""
    found = {f"TEXT[{key}]": zh for key, (zh, _) in TEXT.items()}
    found |= {f"ENUMS[{key}]": zh for key, (zh, _) in ENUMS.items()}
    found |= {f"STAGE_WORDS[{key}]": zh for key, (zh, _) in STAGE_WORDS.items()}
    found |= {f"LOSS_REASON_WORDS[{key}]": zh for key, (zh, _) in LOSS_REASON_WORDS.items()}
    found |= {f"WHAT_TO_DO[{key}]": text.split(" / ")[0]
              for key, text in [*WHAT_TO_DO.items(), *WHAT_TO_DO_ANY_STAGE.items()]}
    found["what_to_do(proposal)"] = what_to_do("call", "FINAL_CONTACT", "TDAA0001").split(" / ")[0]
    found |= {f"report word {zh}": zh for zh in REPORT_WORDS}
    found |= {f"window_days[{stage}]": text for stage, text in window_days("zh").items()}
    for template in sorted(TEMPLATES.glob("*.html")):
        text = re.sub(r"\{#.*?#\}", "", template.read_text(), flags=re.S)  # comments are not shown
        found |= {f"{template.name}: {line.strip()}": line for line in text.splitlines() if re.search(CJK, line)}
    return found


def test_chinese_text_uses_full_width_punctuation():
    strings = chinese_strings()
    assert len(strings) > 300, "the scan reads the console's word tables"
    half_width = {where: text for where, text in strings.items() if HALF_WIDTH_NEXT_TO_CJK.search(text)}
    assert not half_width, "half-width punctuation in Chinese text:\n" + "\n".join(
        f"  {where}: {text}" for where, text in half_width.items())


def test_templates_put_no_half_width_mark_next_to_a_page_word():
    marked = [f"{template.name}: {line.strip()}" for template in sorted(TEMPLATES.glob("*.html"))
              for line in template.read_text().splitlines() if TEMPLATE_PUNCTUATION.search(line)]
    assert not marked, "write t('colon') or t('aside', text=…) instead:\n" + "\n".join(marked)
    zh, en = translator("zh"), translator("en")
    assert zh("refused_title") + zh("colon") == "未能办理：" and en("refused_title") + en("colon") == "Not done: "
    assert zh("aside", text=zh("new_policy_hint")) == "（成功（已缴费出单）时必填）"


def test_a_missed_task_has_one_word():
    other_words = {where: text for where, text in chinese_strings().items() if OTHER_WORDS_FOR_MISSED.search(text)}
    assert not other_words, "say 逾期未办 for a missed task:\n" + "\n".join(
        f"  {where}: {text}" for where, text in other_words.items())
    zh = translator("zh")
    assert zh("missed") == zh("missed_badge") == zh("expired") == "逾期未办"


def test_windows_are_named_by_the_seeds_days():
    assert window_days("zh") == {
        "FIRST_CONTACT": "终保前60~45天", "SECOND_CONTACT": "终保前30~25天", "THIRD_CONTACT": "终保前20~11天",
        "DEPUTY_SUPERVISION": "终保前10~8天", "FINAL_CONTACT": "终保前7~1天", "POST_EXPIRY": "到期后1~7天"}
    assert window_days("en")[Stage.SECOND_CONTACT] == "T-30 to T-25"
