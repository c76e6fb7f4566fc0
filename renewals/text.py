"""Free text from staff and files: bounded by its caller, and never with control characters
(they break SMS, CSV exports and terminals, and hide things from reviewers)."""

from __future__ import annotations

import re

CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(value: str) -> str:
    """`value` unchanged, or ValueError if it holds a control character."""
    if CONTROL_CHARS.search(value):
        raise ValueError("control characters are not allowed")
    return value
