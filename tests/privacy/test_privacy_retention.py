"""The retention purge (PIPL Art. 19, 47) on the business clock: a book written today is aged past
each retention period in turn on the time-skipping server, and the scheduled workflow clears each
class of personal data as its period ends (its summary counts what it cleared), keeps every business
fact and the audit timeline, and changes nothing when run again."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlmodel import Session, select

from models import ContactRecord, Customer, Note, Policy, RenewalCase, Task, Vehicle
from renewals.audit.archive import archive_closed_cases, case_timeline
from renewals.case import contract as c
from renewals.case.contract import PRIVACY_PURGE_WORKFLOW
from renewals.dev.seed import create_policy
from renewals.privacy.rules import ANONYMISED_NAME
from renewals.privacy.schedule import PURGE_CRON, PURGE_SCHEDULE_ID, ensure_purge_schedule
from tests.scenario import Scenario, unique_phone
from tests.schedules import assert_set_up_nightly

pytestmark = pytest.mark.asyncio(loop_scope="session")

NOTHING = {"sms_bodies": 0, "recordings": 0, "contact_records": 0, "closed_cases": 0, "customers": 0}


def _business_facts(engine, case_id: uuid.UUID, customer_id: uuid.UUID) -> dict:
    """What insurance law keeps: the policy, the case and its outcome, tasks, who acted and when."""
    with Session(engine) as session:
        contacts = session.exec(select(ContactRecord).where(ContactRecord.case_id == case_id)).all()
        return {
            "policy": [p.model_dump(exclude={"id"}) for p in session.exec(
                select(Policy).where(Policy.customer_id == customer_id))],
            "case": session.get(RenewalCase, case_id).model_dump(exclude={"updated_at"}),
            "tasks": sorted((t.model_dump() for t in session.exec(select(Task).where(Task.case_id == case_id))),
                            key=lambda t: str(t["id"])),
            "contacts": sorted((r.model_dump(exclude={"masked_number", "body", "recording_url"}) for r in contacts),
                               key=lambda r: str(r["id"])),
            "notes": sorted((n.model_dump(exclude={"body"}) for n in session.exec(
                select(Note).where(Note.case_id == case_id))), key=lambda n: str(n["id"])),
        }


async def _purge(sc: Scenario) -> dict[str, int]:
    """One scheduled run, at the business clock's time (which stands still while it runs)."""
    with sc.env.auto_time_skipping_disabled():
        return await sc.env.client.execute_workflow(PRIVACY_PURGE_WORKFLOW, id=f"privacy-purge-{uuid.uuid4()}",
                                                    task_queue=sc.task_queue, result_type=dict[str, int])


