"""Creating a policy with its customer, vehicle and service manager in one go (demo and tests;
bulk imports use COPY instead)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from sqlmodel import Session

from models import Assignment, Customer, Policy, SubBranch, Vehicle
from renewals.case.messages import LANGUAGES

# Every seeded vehicle's model, from the shipped catalogue (renewals/data/vehicle_models.csv), so it
# can be confirmed and quoted.
SEEDED_MODEL = "SVW7182QQD"


@dataclass
class SeededPolicy:
    policy: Policy
    customer: Customer
    vehicle: Vehicle


def create_policy(
    session: Session, *, policy_no: str, sub_branch_id: uuid.UUID, owner_id: uuid.UUID, expires_on: date,
    customer_name: str, phone: str, id_number: str, plate: str, premium: Decimal = Decimal("4386.50"),
    claims_last_year: int = 0, timezone: str = "Asia/Shanghai", language: str = "zh-CN",
    first_registered_on: date | None = None,
) -> SeededPolicy:
    if language not in LANGUAGES:  # an SMS in a language we have no templates for could never be sent
        raise ValueError(f"language: {language!r} is not one of {', '.join(LANGUAGES)}")
    customer = Customer(branch_id=session.get(SubBranch, sub_branch_id).branch_id, name=customer_name,
                        id_number=id_number, phone=phone, language=language)
    session.add(customer)
    session.flush()
    vehicle = Vehicle(customer_id=customer.id, plate=plate, vin=f"LSV{uuid.uuid4().hex[:14].upper()}",
                      model_code=SEEDED_MODEL, model_confirmed=True,
                      first_registered_on=first_registered_on or expires_on - timedelta(days=3 * 365))
    session.add(vehicle)
    session.flush()
    policy = Policy(
        policy_no=policy_no, customer_id=customer.id, vehicle_id=vehicle.id, sub_branch_id=sub_branch_id,
        premium=premium, claims_last_year=claims_last_year, starts_on=expires_on - timedelta(days=364),
        expires_on=expires_on, timezone=timezone,
        coverages=[{"code": "CTP", "name": "交强险"}, {"code": "TPL", "name": "第三者责任险", "amount": 1000000}],
    )
    session.add(policy)
    session.flush()
    session.add(Assignment(policy_id=policy.id, staff_id=owner_id, reason="initial"))
    session.flush()
    return SeededPolicy(policy, customer, vehicle)
