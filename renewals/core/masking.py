"""Masking personal data for everyone who may not see it in full (SPEC §5)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date
from typing import NamedTuple


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


# Inside free text (notes, SMS bodies, family fields, provider error texts) people write numbers
# with anything between the digits: `139 1234 5678`, `130 93 39 31 06`, `(130)933*3106`,
# `+86 21-6234 5678`, `310101-19900101-123X`, in full-width forms too. A run is digit groups joined
# by up to 3 separators (with a leading + and an id number's final X). Inside a run, each longest
# stretch of whole groups that is an id number or a phone is masked; what is left is masked as a
# phone when it still holds 7 digits or more, unless those are a date, a year, an amount or a code.
_SEPARATORS = (" \t\u00a0\u2000-\u200d\u202f\u205f\u2060\u3000\ufeff"  # spaces, zero-width ones too
               "\\-\u2010-\u2015\u2212\uff0d_\uff3f"  # dashes, underscores
               ".\u00b7\u2022\u3002\uff0e/\\\\\uff0f\uff3c"  # dots, slashes
               "()\\[\\]{}<>\uff08\uff09\uff3b\uff3d\u3010\u3011\u3014\u3015\u3008\u3009*\uff0a")  # brackets, asterisks
_X = "Xx\uff38\uff58"
_RUN = re.compile(rf"[+\uff0b]?\d(?:[{_SEPARATORS}]{{0,3}}\d)*(?:[{_SEPARATORS}]{{0,3}}[{_X}](?![A-Za-z]))?")
_GROUP = re.compile(rf"\d+|[{_X}]")
# A run right after a letter (PDAA2026…, PDAA-2026-…, SVW71, 沪A12345, VINs) is a code, not a number
# someone dials: only an id number (with its birth date) or a phone inside one is masked.
_CODE = re.compile(r"[A-Za-z][-_]?$")
_MOBILE = re.compile(r"1[3-9]\d{9}")
_LANDLINE = re.compile(r"0[1-9]\d{8,10}")  # the area code with its 0, then 7 or 8 digits
_LONGEST = 20  # characters: 0086 and a 12-digit landline, or an 18-character id number
_PHONE_DIGITS = 7  # digits that are no id, date, amount or code: a phone (local, foreign) or a card


class _Group(NamedTuple):
    start: int
    end: int
    chars: str  # ASCII digits, or X


def _day(year: str, month: str, day: str) -> bool:
    """A calendar day of 1900-2099."""
    try:
        return 1900 <= date(int(year), int(month), int(day)).year <= 2099
    except ValueError:
        return False


def _id_number(chars: str, *, dated: bool) -> bool:
    """18 characters (the last may be X) or the old 15 digits; `dated`: holding a birth date too,
    which tells an id number pieced together from groups from a row of other numbers."""
    if len(chars) == 18 and chars[:17].isdigit() and chars[17] in "0123456789X":
        return not dated or _day(chars[6:10], chars[10:12], chars[12:14])
    return len(chars) == 15 and chars.isdigit() and (not dated or _day("19" + chars[6:8], chars[8:10], chars[10:12]))


def _national_phone(digits: str, plus: bool) -> str | None:
    """The national number when `digits` are a phone's: a mainland mobile or landline, with or
    without +86, 0086 or (a mobile) 86, or any number in international form (+, 8 to 15 digits)."""
    if not digits.isdigit():
        return None
    if plus:
        return digits[2:] if digits.startswith("86") and 9 <= len(digits) - 2 <= 11 else (
            digits if 8 <= len(digits) <= 15 else None)
    if digits.startswith("0086") and 9 <= len(digits) - 4 <= 11:
        return digits[4:]
    if digits.startswith("86") and _MOBILE.fullmatch(digits[2:]):
        return digits[2:]
    return digits if _MOBILE.fullmatch(digits) or _LANDLINE.fullmatch(digits) else None


def _dates(groups: list[_Group]) -> set[int]:
    """The groups that write a day (2026-03-15, 15.03.2026, 03/15/2026): no phone is read across them."""
    dated = set()
    for k in range(len(groups) - 2):
        a, b, c = (g.chars for g in groups[k:k + 3])
        orders = ((a, b, c), (c, b, a), (c, a, b))
        if any(len(y) == 4 and len(m) <= 2 and len(d) <= 2 and _day(y, m, d) for y, m, d in orders):
            dated.update((k, k + 1, k + 2))
    return dated


def _ordinary(text: str, groups: list[_Group]) -> set[int]:
    """The groups of years, months (2026.03) and an amount's decimals (12345.67), which never
    count towards a phone's 7 digits."""
    plain = set()
    for k, group in enumerate(groups):
        if len(group.chars) == 4 and _day(group.chars, "1", "1"):
            plain.add(k)
            if k + 1 < len(groups) and len(groups[k + 1].chars) <= 2 and _day(group.chars, groups[k + 1].chars, "1"):
                plain.add(k + 1)
    if len(groups) > 1 and len(groups[-1].chars) <= 2 and text[groups[-2].end:groups[-1].start] in (".", "\uff0e"):
        plain.update((len(groups) - 2, len(groups) - 1))
    return plain


