from datetime import date
from decimal import Decimal

import pytest
from jinja2 import UndefinedError

from renewals.case.contract import Stage
from renewals.case.labels import LOSS_REASON_CHOICES, stage_with_days, word
from renewals.case.messages import (
    LANGUAGES, MAX_SEGMENTS, MESSAGE_KEYS, Rendered, render_sms, shipped_template, sms_segments, template_problems,
)

CONTEXT = {
    "customer_name": "欧阳明辉",
    "policy_no": "PDAA202544010000123456",
    "plate": "粤B·D***68",
    "expiry_date": date(2025, 3, 15),
    "days_left": 50,
    "manager_name": "张伟",
    "manager_phone": "13812345678",
    "deputy_name": "李建国",
    "premium": Decimal("4386.50"),
    "insurer_name": "中国人保财险",
    "quote_valid_until": date(2025, 2, 28),
    "stage_label": stage_with_days(Stage.DEPUTY_SUPERVISION),
    "loss_reasons": [word(reason) for reason in LOSS_REASON_CHOICES],
    "case_url": "https://renewals.example.com/app/cases/0b8e1f9c-6d2a-4e0b-9c61-2f4d8a7e3b15",
}
CUSTOMER_KEYS = ("first_notice", "final_notice", "quote", "service_request")


@pytest.mark.parametrize("language", ["zh-CN", "en"])
@pytest.mark.parametrize("key", MESSAGE_KEYS)
def test_every_key_renders_within_the_segment_limit(key, language):
    rendered = render_sms(key, language, CONTEXT)
    assert isinstance(rendered, Rendered)
    assert rendered.body and "{{" not in rendered.body and "\n" not in rendered.body
    assert 1 <= rendered.segments <= MAX_SEGMENTS
    assert (rendered.segments, rendered.encoding) == sms_segments(rendered.body)


@pytest.mark.parametrize("key", CUSTOMER_KEYS)
def test_chinese_customer_sms_is_signed_and_short(key):
    rendered = render_sms(key, "zh-CN", CONTEXT)
    assert rendered.body.startswith("【中国人保财险】")
    assert rendered.segments <= 2


def test_insurer_name_defaults_per_language():
    context = {k: v for k, v in CONTEXT.items() if k != "insurer_name"}
    assert render_sms("quote", "zh-CN", context).body.startswith("【中国人保财险】")
    assert render_sms("quote", "en", context).body.startswith("PICC P&C:")
    assert render_sms("quote", None, context).body.startswith("【中国人保财险】")


def test_first_notice_names_the_manager_and_the_50_days():
    body = render_sms("first_notice", "zh-CN", CONTEXT).body
    assert "张伟" in body and "13812345678" in body and "50" in body
    assert "2025年3月15日" in body


def test_quote_and_loss_reasons_render_data():
    assert "4,386.50元" in render_sms("quote", "zh-CN", CONTEXT).body
    body = render_sms("loss_reason_request", "zh-CN", CONTEXT).body
    assert "1价格原因 2理赔原因 3人情原因 4车辆过户 5车辆报废 6服务原因 7其他" in body
    assert "PDAA202544010000123456" in body


def test_a_missing_variable_raises():
    context = {k: v for k, v in CONTEXT.items() if k != "manager_phone"}
    with pytest.raises(UndefinedError, match="manager_phone"):
        render_sms("first_notice", "zh-CN", context)


def test_unknown_key_or_language_raises_naming_it():
    with pytest.raises(ValueError, match="no_such_key"):
        render_sms("no_such_key", "zh-CN", CONTEXT)
    with pytest.raises(ValueError, match="fr-FR"):
        render_sms("quote", "fr-FR", CONTEXT)


def test_too_many_segments_is_refused():
    with pytest.raises(ValueError, match="segments"):
        render_sms("first_notice", "zh-CN", {**CONTEXT, "customer_name": "欧" * 300})


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("a" * 160, (1, "GSM-7")),
        ("a" * 161, (2, "GSM-7")),
        ("a" * 306, (2, "GSM-7")),
        ("a" * 307, (3, "GSM-7")),
        ("€" * 80, (1, "GSM-7")),  # extension chars take two septets
        ("€" * 81, (2, "GSM-7")),
        ("a" * 152 + "{" + "a" * 10, (2, "GSM-7")),  # 164 septets
        ("a" * 152 + "[" + "a" * 153, (3, "GSM-7")),  # an escape pair is never split
        ("保" * 70, (1, "UCS-2")),
        ("保" * 71, (2, "UCS-2")),
        ("保" * 134, (2, "UCS-2")),
        ("保" * 135, (3, "UCS-2")),
        ("a" * 69 + "保", (1, "UCS-2")),  # one non-GSM char switches the whole message
        ("😀" * 35, (1, "UCS-2")),  # astral chars are two UTF-16 code units
        ("😀" * 36, (2, "UCS-2")),
        ("", (1, "GSM-7")),
    ],
)
def test_sms_segments(body, expected):
    assert sms_segments(body) == expected


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("key", MESSAGE_KEYS)
def test_every_shipped_template_passes_the_checks_an_edit_must_pass(key, language):
    rendered, problems = template_problems(key, language, shipped_template(key, language), CONTEXT)
    assert problems == [] and rendered == render_sms(key, language, CONTEXT)


def test_an_edit_that_loses_a_placeholder_or_a_marketing_texts_opt_out_line_is_refused():
    quote = shipped_template("quote", "en")
    assert template_problems("quote", "en", quote.replace("{{ manager_phone }}", "95518"), CONTEXT)[1] == [
        "required placeholder {{ manager_phone }} is missing"]
    assert template_problems("quote", "en", quote.replace("Reply {{ opt_out_reply }} to opt out",
                                                          "({{ opt_out_reply }})"), CONTEXT)[1] == [
        "a marketing text must keep its opt-out line (Reply STOP to opt out)"]
    notice = shipped_template("first_notice", "zh-CN").replace("【{{ insurer_name }}】", "")
    rendered, problems = template_problems("first_notice", "zh-CN", notice, CONTEXT)
    assert problems == [] and "张伟" in rendered.body, "a service notice carries no opt-out line"


@pytest.mark.parametrize("trick", ["{{ manager_name.__class__.__mro__ }}", "{{ manager_name * 100000000 }}",
                                   "{{ manager_name.center(100000000) }}", "{{ manager_name | center(100000000) }}"])
def test_an_edited_text_reaches_nothing_but_its_values(trick):
    """Admins edit the templates: no attribute, call, arithmetic or filter beyond the text's own."""
    notice = shipped_template("first_notice", "en")
    rendered, problems = template_problems("first_notice", "en", notice + trick, CONTEXT)
    assert rendered is None and len(problems) == 1, problems
