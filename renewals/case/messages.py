"""SMS texts: one Jinja template per message key and language, rendered from database data.

The templates live in the database (营销模板管理: every change a new version, renewals.case.sms_templates);
`templates/sms/<language>/<key>.txt.j2` are the texts shipped with the product, the first version
of each. Rendering is strict (a missing variable raises) because a customer SMS with a blank
manager phone is worse than no SMS; an edited template is checked here before it is kept.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Literal, NamedTuple

from jinja2 import StrictUndefined, TemplateError, meta, nodes
from jinja2.sandbox import SandboxedEnvironment, SecurityError

from renewals.case.consent import OPT_OUT_REPLY

Encoding = Literal["GSM-7", "UCS-2"]

MESSAGE_KEYS: tuple[str, ...] = (
    "first_notice",  # T-60~45, customer: expires in about 50 days, manager name and phone
    "final_notice",  # T-7~1, customer: expires soon, exclusive manager
    "manager_final_reminder",  # T-7~1, manager: the customer's policy is about to expire
    "deputy_escalation",  # T-10~8, deputy: case escalated for supervision (督办)
    "complaint_alert",  # any stage, deputy: complaint recorded, handle at once
    "quote",  # customer: renewal quote
    "service_request",  # T-7~1, customer: sincerely asks for the chance to serve
    "loss_reason_request",  # T+1~7, manager: renewed elsewhere, reply with the reason
)
LANGUAGES: tuple[str, ...] = ("zh-CN", "en")
DEFAULT_LANGUAGE = "zh-CN"
# Above this a message costs too much and is likely cut by handsets: refuse rather than send.
MAX_SEGMENTS = 4
# Used when the context carries no insurer_name; the English text stays GSM-7 this way.
DEFAULT_INSURER_NAME = {"zh-CN": "中国人保财险", "en": "PICC P&C"}

TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "templates" / "sms"

# What each text must keep, as the seed says it (the manager's name and phone where the customer is
# to call them; the facts the reader acts on): an edit that drops one is refused.
REQUIRED_PLACEHOLDERS: dict[str, frozenset[str]] = {
    "first_notice": frozenset({"expiry_date", "days_left", "manager_name", "manager_phone"}),
    "final_notice": frozenset({"expiry_date", "manager_name", "manager_phone"}),
    "manager_final_reminder": frozenset({"customer_name", "policy_no", "expiry_date", "case_url"}),
    "deputy_escalation": frozenset({"customer_name", "policy_no", "manager_name", "case_url"}),
    "complaint_alert": frozenset({"customer_name", "policy_no", "manager_name", "case_url"}),
    "quote": frozenset({"premium", "quote_valid_until", "manager_name", "manager_phone", "opt_out_reply"}),
    "service_request": frozenset({"manager_name", "manager_phone", "opt_out_reply"}),
    "loss_reason_request": frozenset({"policy_no", "loss_reasons"}),
}
# Every value a text may use (what the send puts in its context).
PLACEHOLDERS = frozenset({
    "customer_name", "policy_no", "plate", "expiry_date", "days_left", "manager_name", "manager_phone",
    "deputy_name", "premium", "quote_valid_until", "stage_label", "loss_reasons", "insurer_name", "opt_out_reply",
    "case_url",  # the case's console page, for the staff SMS that announce work: one tap to it
})
# Marketing texts (营销短信) must tell the customer how to opt out, in these words.
MARKETING_KEYS = frozenset({"quote", "service_request"})
OPT_OUT_LINE = {"zh-CN": "回{reply}退订", "en": "Reply {reply} to opt out"}

# GSM 03.38 default alphabet (ESC 0x1B excluded) and its extension table (two septets each).
_GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENSION = frozenset("\f^{}\\[~]|€")


class Rendered(NamedTuple):
    body: str
    segments: int
    encoding: Encoding


def sms_segments(body: str) -> tuple[int, Encoding]:
    """Segments the body costs: GSM-7 160/153 septets, else UCS-2 70/67 UTF-16 code units.

    Multipart segments never split an escape pair or a surrogate pair, as handsets and
    carriers do, so a boundary character can push the count up by one.
    """
    if all(ch in _GSM_BASIC or ch in _GSM_EXTENSION for ch in body):
        encoding: Encoding = "GSM-7"
        units = [2 if ch in _GSM_EXTENSION else 1 for ch in body]
        single, multi = 160, 153
    else:
        encoding = "UCS-2"
        units = [2 if ord(ch) > 0xFFFF else 1 for ch in body]
        single, multi = 70, 67
    if sum(units) <= single:
        return 1, encoding
    segments, used = 1, 0
    for size in units:
        if used + size > multi:
            segments, used = segments + 1, 0
        used += size
    return segments, encoding


def _zh_date(value: date | datetime | str) -> str:
    return f"{value.year}年{value.month}月{value.day}日" if isinstance(value, date) else str(value)


def _en_date(value: date | datetime | str) -> str:
    return value.strftime("%Y-%m-%d") if isinstance(value, date) else str(value)


def _money(value: Decimal | float | int | str) -> str:
    return f"{Decimal(str(value)):,.2f}"


class _TextSandbox(SandboxedEnvironment):
    """Admins edit the templates: no attribute a text has no business with (the sandbox), and no
    arithmetic, call or filter but the text's own, any of which could build a string of any size."""

    intercepted_binops = frozenset({"*", "**", "//", "%", "+", "-", "/"})

    def call_binop(self, context, operator, left, right):
        raise SecurityError(f"no arithmetic ({operator}) in an SMS text")

    def call(self, context, obj, *args, **kwargs):
        raise SecurityError("no function or method calls in an SMS text")


