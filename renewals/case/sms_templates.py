"""The SMS templates in the database (营销模板管理): the newest version of each is what the next SMS
uses; an admin's edit is checked (renewals.case.messages.template_problems) with a real case's data and
kept as a new version with who and when. Also the values a text is rendered with, from a case."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import func
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import Session, select

from models import Customer, Policy, Quote, RenewalCase, SmsTemplate, Staff, Vehicle
from models.base import utcnow
from renewals.case.labels import LOSS_REASON_CHOICES, stage_with_days, word
from renewals.core.masking import mask_name, mask_plate
from renewals.case.messages import Rendered, template_problems


class TemplateRefused(ValueError):
    """An edited template that cannot be kept; the reasons, each on its own."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


def _newest_first(key: str, language: str):
    return (select(SmsTemplate).where(SmsTemplate.key == key, SmsTemplate.language == language)
            .order_by(SmsTemplate.version.desc()))


def current(session: Session, key: str, language: str) -> SmsTemplate | None:
    return session.exec(_newest_first(key, language).limit(1)).first()


def version(session: Session, key: str, language: str, number: int | None) -> SmsTemplate | None:
    """The version a text was rendered with (a retry sends that one); None: the current one."""
    if number is None:
        return current(session, key, language)
    return session.exec(select(SmsTemplate).where(SmsTemplate.key == key, SmsTemplate.language == language,
                                                  SmsTemplate.version == number)).first()


def versions(session: Session, key: str, language: str) -> list[SmsTemplate]:
    """Every version, newest first."""
    return list(session.exec(_newest_first(key, language)).all())


def newest(session: Session) -> list[SmsTemplate]:
    """The newest version of every template."""
    latest = (select(SmsTemplate.key, SmsTemplate.language, func.max(SmsTemplate.version).label("version"))
              .group_by(SmsTemplate.key, SmsTemplate.language).subquery())
    return list(session.exec(select(SmsTemplate).join(latest, (latest.c.key == SmsTemplate.key)
                                                      & (latest.c.language == SmsTemplate.language)
                                                      & (latest.c.version == SmsTemplate.version))
                             .order_by(SmsTemplate.key, SmsTemplate.language)).all())


def message_context(session: Session, case: RenewalCase, policy: Policy, customer: Customer, language: str,
                    day: int, quote: Quote | None, base_url: str) -> dict:
    """The values a text of `case` is rendered with on day T+`day` (the plate masked, as in every SMS);
    `base_url` is where staff reach the console (PUBLIC_BASE_URL)."""
    manager = session.get(Staff, case.owner_id)
    deputy = session.get(Staff, case.deputy_id)
    vehicle = session.get(Vehicle, policy.vehicle_id)
    # The quote SMS carries the priced quote's premium and validity, never last year's premium:
    # without a quote these stay undefined and the strict template fails loudly.
    quoted = {"premium": quote.premium, "quote_valid_until": quote.valid_until} if quote and quote.premium else {}
    return {
        "customer_name": customer.name, "policy_no": policy.policy_no, "plate": mask_plate(vehicle.plate),
        "expiry_date": case.expiry_date, "days_left": max(-day, 0),
        "manager_name": manager.name, "manager_phone": national(manager.phone),
        "deputy_name": deputy.name, **quoted,
        "stage_label": stage_with_days(case.stage, language),
        "loss_reasons": [word(reason, language) for reason in LOSS_REASON_CHOICES],
        "case_url": case_page_url(base_url, case.id),
    }


def case_page_url(base_url: str, case_id: uuid.UUID) -> str:
    """The case's page in the console, which a staff SMS announcing work links to (the id is not personal)."""
    return f"{base_url.rstrip('/')}/app/cases/{case_id}"


def national(phone: str) -> str:
    return phone[3:] if phone.startswith("+86") else phone


def preview(session: Session, key: str, language: str, template: str, case: RenewalCase, today,
            base_url: str) -> Rendered:
    """`template` rendered for a real case, its customer's name masked (the plate is masked in every
    SMS); a quote text takes the case's newest priced quote. Raises TemplateRefused with the reasons."""
    policy = session.get(Policy, case.policy_id)
    customer = session.get(Customer, policy.customer_id)
    quote = session.exec(select(Quote).where(Quote.case_id == case.id, Quote.premium.is_not(None))
                         .order_by(Quote.created_at.desc()).limit(1)).first()
    context = message_context(session, case, policy, customer, language, (today - case.expiry_date).days, quote,
                              base_url)
    context["customer_name"] = mask_name(customer.name)
    if "premium" not in context:  # no quote yet: last year's premium shows where the quoted one goes
        context.update(premium=policy.premium, quote_valid_until=today)
    rendered, problems = template_problems(key, language, template, context)
    if problems:
        raise TemplateRefused(problems)
    return rendered


def save(session: Session, key: str, language: str, template: str, case: RenewalCase, today, base_url: str,
         staff_id: uuid.UUID, at: datetime | None = None) -> SmsTemplate:
    """Keep `template` as the newest version, once it renders for `case` (see preview). Two admins
    saving at once: the second finds its version number taken and is refused."""
    preview(session, key, language, template, case, today, base_url)
    latest = current(session, key, language)
    version = (latest.version if latest else 0) + 1
    new_id = uuid.uuid4()
    saved = session.execute(insert(SmsTemplate).values(
        id=new_id, key=key, language=language, version=version, body=template, created_by=staff_id,
        created_at=at or utcnow()).on_conflict_do_nothing()).rowcount
    session.commit()
    if not saved:
        raise TemplateRefused([f"version {version} was saved meanwhile by someone else: reload and edit again"])
    return session.get(SmsTemplate, new_id)  # ours, even if another admin saved a newer one since