def _stretch(groups: list[_Group], i: int, *, plus: bool, code: bool, dates: set[int]
             ) -> tuple[int, str, str | None] | None:
    """The longest stretch of whole groups from group `i` that is an id number or a phone: its last
    group, its characters and, for a phone, the national number."""
    found, chars, solid = None, "", True
    for j in range(i, len(groups)):
        chars += groups[j].chars
        solid = solid and (j == i or groups[j].start == groups[j - 1].end)
        if len(chars) > _LONGEST:
            break
        if _id_number(chars, dated=code or not solid):
            found = j, chars, None
        elif dates.isdisjoint(range(i, j + 1)) or (i, j) == (0, len(groups) - 1):
            national = _national_phone(chars, plus)
            found = (j, chars, national) if national else found
    return found


def _mask_run(run: re.Match[str], keep_phones: bool) -> str:
    text = run[0]
    plus = text[0] in "+\uff0b"
    code = bool(_CODE.search(run.string[max(run.start() - 2, 0):run.start()]))
    groups = [_Group(g.start(), g.end(), "X" if g[0] in _X else "".join(str(int(d)) for d in g[0]))
              for g in _GROUP.finditer(text)]
    dates = _dates(groups)
    ordinary = dates | _ordinary(text, groups)
    out, shown = [], 0
    # One phone: the stretch found (first and last group, national number) and the groups around it
    # that are neither ordinary nor another number (a phone's digits typed in more groups than usual).
    region: list[int] = []
    phone: tuple[int, int, str] | None = None

    def hide(first: int, last: int, masked: str) -> None:
        nonlocal shown
        out.extend((text[shown:0 if plus and first == 0 else groups[first].start], masked))
        shown = groups[last].end

    def end_region() -> None:
        nonlocal phone
        digits = "".join(groups[k].chars for k in region)
        if region and not keep_phones and (phone or len(digits) >= _PHONE_DIGITS and digits.isdigit() and not code):
            whole = phone is not None and phone[:2] == (region[0], region[-1])
            hide(region[0], region[-1], mask_phone(phone[2] if whole else digits))
        region.clear()
        phone = None

    i = 0
    while i < len(groups):
        found = _stretch(groups, i, plus=plus and i == 0, code=code, dates=dates)
        if found is None and i not in ordinary:
            region.append(i)
            i += 1
            continue
        if found is None or found[2] is None or phone:
            end_region()
        if found is None:
            i += 1
            continue
        j, chars, national = found
        if national:
            phone = i, j, national
            region.extend(range(i, j + 1))
        else:
            hide(i, j, mask_id_number(chars))
        i = j + 1
    end_region()
    return "".join(out) + text[shown:]


def mask_numbers(text: str, *, keep_phones: bool = False) -> str:
    """Mask id numbers (last 4 kept) and, unless kept, phone numbers (first 3 and last 4 digits
    kept) in text, however their digits are separated; dates, amounts and codes stay as written."""
    return _RUN.sub(lambda run: _mask_run(run, keep_phones), text)


# The provinces a Chinese plate starts with: masking finds plates by them, imports check plates against them.
PLATE_PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
# Chinese plates (沪A12345, 沪A·D12345, 粤B 1234学) and VINs.
_PLATE = re.compile(rf"[{PLATE_PROVINCES}][A-Z][·• -]?[A-Z0-9]{{4,5}}[A-Z0-9挂学警港澳]|(?<![A-Z0-9])[A-HJ-NPR-Z0-9]{{17}}(?![A-Z0-9])")


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
