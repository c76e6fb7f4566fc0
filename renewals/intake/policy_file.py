"""The policy import file: its columns, how it is read, and how each row is checked.

Pure: no database. A CSV in UTF-8 (with or without BOM) or GB18030 (as Chinese spreadsheets save
it), one policy per row, English header names or their Chinese aliases. Each row is checked on its
own against what the organisation knows (sub-branches, staff, handler codes); every problem names
the row (as a spreadsheet numbers it: the header is row 1), the column and the reason. Reasons
never repeat a customer's personal data, so an error report can be passed around.
"""

from __future__ import annotations

import csv
import functools
import gc
import io
import json
import operator
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import phonenumbers

from renewals.core.csv_export import csv_file
from renewals.core.phones import e164
from renewals.core.masking import PLATE_PROVINCES
from renewals.core.text import CONTROL_CHARS

LANGUAGES = ("zh-CN", "en")
MAX_FILE_BYTES = 200 * 1024 * 1024


@dataclass(frozen=True)
class Column:
    name: str
    aliases: tuple[str, ...]
    required: bool
    max_length: int
    meaning: str


COLUMNS: tuple[Column, ...] = (
    Column("policy_no", ("保单号", "保单号码"), True, 64, "policy number (letters, digits, '-')"),
    Column("customer_name", ("客户姓名", "投保人", "被保险人"), True, 64, "customer's name"),
    Column("id_number", ("证件号码", "身份证号"), True, 18, "18-digit resident id number (checksum verified)"),
    Column("phone", ("手机号", "联系电话"), True, 32, "customer's mobile; +86 may be omitted"),
    Column("language", ("语言",), False, 8, "zh-CN (default) or en: the language of the customer's SMS"),
    Column("birth_date", ("出生日期",), False, 10, "YYYY-MM-DD; must agree with the id number"),
    Column("plate", ("车牌号", "号牌号码"), True, 10, "licence plate, e.g. 沪A12345 (new-energy: 沪AD12345)"),
    Column("vin", ("车架号", "VIN码"), True, 17, "17 characters, no I, O or Q"),
    Column("model_code", ("车型代码",), False, 64, "vehicle model code (staff confirm it before quoting)"),
    Column("first_registered_on", ("初次登记日期", "初登日期"), False, 10, "YYYY-MM-DD"),
    Column("other_phones", ("其他电话", "其他联系电话"), False, 200, "more numbers of the customer, separated by ';'"),
    Column("family", ("家庭成员",), False, 500,
           "family members, name:relation:phone (the phone may be left out), separated by ';' (李红:配偶:13900001111)"),
    Column("proxy", ("委托人",), False, 120, "the proxy (委托人) who may renew for the customer, name:relation:phone"),
    Column("channel", ("渠道",), False, 16, "traditional (default, 传统) or online (网销)"),
    Column("handler_code", ("经办人", "经办人代码"), False, 32, "经办人 code: owns the row when no manager is given"),
    Column("manager", ("客户经理", "服务经理"), False, 64, "service manager's staff code (username)"),
    Column("sub_branch", ("支公司", "支公司代码"), True, 32, "sub-branch code"),
    Column("premium", ("保费",), True, 16, "last premium in CNY, e.g. 4386.50"),
    Column("coverages", ("险别", "承保险别"), False, 500, "codes separated by ';', amounts after ':' (CTP;TPL:1000000)"),
    Column("claims_last_year", ("上年出险次数", "出险次数"), False, 3, "claims last year (default 0)"),
    Column("starts_on", ("起保日期", "起保日"), True, 10, "YYYY-MM-DD"),
    Column("expires_on", ("终保日期", "终保日"), True, 10, "YYYY-MM-DD; after starts_on"),
    Column("blacklisted", ("黑名单", "黑名单客户"), False, 8,
           "是/否 (yes/no): the customer is on the underwriting blacklist (no quote); empty keeps what is stored"),
)
HEADER = tuple(col.name for col in COLUMNS)
_REQUIRED = tuple(col.name for col in COLUMNS if col.required)
_BY_HEADER = {h.lower(): col for col in COLUMNS for h in (col.name, *col.aliases)}
COVERAGE_NAMES = {"CTP": "交强险", "TPL": "第三者责任险", "VD": "车辆损失险", "DRV": "车上人员责任险(司机)",
                  "PAS": "车上人员责任险(乘客)", "GLS": "玻璃单独破碎险", "SCR": "划痕险"}

