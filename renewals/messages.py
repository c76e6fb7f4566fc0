"""SMS texts: one Jinja template per message key and language, rendered from database data.

Templates live in `templates/sms/<language>/<key>.txt.j2`. Rendering is strict (a missing
variable raises) because a customer SMS with a blank manager phone is worse than no SMS.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Literal, NamedTuple

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from renewals.consent import OPT_OUT_REPLY

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

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates" / "sms"

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


@lru_cache
def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        undefined=StrictUndefined,
        autoescape=False,  # plain text, not HTML
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.filters.update(zh_date=_zh_date, en_date=_en_date, money=_money)
    return env


def render_sms(key: str, language: str | None = DEFAULT_LANGUAGE, context: Mapping | None = None) -> Rendered:
    """Render message `key` in `language` ('zh-CN' when None); raises on any missing variable."""
    language = language or DEFAULT_LANGUAGE
    if key not in MESSAGE_KEYS:
        raise ValueError(f"unknown SMS message key {key!r}; known: {', '.join(MESSAGE_KEYS)}")
    if language not in LANGUAGES:
        raise ValueError(f"unknown SMS language {language!r}; known: {', '.join(LANGUAGES)}")
    values = dict(context or {})
    if values.get("insurer_name") is None:
        values["insurer_name"] = DEFAULT_INSURER_NAME[language]
    values.setdefault("opt_out_reply", OPT_OUT_REPLY[language])  # the word the webhook recognises
    body = _environment().get_template(f"{language}/{key}.txt.j2").render(values).strip()
    segments, encoding = sms_segments(body)
    if segments > MAX_SEGMENTS:
        raise ValueError(f"SMS {key!r} ({language}) is {segments} segments, more than {MAX_SEGMENTS}")
    return Rendered(body, segments, encoding)
