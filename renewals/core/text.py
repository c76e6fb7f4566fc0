"""Free text from staff and files: bounded by its caller, and never with control characters
(they break SMS, CSV exports and terminals, and hide things from reviewers)."""

from __future__ import annotations

import re

# Never in any text: C0 controls but tab/newline/carriage return, DEL, C1 controls, and lone
# surrogates (which PostgreSQL cannot store and which cannot be encoded as UTF-8).
FORBIDDEN = "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff"
# Not in a one-line value (a code, an account, a file's cell) either: tab, newline, carriage return.
CONTROL_CHARS = re.compile(f"[\t\n\r{FORBIDDEN}]")


def printable(value: str) -> str:
    """`value` unchanged, or ValueError if it holds a control character."""
    if CONTROL_CHARS.search(value):
        raise ValueError("control characters are not allowed")
    return value
