"""Realistic policy import files: the 200-row sample for the `renewals dev --demo` organisation
(samples/policies-demo.csv) and large files for benchmarks and rehearsals.

    uv run python -m renewals.dev.sample_book 100000 big.csv [--start 2026-12-01]
    uv run python -m renewals.dev.sample_book 200 book.csv --sub-branch 310101 --handler-code JB310101001

By default rows are valid for the demo organisation (sub-branch 310101, demo-sales-1..3 and their
经办人 codes); a quarter name no manager and are matched by handler code. With --handler-code, a
rehearsal book for a team of one's own: no row names a manager, each goes to a staff member by one
of those codes. Expiry dates spread evenly over the year from the start date (default tomorrow);
everything is deterministic for a given seed.

With --outcomes, each row also says how last year's renewal went, the way a book's outcomes depend
on claims, the premium change in the latest quote and unanswered calls (OUTCOME_COLUMNS);
`load_book` stores such rows as closed (or open) cases with their quotes and calls, for training and
benchmarking the lapse-risk score (renewals/scoring).
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import random
import uuid
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, insert

from models import ContactRecord, Customer, Policy, Quote, RenewalCase, Vehicle
from renewals.case.contract import Outcome, Stage, case_id_for, renewal_workflow_id

from renewals.dev.demo import HANDLER_CODES as DEMO_HANDLER_CODES
from renewals.dev.demo import SUB_BRANCH
from renewals.intake.policy_file import HEADER, id_number_check_digit

MANAGERS = tuple(DEMO_HANDLER_CODES)
HANDLER_CODES = tuple(DEMO_HANDLER_CODES.values())
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾萧田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN = "伟芳娜敏静强磊洋艳勇军杰娟涛明超秀英华慧建国平刚桂兰玉萍红鹏飞斌丽宇浩凯晨"
AREAS = ("310101", "310104", "310105", "310106", "310107", "310110", "310112", "310115", "320102", "330102")
PLATE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"
VIN_CHARS = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"
WMI = ("LSV", "LFV", "LGB", "LHG", "LVS", "LBV", "LDC", "LSG")
# Models of the shipped catalogue (renewals/data/vehicle_models.csv): staff confirm them before quoting.
MODELS = ("SVW7182QQD", "FV7151BBBGG", "DFL7168VBN", "GHA7150BBA", "GTM7150ZG", "BMW7201FX", "BYD7150WT5HEVC",
          "SGM7159LAT")
MOBILE_PREFIXES = ("130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "155",
                   "156", "157", "158", "159", "180", "186", "187", "188", "189")
COVERAGE_SETS = ("CTP;TPL:1000000;VD:150000", "CTP;TPL:2000000;VD:220000;DRV:10000;PAS:10000",
                 "CTP;TPL:1500000", "CTP;TPL:3000000;VD:300000;GLS;SCR:5000")


def _id_number(rng: random.Random, birth: date) -> str:
    first17 = f"{rng.choice(AREAS)}{birth:%Y%m%d}{rng.randrange(1000):03d}"
    return first17 + id_number_check_digit(first17)


def _vin(rng: random.Random) -> str:
    return rng.choice(WMI) + "".join(rng.choice(VIN_CHARS) for _ in range(14))


OUTCOME_COLUMNS = ("quoted_premium", "unanswered_calls", "outcome")


def _outcome(rng: random.Random, premium: float, claims: int) -> dict[str, str]:
    """Last year's renewal of a policy: the price rises with claims (the no-claim discount lost),
    and customers with claims, a rise, or who stopped answering lapse more often."""
    change = rng.uniform(-0.10, 0.25) + 0.06 * claims
    unanswered = rng.choice([0, 0, 0, 1, 1, 2, 3, 4, 5, 6])
    z = -3.0 + 0.7 * claims + 6.0 * max(change, 0) + 0.6 * unanswered
    lapsed = rng.random() < 1 / (1 + math.exp(-z))
    return {"quoted_premium": f"{premium * (1 + change):.2f}", "unanswered_calls": str(unanswered),
            "outcome": (rng.choice([Outcome.LOST, Outcome.LAPSED]) if lapsed else Outcome.RENEWED).value}


def rows(count: int, *, start: date, seed: int = 20261127, prefix: str = "PDAA", sub_branch: str = SUB_BRANCH,
         managers: tuple[str, ...] = MANAGERS, handler_codes: tuple[str, ...] = HANDLER_CODES,
         outcomes: bool = False, days: int = 365) -> list[dict[str, str]]:
    """`count` rows expiring evenly over `days` days from `start`."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        expiry = start + timedelta(days=(i * days) // max(count, 1))
        birth = date(1960, 1, 1) + timedelta(days=rng.randrange(40 * 365))
        first_registered = expiry - timedelta(days=365 * rng.randrange(1, 12) + rng.randrange(300))
        assigned = i % 4 != 3
        k = rng.randrange(len(handler_codes))
        plate_tail = "".join(rng.choice(PLATE_LETTERS + "0123456789") for _ in range(4)) + str(rng.randrange(10))
        row = {
            "policy_no": f"{prefix}{start:%Y}{sub_branch}{i:07d}",
            "customer_name": rng.choice(SURNAMES) + rng.choice(GIVEN) + (rng.choice(GIVEN) if rng.random() < .7 else ""),
            "id_number": _id_number(rng, birth),
            "phone": f"{rng.choice(MOBILE_PREFIXES)}{rng.randrange(10**8):08d}",
            "language": "en" if rng.random() < 0.08 else "zh-CN",
            "birth_date": f"{birth:%Y-%m-%d}",
            "plate": f"沪{rng.choice('ABCDEFGHJKLMN')}{plate_tail}",
            "vin": _vin(rng),
            "model_code": rng.choice(MODELS),
            "first_registered_on": f"{first_registered:%Y-%m-%d}",
            "channel": "online" if rng.random() < 0.2 else "traditional",
            "handler_code": handler_codes[k],
            "manager": managers[k] if assigned and managers else "",
            "sub_branch": sub_branch,
            "premium": f"{rng.randrange(1800, 12000)}.{rng.choice(['00', '50', '80'])}",
            "coverages": rng.choice(COVERAGE_SETS),
            "claims_last_year": str(rng.choice([0, 0, 0, 0, 1, 1, 2, 3, 4])),
            "starts_on": f"{expiry - timedelta(days=365):%Y-%m-%d}",
            "expires_on": f"{expiry:%Y-%m-%d}",
        }
        if outcomes:
            row |= _outcome(rng, float(row["premium"]), int(row["claims_last_year"]))
        out.append(row)
    return out