_POLICY_NO = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{2,63}$")
_PLATE = re.compile(rf"^[{PLATE_PROVINCES}][A-HJ-NP-Z](?:[A-HJ-NP-Z0-9]{{4}}[A-HJ-NP-Z0-9挂学警]|[DF][A-HJ-NP-Z0-9]{{5}})$")
_VIN = re.compile(r"^[A-HJ-NPR-Z0-9]{17}$")
_ID_NUMBER = re.compile(r"\d{17}[\dX]")
_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_COVERAGE_CODE = re.compile(r"[A-Z]{2,8}")
_MOBILE_TYPES = (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


class FileRejected(ValueError):
    """The file as a whole cannot be imported (unreadable, no header, a required column missing)."""


@dataclass(frozen=True)
class RowError:
    row: int
    column: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "reason": self.reason}


@dataclass(frozen=True)
class StaffRef:
    id: uuid.UUID
    sub_branch_id: uuid.UUID | None
    active: bool
    sales: bool


@dataclass
class Organisation:
    """What rows are checked against: sub-branch code → (id, branch id), staff code → staff, 经办人 → staff."""

    sub_branches: dict[str, tuple[uuid.UUID, uuid.UUID]]
    staff: dict[str, StaffRef]
    handlers: dict[str, StaffRef]
    branch_id: uuid.UUID | None = None  # an admin's import: only their branch's sub-branches


@dataclass
class PolicyRow:
    row: int
    policy_no: str
    customer_name: str
    id_number: str
    phone: str
    language: str
    birth_date: date | None
    plate: str
    vin: str
    model_code: str | None
    first_registered_on: date | None
    channel: str
    handler_code: str | None
    owner_id: uuid.UUID | None  # None: unassigned until an admin assigns it
    unassigned_reason: str | None  # why no owner was found (shown in the unassigned list)
    sub_branch_id: uuid.UUID
    branch_id: uuid.UUID  # the sub-branch's: the row's policy and customer are matched within it
    premium: Decimal
    coverages: str = "[]"  # a JSON array of {code, name, amount?}, as the policy stores it
    claims_last_year: int = 0
    starts_on: date | None = None
    expires_on: date | None = None
    # JSON as the customer stores them; None: the row says nothing (the stored ones stay).
    other_phones: str | None = None
    family: str | None = None
    proxy: str | None = None
    blacklisted: bool | None = None  # None: the file does not say; the stored flag stays


def id_number_check_digit(first17: str) -> str:
    """GB 11643: the 18th character of a resident id number (ISO 7064 MOD 11-2)."""
    return _ID_CHECK[sum(map(operator.mul, map(int, first17), _ID_WEIGHTS)) % 11]


def decode(data: bytes) -> str:
    if len(data) > MAX_FILE_BYTES:
        raise FileRejected(f"the file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB: split it")
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise FileRejected("the file is neither UTF-8 nor GB18030 text: save it as CSV (UTF-8)")


