"""Masking personal data for everyone who may not see it in full (SPEC §5)."""

from __future__ import annotations

import re
from collections.abc import Iterable


def mask_phone(phone: str | None) -> str | None:
    """`+8613812348000` → `138****8000`: the first 3 and last 4 digits of the national number (a
    landline's too: `+862162345678` → `216***5678`)."""
    if not phone:
        return phone
    digits = "".join(ch for ch in phone if ch.isdigit())
    if phone.startswith("+86"):
        digits = digits[2:]
    if len(digits) <= 7:
        return "*" * len(digits)
    return f"{digits[:3]}{'*' * (len(digits) - 7)}{digits[-4:]}"


# Inside free text (notes, SMS bodies, family fields, provider error texts), as people write them:
# id numbers (18 characters, the last may be X; or the old 15 digits), phones written with spaces,
# dashes or dots (`139 1234 5678`, `+86 139-1234-5678`, `021-6234 5678`), and any run of 7+ digits.
_ID_NUMBER = r"\d{17}[\dXx]|\d{15}"
_SPACED_PHONE = r"(?:\+?86[ .-]?)?1\d{2}[ .-]?\d{4}[ .-]?\d{4}|0\d{2,3}[ .-]\d{3,4}[ .-]?\d{4}"
_NUMBERS = re.compile(rf"(?<!\d)(?:(?P<id>{_ID_NUMBER})|(?P<phone>{_SPACED_PHONE}|\+?\d{{7,}}))(?!\d)")
# The provinces a Chinese plate starts with: masking finds plates by them, imports check plates against them.
PLATE_PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
# Chinese plates (沪A12345, 沪A·D12345, 粤B 1234学) and VINs.
_PLATE = re.compile(rf"[{PLATE_PROVINCES}][A-Z][·• -]?[A-Z0-9]{{4,5}}[A-Z0-9挂学警港澳]|(?<![A-Z0-9])[A-HJ-NPR-Z0-9]{{17}}(?![A-Z0-9])")


def mask_numbers(text: str, *, keep_phones: bool = False) -> str:
    """Mask id numbers (last 4 kept) and, unless kept, phone numbers (first 3 and last 4 digits kept) in text."""
    return _NUMBERS.sub(lambda m: mask_id_number(m["id"]) if m["id"] else m[0] if keep_phones
                        else mask_phone(m["phone"]), text)


def mask_text(text: str | None, *, contact: bool, identity: bool, names: Iterable[str | None] = ()) -> str | None:
    """Free text as a reader may see it: id numbers always keep only their last 4; phones are in
    full only for a reader entitled to the customer's contact details; plates, VINs and the given
    names (the customer's, say) only for a reader entitled to identities (not auditors)."""
    if not text:
        return text
    text = mask_numbers(text, keep_phones=contact)
    if not identity:
        text = _PLATE.sub(lambda m: mask_plate(m[0]), text)
        for name in sorted({n for n in names if n and len(n) > 1}, key=len, reverse=True):
            text = text.replace(name, mask_name(name))
    return text


def mask_id_number(id_number: str | None) -> str | None:
    """Only the last 4 characters stay visible, for everyone."""
    if not id_number:
        return id_number
    return "*" * max(len(id_number) - 4, 0) + id_number[-4:]


def mask_name(name: str | None) -> str | None:
    """`张三丰` → `张**`: the family name only."""
    if not name:
        return name
    return name[0] + "*" * (len(name) - 1)


def mask_plate(plate: str | None) -> str | None:
    """`沪A12345` → `沪A***45`."""
    if not plate or len(plate) <= 4:
        return plate
    return plate[:2] + "*" * (len(plate) - 4) + plate[-2:]
