"""Bounded, clean input for every route (SPEC: every input string is bounded and free of control
characters; bad input answers 422 naming the field).

Two layers, so routes added later are covered without doing anything:
- `refuse_control_characters` is an app-wide dependency: every query, path and form value and
  every string (and key) of a JSON body is checked before any route code, database or workflow
  sees it. NUL and the other control characters (tab, newline and carriage return excepted) and
  unpaired surrogates answer 422 naming the field.
- The types below declare the same rule and a length in the OpenAPI schema, and enforce it where
  a model is used outside a request. Declare every string field with one of them:

      from api.inputs import Line, Note, Text, Limit, Offset, Day
      class Thing(BaseModel):
          code: Line(32, min_length=1)          # one line, bounded like its column (VARCHAR(32))
          remark: Text(500)                     # may hold line breaks
          note: Note = None                     # free text, up to 2,000 characters
      def route(limit: Limit = 50, offset: Offset = 0, date: Day | None = None): ...
"""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum
from typing import Annotated, Any

from fastapi import Path, Query, Request
from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field

from api.errors import ApiError
from renewals.case.messages import LANGUAGES, MESSAGE_KEYS
from renewals.core.text import FORBIDDEN, printable

_FORBIDDEN_RE = re.compile(f"[{FORBIDDEN}]")  # free text keeps its tabs and line breaks
# The same rule as the OpenAPI schema states it (ECMAScript regex escapes).
TEXT_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]*$"
LINE_PATTERN = r"^[^\x00-\x1f\x7f-\x9f\ud800-\udfff]*$"
EARLIEST_DAY, LATEST_DAY = date(2000, 1, 1), date(2199, 12, 31)
MAX_PAGE, MAX_OFFSET = 200, 1_000_000
# The ids the bodies' OpenAPI examples share, so one example case reads the same in every body.
CASE_ID = "0b6f4f5e-2d7c-5a51-9c55-4a0f6f3c2d11"
STAFF_ID = "7d1e2c3b-4a59-4b6c-8d7e-9f0a1b2c3d4e"
QUOTE_ID = "5f0c1a52-8d0e-4d7b-9d1c-2b9f4f3e6a10"


def examples(*bodies: dict[str, Any]) -> ConfigDict:
    """A body model's OpenAPI examples."""
    return ConfigDict(json_schema_extra={"examples": list(bodies)})


def control_character(text: str) -> str | None:
    """The first forbidden character of `text`, as U+XXXX, or None."""
    found = _FORBIDDEN_RE.search(text)
    return f"U+{ord(found.group()):04X}" if found else None


def _clean(text: str) -> str:
    bad = control_character(text)
    if bad:
        raise ValueError(f"control characters are not allowed ({bad})")
    return text


def Text(max_length: int, *, min_length: int = 0) -> Any:  # noqa: N802 — reads as a type in annotations
    """A string of at most `max_length` characters with no control characters."""
    return Annotated[str, AfterValidator(_clean),
                     Field(min_length=min_length, max_length=max_length, json_schema_extra={"pattern": TEXT_PATTERN})]


def Line(max_length: int, *, min_length: int = 0) -> Any:  # noqa: N802 — reads as a type in annotations
    """A one-line string (a code, an id, an account): as Text, and no tab or line break either."""
    return Annotated[str, AfterValidator(printable),
                     Field(min_length=min_length, max_length=max_length, json_schema_extra={"pattern": LINE_PATTERN})]


Note = Annotated[Text(2000) | None, Field(description="free text; stored as a note, never sent to the workflow",
                                          examples=["客户考虑中,下周再联系 / the customer is thinking it over"])]


def _iso_day(value: Any) -> Any:
    """Only YYYY-MM-DD (not `0`, a timestamp or a datetime), within the years the product serves."""
    if isinstance(value, date):
        parsed = value
    elif isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        try:
            parsed = date.fromisoformat(value)
        except ValueError:
            raise ValueError("not a calendar date") from None
    else:
        raise ValueError("a date as YYYY-MM-DD")
    if not EARLIEST_DAY <= parsed <= LATEST_DAY:
        raise ValueError(f"a date between {EARLIEST_DAY} and {LATEST_DAY}")
    return parsed


# (No Field here: FastAPI would take it for the parameter's declaration.)
Day = Annotated[date, BeforeValidator(_iso_day)]
# Every numeric query parameter is one of these: a number past what PostgreSQL's bigint holds
# would fail in the query (500), so the bound is checked first (422 naming it).
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description="page size")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="rows to skip")]

# An SMS template's path: /sms-templates/{key}/{language}.
MessageKey = StrEnum("MessageKey", {key: key for key in MESSAGE_KEYS})
Language = StrEnum("Language", {language.replace("-", "_"): language for language in LANGUAGES})
KeyPath = Annotated[MessageKey, Path(description="the message key")]
LanguagePath = Annotated[Language, Path(description="zh-CN or en")]


def _refuse(field: str, bad: str) -> ApiError:
    return ApiError(422, f"{field}: control characters are not allowed ({bad})", field=field)


def _check_json(value: Any, field: str) -> None:
    if isinstance(value, str):
        bad = control_character(value)
        if bad:
            raise _refuse(field or "body", bad)
    elif isinstance(value, dict):
        for key, item in value.items():
            name = f"{field}.{key}" if field else str(key)
            bad = control_character(str(key))
            if bad:
                raise _refuse(name, bad)
            _check_json(item, name)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_json(item, f"{field}.{index}" if field else str(index))


async def refuse_control_characters(request: Request) -> None:
    """App-wide dependency: 422 naming the first field that carries a control character."""
    for name, value in (*request.path_params.items(), *request.query_params.multi_items()):
        bad = control_character(name) or control_character(str(value))
        if bad:
            raise _refuse(name, bad)
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()  # parsed once: the route reads the same cached form
        for name, value in form.multi_items():
            bad = control_character(name) or (control_character(value) if isinstance(value, str) else None)
            if bad:
                raise _refuse(name, bad)
    elif "json" in content_type:
        try:
            document = await request.json()  # parsed once: FastAPI has cached the body it read for the route
        except (ValueError, UnicodeDecodeError):
            return  # not JSON: the route's own validation answers 422
        _check_json(document, "")
