"""The CSV files we hand out (reports, import errors): people open them in a spreadsheet, which
runs a cell as a formula when it starts with = + - @, a tab or a carriage return. Names, codes and
reasons come from staff and files, so every file is written here and such cells become text."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from typing import Any

# The full-width forms too: spreadsheets in CJK locales may read them as their ASCII selves.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")
# Numbers, signed or not, stay numbers: a spreadsheet shows them and runs nothing.
_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?%?")


def csv_cell(value: Any) -> str:
    """The value as a cell a spreadsheet shows as text: one that would start a formula gets a
    leading single quote (OWASP's advice), which the spreadsheet takes as "text" and hides."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_START) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


def csv_file(columns: Iterable[Any], rows: Iterable[Iterable[Any]]) -> bytes:
    """UTF-8 with a byte-order mark, so a Chinese Excel opens it as UTF-8 rather than GBK."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(map(csv_cell, columns))
    writer.writerows(map(csv_cell, row) for row in rows)
    return out.getvalue().encode("utf-8-sig")