async def test_personal_data_goes_as_each_retention_period_ends_and_the_business_facts_stay(sc: Scenario, engine):
    # A renewed case with the first-notice SMS, a call with its recording and note, and a case note.
    case = await sc.start(days_to_expiry=62, customer_name="欧阳娜娜")
    await sc.sleep_until(case.at(-60, 10))
    note_id = sc.note(case, case.owner_id, f"客户说换了车,车牌{case.plate},新号码{unique_phone()}")
    await case.update("record_contact", c.RecordContact(actor=case.actor(), channel=c.Channel.call,
                                                        result=c.ContactResult.reached, note_id=note_id))
    await case.update("set_follow_up", c.SetFollowUp(actor=case.actor(), status=c.FollowUpStatus.success,
                                                     new_policy_no="PDAA2027NEW"))
    assert (await case.handle.result()).outcome == "RENEWED"
    sc.note(case, case.owner_id, f"{case.customer_name}已续保,身份证310101199001011234")
    # A customer whose policy stays in force for years keeps everything that is theirs.
    with Session(engine, expire_on_commit=False) as session:
        kept = create_policy(session, policy_no=f"PDAA{uuid.uuid4().int % 10**12:012d}",
                             sub_branch_id=sc.sub_branch_id, owner_id=case.owner_id,
                             expires_on=await sc.local_today() + timedelta(days=10 * 366), customer_name="司马光",
                             phone=unique_phone(), id_number="110101198001011234", plate="京A12345").customer
        session.commit()
    # The book as written today on the business clock (activities stamp rows with the wall clock).
    today = await sc.now()
    with Session(engine) as session:
        session.execute(update(ContactRecord).where(ContactRecord.case_id == case.case_id).values(created_at=today))
        session.execute(update(ContactRecord).where(ContactRecord.case_id == case.case_id,
                                                    ContactRecord.channel == "call")
                        .values(recording_url="https://api.twilio.com/recordings/RE1"))
        session.execute(update(Note).where(Note.case_id == case.case_id).values(created_at=today))
        session.execute(update(RenewalCase).where(RenewalCase.id == case.case_id).values(closed_at=today))
        session.execute(update(Customer).where(Customer.id.in_([case.customer_id, kept.id])).values(created_at=today))
        session.commit()
        contacts = session.exec(select(ContactRecord).where(ContactRecord.case_id == case.case_id)).all()
    sms_with_text = sum(1 for r in contacts if r.channel == "sms" and r.body)
    assert sms_with_text and len(contacts) > sms_with_text
    await archive_closed_cases(sc.env.client, engine)
    timeline_before = await case_timeline(None, engine, case.handle.id, identities_masked=False)
    facts_before = _business_facts(engine, case.case_id, case.customer_id)

    assert await _purge(sc) == NOTHING, "nothing is old yet"

    def contact_fields(field: str) -> set:
        with Session(engine) as session:
            return {getattr(r, field) for r in session.exec(
                select(ContactRecord).where(ContactRecord.case_id == case.case_id))}

    def note_bodies() -> set[str]:
        with Session(engine) as session:
            return set(session.exec(select(Note.body).where(Note.case_id == case.case_id)))

    await sc.sleep_until(today + timedelta(days=91))
    assert await _purge(sc) == {**NOTHING, "sms_bodies": sms_with_text}
    assert {r.body for r in contacts if r.channel != "sms"} >= contact_fields("body") - {None}
    assert contact_fields("recording_url") - {None}, "recordings are kept longer"

    await sc.sleep_until(today + timedelta(days=181))
    assert await _purge(sc) == {**NOTHING, "recordings": 1}
    assert contact_fields("recording_url") == {None} and contact_fields("masked_number") - {None}

    await sc.sleep_until(today + timedelta(days=731))
    cleared = len([r for r in contacts if r.masked_number or r.note_id])
    assert await _purge(sc) == {**NOTHING, "contact_records": cleared}
    assert contact_fields("masked_number") == {None}
    assert len(note_bodies() - {""}) == 1, "the case's own note stays until the case's retention ends"

    await sc.sleep_until(today + timedelta(days=1096))
    assert await _purge(sc) == {**NOTHING, "closed_cases": 1}
    assert note_bodies() == {""}

    await sc.sleep_until(today + timedelta(days=62 + 5 * 366))
    assert await _purge(sc) == {**NOTHING, "customers": 1}
    with Session(engine) as session:
        gone = session.get(Customer, case.customer_id)
        assert (gone.name, gone.id_number, gone.phone, gone.family, gone.proxy) == (ANONYMISED_NAME, "", "", [], None)
        assert {(v.plate, v.vin) for v in session.exec(select(Vehicle).where(Vehicle.customer_id == gone.id))} == {
            ("", "")}
        still = session.get(Customer, kept.id)
        assert (still.name, still.id_number, still.phone) == ("司马光", "110101198001011234", kept.phone)

    assert _business_facts(engine, case.case_id, case.customer_id) == facts_before
    timeline_after = await case_timeline(None, engine, case.handle.id, identities_masked=False)
    assert [(e.at, e.kind, e.summary, e.actor) for e in timeline_after.events] == [
        (e.at, e.kind, e.summary, e.actor) for e in timeline_before.events]
    assert timeline_after.outcome == "RENEWED"

    assert await _purge(sc) == NOTHING, "run again, it changes nothing"


async def test_setup_schedules_the_purge_every_night(dev_env, settings):
    await assert_set_up_nightly(dev_env.client, settings, ensure_purge_schedule, PURGE_SCHEDULE_ID, PRIVACY_PURGE_WORKFLOW, PURGE_CRON, (2, 0))

