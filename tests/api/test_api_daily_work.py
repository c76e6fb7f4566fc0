"""The seed's daily rules as staff meet them through HTTP, in the time-skipping environment with the
real workflow: the deputy assists (协助) without locking the salesperson out and hands over with a
note; a phone or an SMS handles the day where the seed says so."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from models import Note, Task
from renewals.quotes.vehicle_models import SAMPLE_FILE, import_vehicle_models
from renewals.case.start import CaseRejected
from tests.api.conftest import Api, twilio_sid
from tests.scenario import Scenario
from renewals.case import contract as c

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture(scope="module", autouse=True)
def vehicle_models(engine) -> None:
    with Session(engine) as session:
        assert not import_vehicle_models(session, SAMPLE_FILE).errors
        session.commit()


def ok(response) -> dict:
    assert response.status_code == 200, response.text
    return response.json()


def invalid(response) -> dict:
    assert response.status_code == 422, response.text
    return response.json()["error"]


def refused(response) -> str:
    assert response.status_code == 409, response.text
    return response.json()["error"]["message"]


async def panel(api: Api, who: dict[str, str]) -> list[dict]:
    return ok(await api.get("/me/tasks", headers=who))["items"]


async def escalated_case(api: Api, sc: Scenario):
    case = await sc.start(days_to_expiry=62)
    owner, deputy = await api.sign_in(case.owner_id), await api.sign_in(case.deputy_id)
    await sc.sleep_until(case.at(-18, 10))
    ok(await api.post(f"/cases/{case.case_id}/follow-up", headers=owner, json={"status": "failed"}))
    await sc.sleep_until(case.at(-9, 10))
    return case, owner, deputy


async def test_under_supervision_the_salesperson_still_works_and_the_deputy_hands_over(api: Api, sc: Scenario):
    case, owner, deputy = await escalated_case(api, sc)
    state = ok(await api.post(f"/cases/{case.case_id}/contacts", headers=owner,
                              json={"channel": "call", "result": "reached", "note": "客户说再考虑"}))
    assert [(t["kind"], t["assignee_id"]) for t in state["open_tasks"]] == [("supervision", str(case.deputy_id))]
    assert [t["kind"] for t in await panel(api, deputy)] == ["supervision"], "the supervision task stays the deputy's"
    assert "only the deputy manager" in refused(await api.post(f"/cases/{case.case_id}/follow-up", headers=owner,
                                                         json={"status": "continue"}))

    assert "hand-over note" in refused(await api.post(f"/cases/{case.case_id}/follow-up", headers=deputy,
                                                      json={"status": "continue"}))
    handover = "已与客户面谈,价格可再优惠;T-7 请再报价"
    ok(await api.post(f"/cases/{case.case_id}/follow-up", headers=deputy,
                      json={"status": "continue", "note": handover}))
    await sc.sleep_until(case.at(-7, 10))
    [final_call] = await panel(api, owner)
    assert (final_call["day"], final_call["handover_note"]) == (-7, handover)
    await sc.sleep_until(case.at(-6, 10))
    assert [(t["day"], t["handover_note"]) for t in await panel(api, owner)] == [(-7, handover), (-6, None)]
    sc.save_history(case, "deputy_hands_over_with_a_note")


async def test_under_supervision_the_salesperson_can_record_the_renewal(api: Api, sc: Scenario):
    case, owner, _ = await escalated_case(api, sc)
    assert "new policy number" in refused(await api.post(f"/cases/{case.case_id}/follow-up", headers=owner,
                                                         json={"status": "success"}))
    state = ok(await api.post(f"/cases/{case.case_id}/follow-up", headers=owner,
                              json={"status": "success", "new_policy_no": "PDAA2027SALES"}))
    assert (state["outcome"], state["new_policy_no"]) == ("RENEWED", "PDAA2027SALES")
    sc.save_history(case, "salesperson_renews_under_supervision")


async def test_a_loss_reason_other_needs_a_short_text_and_the_manager_s_sms_reply_may_carry_one(
        api: Api, sc: Scenario):
    case, priced = await sc.start(days_to_expiry=3), await sc.start(days_to_expiry=3)
    await sc.sleep_until(case.at(-3, 10))
    owner = await api.sign_in(case.owner_id)
    assert invalid(await api.post(f"/cases/{case.case_id}/renewed-elsewhere", headers=owner,
                                  json={"insurer": "ping_an", "reason": "other"}))["field"] == "note"
    ok(await api.post(f"/cases/{case.case_id}/renewed-elsewhere", headers=owner, json={"insurer": "ping_an"}))
    assert invalid(await api.post(f"/cases/{case.case_id}/loss-reason", headers=owner,
                                  json={"reason": "other"}))["field"] == "note"
    with pytest.raises(CaseRejected, match="short text"):  # the workflow refuses it too, whoever asks
        await case.update("record_loss_reason", c.RecordLossReason(actor=case.actor(), reason=c.LossReason.other))

    inbound = "/webhooks/twilio/inbound-sms"
    bare = await api.webhook(inbound, {"MessageSid": twilio_sid("SM"), "From": case.owner_phone, "Body": "7"})
    assert bare.status_code == 200 and "7 亲戚在别家" in bare.text, "the answer shows how to give the text"
    assert (await case.state()).outcome is None
    answer = await api.webhook(inbound, {"MessageSid": twilio_sid("SM"), "From": case.owner_phone,
                                         "Body": "7 亲戚在别家"})
    assert answer.status_code == 200 and "其他" in answer.text
    result = await case.handle.result()
    assert (result.outcome, result.outcome_reason) == ("LOST", "other")

    manager = c.Actor(id=priced.owner_id, role=c.ActorRole.sales)
    await priced.update("report_renewed_elsewhere", c.ReportRenewedElsewhere(actor=manager, insurer="cpic"))
    answer = await api.webhook(inbound, {"MessageSid": twilio_sid("SM"), "From": priced.owner_phone,
                                         "Body": "1,对方便宜300元"})
    assert answer.status_code == 200 and "价格原因" in answer.text
    assert (await priced.handle.result()).outcome_reason == "price"
    with Session(sc.engine) as session:
        notes = {n.case_id: (n.body, n.author_id) for n in session.exec(select(Note).where(
            Note.case_id.in_([case.case_id, priced.case_id])))}
    assert notes == {case.case_id: ("亲戚在别家", case.owner_id), priced.case_id: ("对方便宜300元", priced.owner_id)}


async def test_final_week_contacts_are_followed_by_both_sms_and_the_task_report_shows_the_share(
        api: Api, sc: Scenario):
    case = await sc.start(days_to_expiry=62, escalate_without_status=False)
    owner = await api.sign_in(case.owner_id)
    ok(await api.put("/me/quote-config", headers=owner, json={"channel": "traditional"}))
    await sc.sleep_until(case.at(-7, 10))
    quote = await api.post(f"/cases/{case.case_id}/quotes", headers=owner, json={})
    assert quote.status_code == 201, quote.text

    async def sms(template: str, **extra) -> None:
        sent = await api.post(f"/cases/{case.case_id}/sms", headers=owner, json={"template": template, **extra})
        assert sent.status_code in (200, 202), sent.text

    async def offered() -> list[str]:
        """What the console's case page says of the two SMS after today's contact."""
        token = owner["Authorization"].removeprefix("Bearer ")
        page = await api.get(f"/app/cases/{case.case_id}", headers={"Cookie": f"console_session={token}"})
        assert page.status_code == 200, page.text
        if 'id="sms-after-contact"' not in page.text:
            return []
        section = page.text.split('id="sms-after-contact"')[1].split("</section>")[0]
        return [item.split("</li>")[0] for item in section.split("<li>")[1:]]

    await sms("service_request")  # before the day's contact: it follows no contact
    assert await offered() == []
    ok(await api.post(f"/cases/{case.case_id}/contacts", headers=owner, json={"channel": "call", "result": "reached"}))
    assert await offered() == ["报价短信：未发送", "请求服务机会：未发送"]
    await sms("quote", quote_id=quote.json()["id"])
    await sms("service_request")
    assert await offered() == ["报价短信：已发送", "请求服务机会：已发送"]
    await sc.sleep_until(case.at(-6, 10))
    ok(await api.post(f"/cases/{case.case_id}/contacts", headers=owner,
                      json={"channel": "call", "result": "refused"}))
    await sms("service_request")

    def recorded() -> list[tuple[int, bool, bool]]:
        with Session(sc.engine) as session:
            return [(t.day, t.quote_sms_sent, t.service_request_sms_sent) for t in session.exec(
                select(Task).where(Task.case_id == case.case_id, Task.day.in_([-7, -6])).order_by(Task.day))]
    assert recorded() == [(-7, True, True), (-6, False, True)]

    report = ok(await api.get("/reports/tasks", headers=owner,
                              params={"from": str(case.at(-7).date()), "to": str(case.at(-6).date())}))
    [mine] = report["managers"]
    assert (mine["final_week_contacts"], mine["final_week_both_sms"], mine["final_week_both_sms_rate"]) == (2, 1, 0.5)
    sc.save_history(case, "final_week_sms_after_contacts")