def to_csv(records: list[dict[str, str]], header: tuple[str, ...] = HEADER) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(header), lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(records)
    return out.getvalue().encode("utf-8")


def load_book(engine: Engine, records: list[dict[str, str]], *, branch_id: uuid.UUID, sub_branch_id: uuid.UUID,
              owner_id: uuid.UUID, deputy_id: uuid.UUID, closed: bool = True, timezone: str = "Asia/Shanghai",
              chunk: int = 5_000) -> list[uuid.UUID]:
    """Store rows made with `outcomes=True` as renewal cases of `owner_id`: closed with their
    outcome at expiry (or open in THIRD_CONTACT), each with its priced quote, a first call that
    reached the customer at T-50 and then its unanswered calls, one a day. Returns the case ids."""
    zone = ZoneInfo(timezone)
    case_ids = []
    for first in range(0, len(records), chunk):
        tables: dict[type, list[dict]] = {Customer: [], Vehicle: [], Policy: [], RenewalCase: [], Quote: [],
                                          ContactRecord: []}
        for r in records[first:first + chunk]:
            expiry = date.fromisoformat(r["expires_on"])
            customer_id, vehicle_id, policy_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
            workflow_id = renewal_workflow_id(r["policy_no"], expiry)
            case_id = case_id_for(workflow_id)
            case_ids.append(case_id)
            started = datetime.combine(expiry - timedelta(days=60), time(9), tzinfo=zone)
            outcome = Outcome(r["outcome"]) if closed else None
            tables[Customer].append({"id": customer_id, "branch_id": branch_id, "name": r["customer_name"],
                                     "id_number": r["id_number"], "phone": r["phone"], "language": r["language"]})
            tables[Vehicle].append({"id": vehicle_id, "customer_id": customer_id, "plate": r["plate"],
                                    "vin": r["vin"], "model_code": r["model_code"]})
            tables[Policy].append({
                "id": policy_id, "policy_no": r["policy_no"], "customer_id": customer_id, "vehicle_id": vehicle_id,
                "sub_branch_id": sub_branch_id, "channel": r["channel"], "premium": Decimal(r["premium"]),
                "claims_last_year": int(r["claims_last_year"]), "starts_on": date.fromisoformat(r["starts_on"]),
                "expires_on": expiry, "timezone": timezone})
            tables[RenewalCase].append({
                "id": case_id, "workflow_id": workflow_id, "policy_id": policy_id, "policy_no": r["policy_no"],
                "expiry_date": expiry, "timezone": timezone, "sub_branch_id": sub_branch_id,
                "stage": Stage.POST_EXPIRY if outcome else Stage.THIRD_CONTACT, "owner_id": owner_id,
                "deputy_id": deputy_id, "outcome": outcome, "outcome_stage": Stage.POST_EXPIRY if outcome else None,
                "started_at": started, "updated_at": started,
                "closed_at": datetime.combine(expiry, time(18), tzinfo=zone) if outcome else None})
            tables[Quote].append({"id": uuid.uuid4(), "case_id": case_id, "created_by": owner_id,
                                  "channel": r["channel"], "premium": Decimal(r["quoted_premium"]), "eligible": True,
                                  "created_at": started + timedelta(days=10)})
            calls = [("reached", started + timedelta(days=10, hours=1))]
            calls += [("no_answer", started + timedelta(days=20 + k, hours=2)) for k in range(int(r["unanswered_calls"]))]
            tables[ContactRecord] += [
                {"id": uuid.uuid4(), "case_id": case_id, "customer_id": customer_id, "staff_id": owner_id,
                 "channel": "call", "result": result, "created_at": at.astimezone(UTC), "sent_at": at.astimezone(UTC)}
                for result, at in calls]
        with engine.begin() as conn:
            for table, values in tables.items():
                conn.execute(insert(table), values)
    return case_ids


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m renewals.dev.sample_book", description=__doc__.split("\n\n")[0])
    parser.add_argument("rows", type=int)
    parser.add_argument("out", type=Path)
    parser.add_argument("--start", type=date.fromisoformat, default=date.today() + timedelta(days=1),
                        help="the first expiry date, YYYY-MM-DD (default tomorrow)")
    parser.add_argument("--sub-branch", default=SUB_BRANCH)
    parser.add_argument("--handler-code", action="append", default=[],
                        help="经办人 code of a service manager; repeat (rows then name no manager)")
    parser.add_argument("--outcomes", action="store_true",
                        help="add how last year's renewal went (quoted premium, unanswered calls, outcome), "
                             "depending on claims, premium change and unanswered calls")
    args = parser.parse_args()
    team = {"managers": (), "handler_codes": tuple(args.handler_code)} if args.handler_code else {}
    book = rows(args.rows, start=args.start, sub_branch=args.sub_branch, outcomes=args.outcomes, **team)
    args.out.write_bytes(to_csv(book, HEADER + OUTCOME_COLUMNS if args.outcomes else HEADER))
