"""The vehicle-model catalogue (车型库): parse a CSV (pure, row-level errors), import it in one
transaction (all rows or none, repeatable: rows are upserted by code), and search it by code or name.

The file has a header `code,name,brand,seats,purchase_price`. A catalogue ships in
`renewals/data/vehicle_models.csv` (the demo's and the sample book's models among them) and is
loaded with the schema (renewals.core.db.migrate).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from sqlalchemy import func, or_
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import Session, col, select

from models import VehicleModel
from renewals.core.text import CONTROL_CHARS

SAMPLE_FILE = Path(__file__).resolve().parents[1] / "data" / "vehicle_models.csv"
COLUMNS = ("code", "name", "brand", "seats", "purchase_price")
MODEL_CODE = re.compile(r"[A-Z0-9][A-Z0-9-]{2,63}")
BATCH = 1000


@dataclass
class RowError:
    row: int  # 1-based data row (the header is row 0)
    field: str
    reason: str


@dataclass
class ParsedModels:
    rows: list[dict[str, Any]] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


def normalise_model_code(code: str) -> str:
    return code.strip().upper()


def _text(value: str, name: str, limit: int) -> str:
    value = value.strip()
    if not value or len(value) > limit or CONTROL_CHARS.search(value):
        raise ValueError(f"{name}: 1-{limit} characters, no control characters")
    return value


def _row(raw: dict[str, str]) -> dict[str, Any]:
    code = normalise_model_code(raw.get("code") or "")
    if not MODEL_CODE.fullmatch(code):
        raise ValueError("code: 3-64 letters, digits or '-'")
    seats = (raw.get("seats") or "").strip()
    if not seats.isdigit() or not 1 <= int(seats) <= 60:
        raise ValueError("seats: a whole number from 1 to 60")
    try:
        price = Decimal((raw.get("purchase_price") or "").strip())
    except InvalidOperation:
        raise ValueError("purchase_price: a number of yuan, like 126900.00") from None
    if not price.is_finite() or price <= 0 or price.as_tuple().exponent < -2 or price >= Decimal("1e10"):
        raise ValueError("purchase_price: a positive amount in yuan with at most 2 decimals")
    return {"code": code, "name": _text(raw.get("name") or "", "name", 128),
            "brand": _text(raw.get("brand") or "", "brand", 64), "seats": int(seats), "purchase_price": price}


def parse_vehicle_models(lines: Iterable[str]) -> ParsedModels:
    reader = csv.DictReader(lines)
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or ())]
    parsed = ParsedModels()
    if missing:
        parsed.errors.append(RowError(0, missing[0], f"missing column(s): {', '.join(missing)}"))
        return parsed
    seen: dict[str, int] = {}
    for number, raw in enumerate(reader, start=1):
        try:
            row = _row(raw)
        except ValueError as exc:
            name, _, reason = str(exc).partition(": ")
            parsed.errors.append(RowError(number, name, reason))
            continue
        if row["code"] in seen:
            parsed.errors.append(RowError(number, "code", f"{row['code']} repeats row {seen[row['code']]}"))
            continue
        seen[row["code"]] = number
        parsed.rows.append(row)
    return parsed


def import_vehicle_models(session: Session, path: Path, progress: Callable[[int], None] | None = None, *,
                          missing_only: bool = False) -> ParsedModels:
    """Import the file in the session's transaction; with any row error nothing is written. Known
    codes are updated, or with `missing_only` left as they are."""
    with path.open(encoding="utf-8-sig", newline="") as f:
        parsed = parse_vehicle_models(f)
    if parsed.errors:
        return parsed
    for start in range(0, len(parsed.rows), BATCH):
        batch = parsed.rows[start:start + BATCH]
        stmt = insert(VehicleModel).values(batch)
        if missing_only:
            stmt = stmt.on_conflict_do_nothing(index_elements=[VehicleModel.code])
        else:
            stmt = stmt.on_conflict_do_update(
                index_elements=[VehicleModel.code],
                set_={k: stmt.excluded[k] for k in ("name", "brand", "seats", "purchase_price")}
                | {"imported_at": func.now()},
            )
        session.execute(stmt)
        if progress:
            progress(len(batch))
    return parsed


def add_shipped_models(session: Session) -> None:
    """The catalogue that ships with the code, loaded with the schema: its models that are not in
    the database yet are added; a model an operator imported or changed is left as it is."""
    parsed = import_vehicle_models(session, SAMPLE_FILE, missing_only=True)
    if parsed.errors:
        raise ValueError(f"{SAMPLE_FILE.name} row {parsed.errors[0].row}: {parsed.errors[0].reason}")


def search_vehicle_models(session: Session, q: str | None, limit: int) -> list[VehicleModel]:
    """Models whose code starts with `q`, or whose name or brand contains it; exact code first."""
    term = (q or "").strip()
    pattern = "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    code_prefix = normalise_model_code(term).replace("%", "").replace("_", "") + "%"
    return list(session.exec(
        select(VehicleModel)
        .where(or_(col(VehicleModel.code).like(code_prefix), col(VehicleModel.name).ilike(pattern),
                   col(VehicleModel.brand).ilike(pattern)))
        .order_by((VehicleModel.code != normalise_model_code(term)), VehicleModel.code)
        .limit(limit)
    ).all())