def read(data: bytes) -> tuple[list[Column | None], Iterator[tuple[int, list[str]]]]:
    """The columns in file order (None for a column we do not know) and the data rows with their
    spreadsheet row numbers."""
    reader = csv.reader(io.StringIO(decode(data), newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise FileRejected("the file is empty: the first row must name the columns") from None
    columns = [_BY_HEADER.get(h.strip().lower()) for h in header]
    present = {col.name for col in columns if col}
    missing = [col.name for col in COLUMNS if col.required and col.name not in present]
    if missing:
        raise FileRejected("required columns missing from the header: " + ", ".join(missing))
    seen: set[str] = set()
    for col in columns:
        if col and col.name in seen:
            raise FileRejected(f"column {col.name} appears twice in the header")
        if col:
            seen.add(col.name)

    def rows() -> Iterator[tuple[int, list[str]]]:
        for number, values in enumerate(reader, start=2):
            if any(v.strip() for v in values):
                yield number, values

    return columns, rows()


def check_row(number: int, columns: list[Column | None], values: list[str], org: Organisation
              ) -> tuple[PolicyRow | None, list[RowError]]:
    """The row as a policy to import, or the reasons it cannot be (each naming its column)."""
    errors: list[RowError] = []
    raw: dict[str, str] = {}
    clean = not CONTROL_CHARS.search("".join(values))  # the common case: one search for the whole row
    for col, value in zip(columns, values):
        if col is None:
            continue
        value = value.strip()
        if not clean and CONTROL_CHARS.search(value):
            errors.append(RowError(number, col.name, "contains control characters"))
        elif len(value) > col.max_length:
            errors.append(RowError(number, col.name, f"longer than {col.max_length} characters"))
        else:
            raw[col.name] = value
    for name in _REQUIRED:
        if not raw.get(name) and not any(e.column == name for e in errors):
            errors.append(RowError(number, name, "is required"))

    def value(name: str, parse, *, default=None):
        text = raw.get(name)
        if not text:
            return default
        try:
            return parse(text)
        except ValueError as exc:
            errors.append(RowError(number, name, str(exc)))
            return default

    policy_no = value("policy_no", _policy_no)
    id_number = value("id_number", _id_number)
    birth_date = value("birth_date", _date)
    if id_number and birth_date and id_number[6:14] != f"{birth_date:%Y%m%d}":
        errors.append(RowError(number, "birth_date", "does not agree with the birth date in the id number"))
    phone = value("phone", _mobile)
    language = value("language", _language, default="zh-CN")
    plate = value("plate", _plate)
    vin = value("vin", _vin)
    first_registered_on = value("first_registered_on", _date)
    channel = value("channel", _channel, default="traditional")
    premium = value("premium", _premium)
    coverages = value("coverages", _coverages, default="[]")
    claims = value("claims_last_year", _claims, default=0)
    starts_on = value("starts_on", _date)
    expires_on = value("expires_on", _date)
    more_phones = value("other_phones", lambda text: json.dumps(phone_list(text)))
    family = value("family", lambda text: json.dumps(people(text), ensure_ascii=False))
    proxy = value("proxy", lambda text: json.dumps(proxy_person(text), ensure_ascii=False))
    blacklisted = value("blacklisted", _yes_no)
    if starts_on and expires_on and expires_on <= starts_on:
        errors.append(RowError(number, "expires_on", "must be after starts_on"))
    if first_registered_on and starts_on and first_registered_on > starts_on:
        errors.append(RowError(number, "first_registered_on", "is after the policy starts"))

    sub_branch_id = branch_id = None
    if raw.get("sub_branch"):
        found = org.sub_branches.get(raw["sub_branch"])
        if found is None:
            errors.append(RowError(number, "sub_branch", "no sub-branch with this code"))
        elif org.branch_id is not None and found[1] != org.branch_id:
            errors.append(RowError(number, "sub_branch", "not a sub-branch of your branch"))
        else:
            sub_branch_id, branch_id = found
    owner_id, unassigned_reason = _owner(raw, org, sub_branch_id)

    if errors:
        return None, errors
    return PolicyRow(
        row=number, policy_no=policy_no, customer_name=raw["customer_name"], id_number=id_number, phone=phone,
        language=language, birth_date=birth_date, plate=plate, vin=vin, model_code=raw.get("model_code") or None,
        first_registered_on=first_registered_on, channel=channel, handler_code=raw.get("handler_code") or None,
        owner_id=owner_id, unassigned_reason=unassigned_reason, sub_branch_id=sub_branch_id, branch_id=branch_id,
        premium=premium, coverages=coverages, claims_last_year=claims, starts_on=starts_on, expires_on=expires_on,
        other_phones=more_phones, family=family, proxy=proxy, blacklisted=blacklisted,
    ), []


# Who owns a row: the manager column, else the 经办人 code. A code that matches no active service
# manager of the row's sub-branch leaves the policy unassigned with the reason (listed for an admin):
# the policy is still imported, whichever column named the code.
_OWNER_COLUMNS = (("manager", "no staff member with this code"),
                  ("handler_code", "no staff member has this 经办人 code"))


def _owner(raw: dict[str, str], org: Organisation, sub_branch_id: uuid.UUID | None
           ) -> tuple[uuid.UUID | None, str | None]:
    """The row's owner, or None and why none."""
    reasons = []
    for column, unknown in _OWNER_COLUMNS:
        code = raw.get(column)
        if not code:
            continue
        staff = (org.staff if column == "manager" else org.handlers).get(code)
        if staff is None:
            reasons.append(f"{column}: {unknown}")
        elif not (staff.active and staff.sales):
            reasons.append(f"{column}: not an active service manager (sales)")
        elif sub_branch_id and staff.sub_branch_id != sub_branch_id:
            reasons.append(f"{column}: works in another sub-branch")
        else:
            return staff.id, None
    return None, "; ".join(reasons) or "no manager or 经办人 code"


@contextmanager
def paused_gc() -> Iterator[None]:
    """No cyclic garbage collection while a file's rows are made: each collection walks every row
    made so far, which costs a tenth of the checks and a third of the COPY on a large file. The rows
    hold no cycles; reference counting frees them. Re-enabled by whoever paused it first."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@paused_gc()
def check_file(data: bytes, org: Organisation, progress=None, every: int = 1000
               ) -> tuple[list[PolicyRow], list[RowError], int]:
    """Every row checked: the good ones, the problems, and how many rows there were. A policy
    number that appears twice is refused on its second row (which one is meant is unclear)."""
    columns, rows = read(data)
    good: list[PolicyRow] = []
    problems: list[RowError] = []
    first_row: dict[str, int] = {}
    total = 0
    for number, values in rows:
        total += 1
        row, errors = check_row(number, columns, values, org)
        if row is not None:
            if row.policy_no in first_row:
                errors = [RowError(number, "policy_no", f"appears again (first on row {first_row[row.policy_no]})")]
            else:
                first_row[row.policy_no] = number
                good.append(row)
        problems.extend(errors)
        if progress and total % every == 0:
            progress(total)
    if progress:
        progress(total)
    return good, problems, total


def errors_csv(errors: list[dict[str, Any]]) -> bytes:
    return csv_file(["row", "column", "reason"], ([e["row"], e["column"], e["reason"]] for e in errors))


# --- one parser per column --------------------------------------------------------------------------


def _policy_no(text: str) -> str:
    if not _POLICY_NO.match(text):
        raise ValueError("3-64 letters, digits or '-', starting with a letter or digit")
    return text


def _id_number(text: str) -> str:
    text = text.upper()
    if not _ID_NUMBER.fullmatch(text):
        raise ValueError("an id number has 17 digits and a check digit (0-9 or X)")
    try:
        date(int(text[6:10]), int(text[10:12]), int(text[12:14]))
    except ValueError:
        raise ValueError("the birth date inside the id number is not a date") from None
    if id_number_check_digit(text[:17]) != text[17]:
        raise ValueError("the check digit does not match: mistyped id number")
    return text


def _mobile(text: str) -> str:
    number, problem = _parse_mobile(text)
    if problem:
        raise ValueError(problem)
    return number


@functools.lru_cache(maxsize=65_536)
def _parse_mobile(text: str) -> tuple[str, str | None]:
    """(E.164 number, None) or ("", the reason). Cached: parsing is the dearest check, and a book
    names many numbers more than once (a customer's policies, a fleet's cars)."""
    try:
        parsed = phonenumbers.parse(text, "CN")
    except phonenumbers.NumberParseException:
        return "", "not a phone number"
    # number_type is UNKNOWN exactly when the number is not valid (is_valid_number computes it too).
    kind = phonenumbers.number_type(parsed)
    if kind == phonenumbers.PhoneNumberType.UNKNOWN:
        return "", "not a valid phone number"
    if kind not in _MOBILE_TYPES:
        return "", "not a mobile number: SMS cannot reach it"
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164), None


def phone_number(text: str) -> str:
    """Any valid number (a landline too: family and other phones are called, not texted), as E.164.
    The reason never repeats the number."""
    return e164(text)


MAX_OTHER_PHONES = 5
MAX_PEOPLE = 10


def phone_list(text: str) -> list[str]:
    """`139 0000 1111; 021-62345678` → E.164 numbers, each once."""
    phones = list(dict.fromkeys(phone_number(part) for part in _parts(text)))
    if len(phones) > MAX_OTHER_PHONES:
        raise ValueError(f"at most {MAX_OTHER_PHONES} numbers")
    return phones


def person(name: str, relation: str, phone: str | None) -> dict[str, str]:
    """A family member or a proxy (委托人) as the customer record keeps them."""
    name, relation = name.strip(), relation.strip()
    if not name or not relation:
        raise ValueError("each person needs a name and a relation (name:relation:phone)")
    if len(name) > 64 or len(relation) > 16:
        raise ValueError("a name has at most 64 characters, a relation 16")
    found = {"name": name, "relation": relation}
    if phone and phone.strip():
        found["phone"] = phone_number(phone.strip())
    return found


def people(text: str) -> list[dict[str, str]]:
    """`李红:配偶:13900001111;李明:子女` → family members (name, relation, phone when given)."""
    found = []
    for part in _parts(text):
        fields = [field.strip() for field in part.replace("：", ":").split(":")]
        if len(fields) not in (2, 3):
            raise ValueError("write each person as name:relation:phone (the phone may be left out)")
        found.append(person(fields[0], fields[1], fields[2] if len(fields) == 3 else None))
    if len(found) > MAX_PEOPLE:
        raise ValueError(f"at most {MAX_PEOPLE} people")
    return found


def proxy_person(text: str) -> dict[str, str]:
    """`李红:配偶:13900001111` → the proxy, who must have a phone."""
    found = people(text)
    if len(found) != 1 or "phone" not in found[0]:
        raise ValueError("one person, as name:relation:phone (a proxy needs a phone)")
    return found[0]


def _parts(text: str) -> list[str]:
    return [part.strip() for part in re.split(r"[;；\n]", text) if part.strip()]


def _language(text: str) -> str:
    for language in LANGUAGES:
        if text.lower() == language.lower():
            return language
    raise ValueError(f"must be one of {', '.join(LANGUAGES)}")


def _plate(text: str) -> str:
    text = text.upper().replace(" ", "").replace("·", "")
    if not _PLATE.match(text):
        raise ValueError("not a plate: province, letter, then 5 letters/digits (6 for new-energy)")
    return text


def _vin(text: str) -> str:
    text = text.upper()
    if not _VIN.match(text):
        raise ValueError("a VIN has 17 letters and digits, without I, O or Q")
    return text


def _date(text: str) -> date:
    iso = _ISO_DATE.fullmatch(text)  # the common case, without strptime's locale lookups
    if iso:
        try:
            return date(int(iso[1]), int(iso[2]), int(iso[3]))
        except ValueError:
            raise ValueError("not a date (YYYY-MM-DD)") from None
    for fmt in ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise ValueError("not a date (YYYY-MM-DD)")


def _channel(text: str) -> str:
    channel = {"traditional": "traditional", "传统": "traditional", "online": "online", "网销": "online"}.get(
        text.lower())
    if channel is None:
        raise ValueError("must be traditional (传统) or online (网销)")
    return channel


def _premium(text: str) -> Decimal:
    try:
        premium = Decimal(text.replace(",", ""))
    except InvalidOperation:
        raise ValueError("not an amount (e.g. 4386.50)") from None
    if not premium.is_finite() or premium <= 0 or premium >= Decimal("1e10") or premium != round(premium, 2):
        raise ValueError("must be a positive amount with at most 2 decimals")
    return premium


@functools.lru_cache(maxsize=4096)
def _coverages(text: str) -> str:
    """As JSON. Cached: a book has a few dozen coverage combinations, written alike on most rows."""
    coverages = []
    for part in filter(None, (p.strip() for p in text.split(";"))):
        code, _, amount = part.partition(":")
        code = code.strip().upper()
        if not _COVERAGE_CODE.fullmatch(code):
            raise ValueError(f"{code or 'an empty code'!r} is not a coverage code (2-8 letters)")
        item: dict[str, Any] = {"code": code, "name": COVERAGE_NAMES.get(code, code)}
        if amount.strip():
            if not amount.strip().isdigit():
                raise ValueError(f"the amount of {code} is not a whole number")
            item["amount"] = int(amount)
        coverages.append(item)
    return json.dumps(coverages, ensure_ascii=False)


_YES_NO = {"是": True, "否": False, "yes": True, "no": False, "y": True, "n": False, "true": True,
           "false": False, "1": True, "0": False}


def _yes_no(text: str) -> bool:
    answer = _YES_NO.get(text.lower())
    if answer is None:
        raise ValueError("must be 是 or 否 (yes or no)")
    return answer


def _claims(text: str) -> int:
    if not text.isdigit() or int(text) > 99:
        raise ValueError("a whole number of claims from 0 to 99")
    return int(text)
