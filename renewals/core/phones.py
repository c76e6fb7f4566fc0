"""Phone numbers as we store and dial them: E.164, checked with `phonenumbers`."""

from __future__ import annotations

import phonenumbers


class FieldError(ValueError):
    """Bad input; the message starts with the field it is about ("phone: ...")."""


def e164(text: str) -> str:
    """Any valid number (a landline too), as E.164. The reason never repeats the number."""
    try:
        parsed = phonenumbers.parse(text, "CN")
    except phonenumbers.NumberParseException:
        raise ValueError("not a phone number") from None
    if not phonenumbers.is_valid_number(parsed):
        raise ValueError("not a valid phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def normalise_phone(phone: str) -> str:
    """`phone` as E.164, or FieldError naming the `phone` field."""
    try:
        return e164(phone)
    except ValueError as exc:
        raise FieldError(f"phone: {phone!r} is {exc}") from None
