"""The seed's renewal flow through HTTP only, and the refusals staff meet on the way (409 with the
reason, 422 naming the field), in the time-skipping environment with the real workflow."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import update
from sqlmodel import Session, select

from models import ContactRecord, Customer, Note, Staff
from tests.api.conftest import PASSWORD, Api
from tests.scenario import Scenario
from renewals.case import contract as c

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def tasks(api: Api, who: dict[str, str]) -> list[dict]:
    response = await api.get("/me/tasks", headers=who)
    assert response.status_code == 200, response.text
    return response.json()["items"]


def error(response, status: int) -> dict:
    assert response.status_code == status, response.text
    return response.json()["error"]


async def test_seed_flow_first_contact_to_deputy_renewal(api: Api, sc: Scenario):
    case = await sc.start(days_to_expiry=62)
    owner = await api.sign_in(case.owner_id)
    assert (await api.get("/me", headers=owner)).json()["role"] == "sales"

    await sc.sleep_until(case.at(-60, 10))
    [task] = await tasks(api, owner)
    assert (task["case_id"], task["stage"], task["kind"], task["missed"]) == (
        str(case.case_id), "FIRST_CONTACT", "call", False)
    assert "record the result" in task["what_to_do"] and "首次电话" in task["what_to_do"]
    assert task["customer_phone"] == f"{case.customer_phone[3:6]}****{case.customer_phone[-4:]}"
    assert task["plate"] != case.plate and task["plate"].endswith(case.plate[-2:])
    assert task["customer_name"] == case.customer_name[0] + "**"

    response = await api.post(f"/cases/{case.case_id}/contacts", headers=owner,
                              json={"channel": "call", "result": "reached", "note": "客户考虑中,下周再联系"})
    assert response.status_code == 200, response.text
    assert response.json()["stage"] == "FIRST_CONTACT"
    assert await tasks(api, owner) == [], "the call task is handled"
    with Session(sc.engine) as session:  # the note is in PostgreSQL; the contact record points at it
        [note] = session.exec(select(Note).where(Note.case_id == case.case_id)).all()
        contact = session.exec(select(ContactRecord).where(ContactRecord.note_id == note.id)).one()
        assert (note.body, contact.result) == ("客户考虑中,下周再联系", "reached")

    await sc.sleep_until(case.at(-18, 10))
    panel = await tasks(api, owner)
    assert [(t["stage"], t["day"], t["missed"]) for t in panel] == [
        ("THIRD_CONTACT", -19, True), ("THIRD_CONTACT", -18, False)], "yesterday's missed call first"
    assert "每日电话跟进并设置跟进状态 / call daily and set the follow-up status" == panel[1]["what_to_do"]
    page = (await api.get("/me/tasks", headers=owner, params={"limit": 1, "offset": 1})).json()
    assert ([t["day"] for t in page["items"]], page["total"]) == ([-18], 2)
    listed = (await api.get("/cases", headers=owner, params={"stage": "THIRD_CONTACT", "status": "open"})).json()
    assert [c["id"] for c in listed["items"]] == [str(case.case_id)]
    # The workflow last woke at T-20 09:00; the case view still places today's task by the API's clock.
    live = (await api.get(f"/cases/{case.case_id}", headers=owner)).json()["state"]
    assert [(t["day"], t["kind"]) for t in live["open_tasks"]] == [(-18, "call")]
    closed = (await api.get("/cases", headers=owner, params={"status": "closed"})).json()
    assert closed["items"] == [] and closed["total"] == 0
    response = await api.post(f"/cases/{case.case_id}/follow-up", headers=owner, json={"status": "failed"})
    assert response.status_code == 200 and response.json()["last_status"] == "failed", response.text

    await sc.sleep_until(case.at(-10, 10))
    deputy = await api.sign_in(case.deputy_id)
    [supervision] = await tasks(api, deputy)
    assert (supervision["stage"], supervision["kind"]) == ("DEPUTY_SUPERVISION", "supervision")
    response = await api.post(f"/cases/{case.case_id}/follow-up", headers=deputy,
                              json={"status": "success", "new_policy_no": "PDAA2027DEPUTY"})
    assert response.status_code == 200, response.text
    assert (response.json()["outcome"], response.json()["new_policy_no"]) == ("RENEWED", "PDAA2027DEPUTY")
    view = (await api.get(f"/cases/{case.case_id}", headers=deputy)).json()
    assert view["state"]["outcome"] == "RENEWED" and view["customer_id"] == str(case.customer_id)

    assert await tasks(api, owner) == [] and await tasks(api, deputy) == []
    assert sc.case_row(case).outcome == "RENEWED"


async def test_refusals_answer_409_with_the_reason_and_422_naming_the_field(api: Api, sc: Scenario):
    case = await sc.start(days_to_expiry=62)
    owner = await api.sign_in(case.owner_id)
    await sc.sleep_until(case.at(-59, 21, 59))

    wrong_stage = await api.post(f"/cases/{case.case_id}/follow-up", headers=owner, json={"status": "failed"})
    err = error(wrong_stage, 409)
    assert err["code"] == "rejected"
    assert err["message"].startswith("status 'failed' cannot be set in FIRST_CONTACT")

    bad_phone = await api.put(f"/cases/{case.case_id}/customer-phone", headers=owner, json={"phone": "12345"})
    err = error(bad_phone, 422)
    assert err["field"] == "phone" and "12345" in err["message"]
    missing = await api.post(f"/cases/{case.case_id}/contacts", headers=owner, json={"channel": "call"})
    assert error(missing, 422)["field"] == "result"
    wrong_enum = await api.post(f"/cases/{case.case_id}/follow-up", headers=owner, json={"status": "maybe"})
    assert error(wrong_enum, 422)["field"] == "status"
    no_quote = await api.post(f"/cases/{case.case_id}/sms", headers=owner, json={"template": "quote"})
    assert error(no_quote, 422)["field"] == "quote_id"

    await sc.sleep_until(case.at(-59, 22))
    late = await api.post(f"/cases/{case.case_id}/call", headers=owner)
    assert "only allowed between 09:00 and 21:00" in error(late, 409)["message"]
    assert "it is 22:00 there" in error(late, 409)["message"]
    calls_before = len(sc.twilio.calls())

    await sc.sleep_until(case.at(-58, 10))
    with Session(sc.engine) as session:
        session.execute(update(Customer).where(Customer.id == case.customer_id)
                        .values(do_not_call_until=case.at(-58).date() + timedelta(days=180)))
        session.commit()
    refused = await api.post(f"/cases/{case.case_id}/call", headers=owner)
    assert "do-not-call" in error(refused, 409)["message"]
    assert len(sc.twilio.calls()) == calls_before, "no call was placed"

    with Session(sc.engine) as session:
        session.execute(update(Customer).where(Customer.id == case.customer_id)
                        .values(do_not_call_until=case.at(-58).date() - timedelta(days=1)))
        session.commit()
    placed = await api.post(f"/cases/{case.case_id}/call", headers=owner)
    assert placed.status_code == 202, placed.text
    [call] = sc.twilio.calls()[calls_before:]
    assert call["To"] == case.owner_phone and case.customer_phone in call["Twiml"]
    assert "录音" in call["Twiml"] and case.customer_phone not in placed.text


async def test_a_call_twilio_cannot_place_says_why_and_what_to_do(api: Api, sc: Scenario):
    case = await sc.start(days_to_expiry=62)
    owner = await api.sign_in(case.owner_id)
    await sc.sleep_until(case.at(-58, 10))
    sc.twilio.fail_next(400, code=21211)  # Twilio: the number to ring (the staff member's own) is not valid
    bad_number = error(await api.post(f"/cases/{case.case_id}/call", headers=owner), 502)
    assert bad_number["code"] == "staff_phone_not_callable"
    assert "your phone number on record" in bad_number["message"] and "21211" in bad_number["message"]
    sc.twilio.fail_next(503)
    down = await api.post(f"/cases/{case.case_id}/call", headers=owner)
    assert error(down, 503)["code"] == "call_unavailable" and down.headers["Retry-After"] == "60"
    assert "try again in a minute" in down.json()["error"]["message"]


async def test_do_not_call_on_one_case_silences_the_customers_other_cases(api: Api, sc: Scenario):
    """A customer who refuses all contact (拒绝一切联系) is on the do-not-call list as a person: their
    other open case stops its calls and SMS too, and a case started later starts silenced."""
    from models import Policy
    from renewals.intake.service import start_due_cases
    from renewals.dev.seed import create_policy
    from tests.scenario import eventually, unique_phone

    first, second = await sc.start(days_to_expiry=62), await sc.start(days_to_expiry=70)
    with Session(sc.engine) as session:
        session.execute(update(Policy).where(Policy.policy_no == second.inp.policy_no)
                        .values(customer_id=first.customer_id))
        session.commit()
    await sc.sleep_until(first.at(-60, 10))
    owner = await api.sign_in(first.owner_id)
    refused_all = await api.post(f"/cases/{first.case_id}/contacts", headers=owner,
                                 json={"channel": "call", "result": "do_not_contact"})
    assert refused_all.status_code == 200, refused_all.text

    async def silenced(case) -> None:
        assert (await case.state()).no_contact

    await eventually(lambda: silenced(second))
    other_owner = await api.sign_in(second.owner_id)
    sms = await api.post(f"/cases/{second.case_id}/sms", headers=other_owner, json={"template": "service_request"})
    assert "refused all contact" in error(sms, 409)["message"]
    await sc.sleep_until(second.at(-60, 10))
    assert [t.kind for t in (await second.state()).open_tasks if t.kind == "call"] == []
    assert [r.template for r in sc.sms_records(second) if r.recipient == "customer"] == [], "no first notice"

    # A later policy of the same customer: its case starts with the customer's do-not-call state.
    with Session(sc.engine, expire_on_commit=False) as session:
        third = create_policy(session, policy_no=f"PDNC{second.inp.policy_no[4:]}", sub_branch_id=sc.sub_branch_id,
                              owner_id=second.owner_id, expires_on=first.inp.expiry_date + timedelta(days=3),
                              customer_name="钱多多", phone=unique_phone(), id_number="310101199001011234",
                              plate="沪B12345")
        session.execute(update(Policy).where(Policy.id == third.policy.id).values(customer_id=first.customer_id))
        session.commit()
    today = await sc.local_today()
    started = await start_due_cases(sc.engine, sc.env.client, api.settings.model_copy(
        update={"task_queue": sc.task_queue}), today, policy_ids=[str(third.policy.id)])
    assert started.started == 1
    handle = sc.env.client.get_workflow_handle(c.renewal_workflow_id(third.policy.policy_no,
                                                                     first.inp.expiry_date + timedelta(days=3)))
    state = await handle.query("state", await sc.now(), result_type=c.CaseState)
    assert state.no_contact and [t for t in state.open_tasks if t.kind == "call"] == []
    await sc.stop(handle)


async def test_sign_in_needs_an_active_account_and_a_valid_token(api: Api, sc: Scenario):
    case = await sc.start(days_to_expiry=62)
    owner = await api.sign_in(case.owner_id)
    with Session(sc.engine) as session:
        username = session.get(Staff, case.owner_id).username
    wrong = await api.post("/auth/token", data={"username": username, "password": "nope"})
    assert error(wrong, 401)["message"] == "wrong username or password"
    assert wrong.headers["WWW-Authenticate"] == "Bearer"
    assert error(await api.get("/me"), 401)["code"] == "unauthenticated"
    assert error(await api.get("/me", headers={"Authorization": "Bearer forged.token.here"}), 401)

    with Session(sc.engine) as session:
        session.execute(update(Staff).where(Staff.id == case.owner_id).values(active=False))
        session.commit()
    inactive = await api.post("/auth/token", data={"username": username, "password": PASSWORD})
    assert error(inactive, 401)["message"] == "this account is deactivated"
    assert error(await api.get("/me", headers=owner), 401), "a token issued before deactivation stops working"


async def test_sms_after_nine_pm_is_held_until_eight_and_answered_as_scheduled(api: Api, sc: Scenario):
    case = await sc.start(days_to_expiry=62)
    owner = await api.sign_in(case.owner_id)
    await sc.sleep_until(case.at(-7, 21, 30))
    before = len(sc.twilio.delivered(case.customer_phone))
    held = await api.post(f"/cases/{case.case_id}/sms", headers=owner, json={"template": "service_request"})
    assert held.status_code == 202, held.text
    assert held.json()["status"] == "held"
    assert datetime.fromisoformat(held.json()["send_at"]) == case.at(-6, 8)
    await sc.sleep_until(case.at(-6, 7, 59))
    assert len(sc.twilio.delivered(case.customer_phone)) == before
    await sc.sleep_until(case.at(-6, 8, 1))
    [sent] = sc.twilio.delivered(case.customer_phone)[before:]
    assert "诚恳希望继续为您服务" in sent["body"]
    now = await api.post(f"/cases/{case.case_id}/sms", headers=owner, json={"template": "service_request"})
    assert (now.status_code, now.json()["status"]) == (200, "sent")


async def test_an_actions_answer_is_the_case_as_projected_once_the_projection_shows_it(api: Api, sc: Scenario):
    case = await sc.start(days_to_expiry=62)
    owner = await api.sign_in(case.owner_id)
    await sc.sleep_until(case.at(-18, 10))
    before = sc.case_row(case).revision
    response = await api.post(f"/cases/{case.case_id}/follow-up", headers=owner, json={"status": "failed"})
    assert response.status_code == 200, response.text
    answer, row = response.json(), sc.case_row(case)
    assert (answer["last_status"], row.follow_up_status, row.revision) == ("failed", "failed", before + 1), \
        "answered once the action's write was in the row"
    live = await case.state()
    assert answer["open_tasks"] == [] and [t.day for t in live.open_tasks] == []
    assert (answer["stage"], answer["owner_id"], answer["escalated"]) == (live.stage, str(live.owner_id), live.escalated)