@lru_cache
def _environment() -> SandboxedEnvironment:
    env = _TextSandbox(
        undefined=StrictUndefined,
        autoescape=False,  # plain text, not HTML
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.filters = {"zh_date": _zh_date, "en_date": _en_date, "money": _money}
    env.globals = {}
    return env


@lru_cache(maxsize=256)
def _compiled(source: str):
    return _environment().from_string(source)


def _check_key(key: str, language: str) -> None:
    if key not in MESSAGE_KEYS:
        raise ValueError(f"unknown SMS message key {key!r}; known: {', '.join(MESSAGE_KEYS)}")
    if language not in LANGUAGES:
        raise ValueError(f"unknown SMS language {language!r}; known: {', '.join(LANGUAGES)}")


def shipped_template(key: str, language: str) -> str:
    """The text shipped with the product: the first version of each template."""
    _check_key(key, language)
    return (TEMPLATE_DIR / language / f"{key}.txt.j2").read_text(encoding="utf-8")


def render_sms(key: str, language: str | None = DEFAULT_LANGUAGE, context: Mapping | None = None,
               template: str | None = None) -> Rendered:
    """Render message `key` in `language` ('zh-CN' when None) from `template` (default: the shipped
    text); raises on any missing variable."""
    language = language or DEFAULT_LANGUAGE
    _check_key(key, language)
    source = shipped_template(key, language) if template is None else template
    body = _compiled(source).render(_values(language, context)).strip()
    segments, encoding = sms_segments(body)
    if segments > MAX_SEGMENTS:
        raise ValueError(f"SMS {key!r} ({language}) is {segments} segments, more than {MAX_SEGMENTS}")
    return Rendered(body, segments, encoding)


def _values(language: str, context: Mapping | None) -> dict:
    values = dict(context or {})
    if values.get("insurer_name") is None:
        values["insurer_name"] = DEFAULT_INSURER_NAME[language]
    values.setdefault("opt_out_reply", OPT_OUT_REPLY[language])  # the word the webhook recognises
    return values


# How a Chinese text begins: the insurer's name in 【】, where an SMS provider's sign name goes.
_SIGN = re.compile(r"\s*【\{\{\s*insurer_name\s*\}\}】")


def template_values(language: str, template: str, context: Mapping) -> dict[str, str]:
    """What `template` shows of `context`, each value as the text shows it (its filter applied, a
    list as the text's loop writes it): what an SMS provider that keeps its own registered copy of
    the text (Alibaba Cloud) fills that copy with, and no more. A leading 【insurer】 is not among
    them: the provider's sign name stands there."""
    values = _values(language, context)
    parsed = _environment().parse(_SIGN.sub("", template, count=1) if _SIGN.match(template) else template)

    def rendered(node: nodes.Node) -> str:  # that part of the text alone
        return _environment().from_string(nodes.Template([node], lineno=1)).render(values)

    used = meta.find_undeclared_variables(parsed)  # not a loop's own variables
    shown: dict[str, str] = {}
    for loop in parsed.find_all(nodes.For):
        if isinstance(loop.iter, nodes.Name) and loop.iter.name in used:
            shown[loop.iter.name] = rendered(loop)
    for value in parsed.find_all(nodes.Filter):
        if isinstance(value.node, nodes.Name) and value.node.name in used.difference(shown):
            shown[value.node.name] = rendered(nodes.Output([value], lineno=1))
    for name in used.difference(shown):
        shown[name] = str(values[name])
    return shown


def template_problems(key: str, language: str, template: str, context: Mapping) -> tuple[Rendered | None, list[str]]:
    """An edited template rendered with `context` (a real case's), or why it cannot be kept: a syntax
    error, a required placeholder it lost, one the send does not know, a marketing text without its
    opt-out line, a rendering error or a text too long."""
    _check_key(key, language)
    try:
        used = meta.find_undeclared_variables(_environment().parse(template))
    except TemplateError as exc:
        return None, [f"the template does not parse: {exc}"]
    problems = [f"required placeholder {{{{ {name} }}}} is missing"
                for name in sorted(REQUIRED_PLACEHOLDERS[key] - used)]
    problems += [f"unknown placeholder {{{{ {name} }}}}" for name in sorted(used - PLACEHOLDERS)]
    if problems:
        return None, problems
    try:
        rendered = render_sms(key, language, context, template)
    except Exception as exc:  # noqa: BLE001 — whatever an edited text does wrong, it is not kept
        return None, [f"the template does not render: {exc}"]
    opt_out = OPT_OUT_LINE[language].format(reply=OPT_OUT_REPLY[language])
    if key in MARKETING_KEYS and opt_out not in rendered.body:
        return rendered, [f"a marketing text must keep its opt-out line ({opt_out})"]
    return rendered, []
