"""Masking personal data for everyone who may not see it in full (SPEC §5)."""

from __future__ import annotations

import re


def mask_phone(phone: str | None) -> str | None:
    """`+8613812348000` → `138****8000`: the first 3 and last 4 digits of the national number."""
    if not phone:
        return phone
    digits = "".join(ch for ch in phone if ch.isdigit())
    if phone.startswith("+86") and len(digits) == 13:
        digits = digits[2:]
    if len(digits) <= 7:
        return "*" * len(digits)
    return f"{digits[:3]}{'*' * (len(digits) - 7)}{digits[-4:]}"


def mask_numbers(text: str) -> str:
    """Mask every run of 7+ digits (phone numbers inside SMS bodies, TwiML, notes)."""
    return re.sub(r"\+?\d{7,}", lambda m: mask_phone(m.group()), text)


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
