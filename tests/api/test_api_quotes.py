"""Quotes through HTTP with the real workflow: staff quote configuration, vehicle-model
confirmation, one refusal code per seed common error, the quote SMS through the workflow to the
fake Twilio server, opt-out and expiry refusals, and acceptance awaiting payment."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import update
from sqlmodel import Session, select

from models import ContactRecord, Customer, Policy, RenewalCase, Role, StaffQuoteConfig, Vehicle
from renewals.quotes.vehicle_models import SAMPLE_FILE, import_vehicle_models
from tests.api.conftest import Api, add_person
from tests.scenario import Case, Scenario, eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")

ONLINE = {"channel": "online", "group_buy_id": "20231234", "online_account": "li.si@example.com"}


def error(response, status: int) -> dict:
    assert response.status_code == status, response.text
    return response.json()["error"]


def change(sc: Scenario, model, where, **values) -> None:
    with Session(sc.engine) as session:
        session.execute(update(model).where(where).values(**values))
        session.commit()


def policy_of(sc: Scenario, case: Case) -> Policy:
    with Session(sc.engine) as session:
        return session.exec(select(Policy).where(Policy.policy_no == case.inp.policy_no)).one()


@pytest.fixture(scope="module", autouse=True)
def vehicle_models(engine) -> None:
    with Session(engine) as session:
        assert not import_vehicle_models(session, SAMPLE_FILE).errors
        session.commit()


async def quotable_case(api: Api, sc: Scenario, config: dict | None = None) -> tuple[Case, dict[str, str]]:
    case = await sc.start(days_to_expiry=62)
    owner = await api.sign_in(case.owner_id)
    response = await api.put("/me/quote-config", headers=owner, json=config or {"channel": "traditional"})
    assert response.status_code == 200, response.text
    await sc.sleep_until(case.at(-60, 10))
    return case, owner


async def test_quote_configuration_is_validated_with_clear_reasons(api: Api, sc: Scenario):
    case = await sc.start(days_to_expiry=62)
    owner = await api.sign_in(case.owner_id)
    assert (await api.get("/me/quote-config", headers=owner)).json() == {
        "configured": False, "channel": None, "group_buy_id": None, "online_account": None, "online_ready": False}

    no_id = error(await api.put("/me/quote-config", headers=owner, json={"channel": "online"}), 422)
    assert (no_id["code"], no_id["field"]) == ("channel_not_configured", "group_buy_id")
    assert "团购ID" in no_id["message"]
    bad_id = error(await api.put("/me/quote-config", headers=owner, json={**ONLINE, "group_buy_id": "http://x/1"}),
                   422)
    assert (bad_id["code"], bad_id["field"]) == ("invalid_group_buy_id", "group_buy_id")
    assert "digits" in bad_id["message"]
    control = error(await api.put("/me/quote-config", headers=owner,
                                  json={**ONLINE, "online_account": "li\u0007si"}), 422)
    assert control["field"] == "online_account" and "control characters" in control["message"]
    two_lines = error(await api.put("/me/quote-config", headers=owner,
                                    json={**ONLINE, "online_account": "li.si\nwang.wu"}), 422)
    assert two_lines["field"] == "online_account", "an account is one line"
    too_long = error(await api.put("/me/quote-config", headers=owner, json={**ONLINE, "group_buy_id": "1" * 40}), 422)
    assert too_long["field"] == "group_buy_id"

    saved = await api.put("/me/quote-config", headers=owner, json=ONLINE)
    assert saved.status_code == 200 and saved.json()["online_ready"] is True
    assert (await api.get("/me/quote-config", headers=owner)).json()["group_buy_id"] == "20231234"
    manager = await api.sign_in(add_person(sc.engine, Role.manager, branch_code=sc.branch_code).id)
    assert error(await api.put("/me/quote-config", headers=manager, json={"channel": "traditional"}), 403)


async def test_each_seed_common_error_has_its_own_code_and_message(api: Api, sc: Scenario):
    case = await sc.start(days_to_expiry=62)
    owner = await api.sign_in(case.owner_id)
    await sc.sleep_until(case.at(-60, 10))
    quotes = f"/cases/{case.case_id}/quotes"
    policy = policy_of(sc, case)
    seen: dict[str, str] = {}

    async def refused(expected: str, body: dict | None = None) -> dict:
        response = await api.post(quotes, headers=owner, json=body or {})
        err = error(response, 409)
        assert err["code"] == expected, err
        assert response.headers["Location"].startswith("/quotes/")
        assert err["message"] not in seen.values(), "each error says its own thing"
        seen[expected] = err["message"]
        return err

    # 渠道: nothing configured yet, then the wrong channel, then a bad group-buy id.
    assert "/me/quote-config" in (await refused("channel_not_configured"))["message"]
    await api.put("/me/quote-config", headers=owner, json=ONLINE)
    assert "through traditional" in (await refused("wrong_channel"))["message"]
    change(sc, StaffQuoteConfig, StaffQuoteConfig.staff_id == case.owner_id, group_buy_id="not-digits")
    change(sc, Policy, Policy.id == policy.id, channel="online")
    assert "团购ID" in (await refused("invalid_group_buy_id"))["message"]
    change(sc, Policy, Policy.id == policy.id, channel="traditional")
    await api.put("/me/quote-config", headers=owner, json={"channel": "traditional"})
    # 不点续保复制直接报价: a cover that was not on last year's policy.
    assert "续保复制" in (await refused("not_renewal_copy", {"coverages": ["CTP", "GLASS"]}))["message"]

    # 未交互车型, then confirmed through the catalogue.
    change(sc, Vehicle, Vehicle.id == policy.vehicle_id, model_confirmed=False)
    assert "查询、交互车型后才可报价" in (await refused("vehicle_model_not_confirmed"))["message"]
    found = (await api.get("/vehicle-models", headers=owner, params={"q": "朗逸"})).json()
    assert {m["code"] for m in found} == {"SVW7182QQD", "SVW7152NSD"}
    assert [m["code"] for m in (await api.get("/vehicle-models", headers=owner, params={"q": "svw7182"})).json()] == [
        "SVW7182QQD"]
    unknown = error(await api.post(f"/cases/{case.case_id}/vehicle-model", headers=owner,
                                   json={"model_code": "NOPE123"}), 422)
    assert (unknown["code"], unknown["field"]) == ("unknown_vehicle_model", "model_code")
    confirmed = await api.post(f"/cases/{case.case_id}/vehicle-model", headers=owner,
                               json={"model_code": "svw7182qqd"})
    assert confirmed.status_code == 200 and confirmed.json()["model"]["name"] == "朗逸 1.8L 自动舒适版"

    # 不符合投保政策: vehicle older than 10 years, too many claims, blacklisted customer.
    change(sc, Vehicle, Vehicle.id == policy.vehicle_id, first_registered_on=case.inp.expiry_date - timedelta(days=3700))
    assert "车龄超过10年" in (await refused("vehicle_too_old"))["message"]
    change(sc, Vehicle, Vehicle.id == policy.vehicle_id, first_registered_on=case.inp.expiry_date - timedelta(days=900))
    change(sc, Policy, Policy.id == policy.id, claims_last_year=4)
    assert "4 claims last year, more than the 3 allowed" in (await refused("too_many_claims"))["message"]
    change(sc, Policy, Policy.id == policy.id, claims_last_year=3)
    change(sc, Customer, Customer.id == case.customer_id, blacklisted=True)
    assert "黑名单" in (await refused("blacklisted_customer"))["message"]
    change(sc, Customer, Customer.id == case.customer_id, blacklisted=False)

    quoted = await api.post(quotes, headers=owner, json={})
    assert quoted.status_code == 201, quoted.text
    assert Decimal(quoted.json()["premium"]) == Decimal("6579.75"), "4386.50 × 1.50 (3 claims) × 1.00"

    # 在其他主体已投保: reported through the workflow; the quote already made can no longer be sent.
    reported = await api.post(f"/cases/{case.case_id}/renewed-elsewhere", headers=owner, json={"insurer": "ping_an"})
    assert reported.status_code == 200, reported.text
    await eventually(lambda: _assert(sc.case_row(case).lost_to_insurer == "ping_an"))
    assert "平安产险" in (await refused("insured_elsewhere"))["message"]
    assert error(await api.post(f"/quotes/{quoted.json()['id']}/send", headers=owner), 409)["code"] == \
        "insured_elsewhere"

    listed = (await api.get(quotes, headers=owner)).json()
    assert [q["reasons"][0]["code"] if q["reasons"] else q["status"] for q in reversed(listed)] == [
        "channel_not_configured", "wrong_channel", "invalid_group_buy_id", "not_renewal_copy",
        "vehicle_model_not_confirmed", "vehicle_too_old", "too_many_claims", "blacklisted_customer", "ready",
        "insured_elsewhere"], "refused attempts are kept with their reasons"


def _assert(condition: bool) -> None:
    assert condition


async def test_quote_is_texted_with_its_premium_and_the_managers_name_then_accepted(api: Api, sc: Scenario):
    case, owner = await quotable_case(api, sc)
    created = await api.post(f"/cases/{case.case_id}/quotes", headers=owner, json={})
    assert created.status_code == 201, created.text
    quote = created.json()
    assert (quote["premium"], quote["status"], quote["channel"]) == ("3728.53", "ready", "traditional")
    assert quote["valid_until"] == str(case.at(-60).date() + timedelta(days=15))
    assert [c["code"] for c in quote["coverages"]] == ["CTP", "TPL"], "renewal copy of last year's coverages"
    assert quote["pricing"]["ncd_factor"] == "0.85"

    before = len(sc.twilio.delivered(case.customer_phone))
    sent = await api.post(f"/quotes/{quote['id']}/send", headers=owner)
    assert (sent.status_code, sent.json()["status"]) == (200, "sent"), sent.text
    [sms] = sc.twilio.delivered(case.customer_phone)[before:]
    assert "3,728.53元" in sms["body"] and "李四" in sms["body"], sms["body"]
    assert "4,386.50" not in sms["body"], "never last year's premium"
    assert f"{date.fromisoformat(quote['valid_until']).month}月" in sms["body"]
    with Session(sc.engine) as session:
        [record] = session.exec(select(ContactRecord).where(ContactRecord.case_id == case.case_id,
                                                            ContactRecord.template == "quote")).all()
        assert (record.channel, record.recipient, record.body) == ("sms", "customer", sms["body"])
    assert (await api.get(f"/quotes/{quote['id']}", headers=owner)).json()["status"] == "sent"
    view = (await api.get(f"/customers/{case.customer_id}", headers=owner)).json()
    assert [(q["id"], q["status"]) for q in view["quotes"]] == [(quote["id"], "sent")]

    accepted = await api.post(f"/quotes/{quote['id']}/accept", headers=owner,
                              json={"note": "明天缴费\n带上行驶证"})  # a note may run over lines
    assert accepted.status_code == 200, accepted.text
    proposal = accepted.json()["proposal_no"]
    assert accepted.json()["status"] == "accepted" and proposal.startswith("ZC")
    again = await api.post(f"/quotes/{quote['id']}/accept", headers=owner, json={})
    assert again.json()["proposal_no"] == proposal, "accepting twice records one proposal"
    case_view = (await api.get(f"/cases/{case.case_id}", headers=owner)).json()
    assert case_view["case"]["proposal_no"] == proposal and case_view["case"]["outcome"] is None
    assert case_view["state"]["outcome"] is None, "accepting is not renewing: only paid and issued is"
    [task] = (await api.get("/me/tasks", headers=owner)).json()["items"]
    assert "awaiting payment" in task["what_to_do"] and proposal in task["what_to_do"]

    renewed = await api.post(f"/cases/{case.case_id}/follow-up", headers=owner,
                             json={"status": "success", "new_policy_no": "PDAA2027QUOTED"})
    assert renewed.json()["outcome"] == "RENEWED", renewed.text


async def test_opted_out_or_do_not_call_customer_gets_nothing_and_the_api_says_why(api: Api, sc: Scenario):
    case, owner = await quotable_case(api, sc)
    quote = (await api.post(f"/cases/{case.case_id}/quotes", headers=owner, json={})).json()
    before = len(sc.twilio.delivered(case.customer_phone))

    change(sc, Customer, Customer.id == case.customer_id, sms_opt_out=True)
    opted_out = error(await api.post(f"/quotes/{quote['id']}/send", headers=owner), 409)
    assert opted_out["code"] == "sms_opt_out" and "退订" in opted_out["message"]
    via_case = error(await api.post(f"/cases/{case.case_id}/sms", headers=owner,
                                    json={"template": "quote", "quote_id": quote["id"]}), 409)
    assert via_case["code"] == "sms_opt_out"

    change(sc, Customer, Customer.id == case.customer_id, sms_opt_out=False,
           do_not_call_until=case.at(-60).date() + timedelta(days=180))
    dnc = error(await api.post(f"/quotes/{quote['id']}/send", headers=owner), 409)
    assert dnc["code"] == "do_not_call" and "do-not-call" in dnc["message"]
    assert len(sc.twilio.delivered(case.customer_phone)) == before, "nothing was sent"

    other = await api.sign_in(sc.add_sales("赵六").id)
    assert error(await api.post(f"/quotes/{quote['id']}/send", headers=other), 403)["message"] == \
        "no quote with this id is in your scope"


async def test_the_case_sms_sends_only_a_quote_of_that_case(api: Api, sc: Scenario):
    case, owner = await quotable_case(api, sc)
    other_case, other_owner = await quotable_case(api, sc)
    other_quote = (await api.post(f"/cases/{other_case.case_id}/quotes", headers=other_owner, json={})).json()
    before = len(sc.twilio.delivered(case.customer_phone))
    for quote_id in (other_quote["id"], str(uuid.uuid4())):
        refused = error(await api.post(f"/cases/{case.case_id}/sms", headers=owner,
                                       json={"template": "quote", "quote_id": quote_id}), 422)
        assert (refused["field"], refused["message"]) == ("quote_id", "quote_id: no quote with this id on this case")
    assert len(sc.twilio.delivered(case.customer_phone)) == before, "nothing was sent"


async def test_expired_or_refused_quote_cannot_be_sent_or_accepted(api: Api, sc: Scenario):
    case, owner = await quotable_case(api, sc)
    quote = (await api.post(f"/cases/{case.case_id}/quotes", headers=owner, json={})).json()
    change(sc, Customer, Customer.id == case.customer_id, blacklisted=True)
    assert error(await api.post(f"/cases/{case.case_id}/quotes", headers=owner, json={}), 409)["code"] == \
        "blacklisted_customer"
    [refused_quote] = [q for q in (await api.get(f"/cases/{case.case_id}/quotes", headers=owner)).json()
                       if q["status"] == "refused"]
    assert error(await api.post(f"/quotes/{refused_quote['id']}/send", headers=owner), 409)["code"] == "quote_refused"
    change(sc, Customer, Customer.id == case.customer_id, blacklisted=False)

    before = len(sc.twilio.delivered(case.customer_phone))
    await sc.sleep_until(case.at(-60 + 16, 10))
    expired = error(await api.post(f"/quotes/{quote['id']}/send", headers=owner), 409)
    assert expired["code"] == "quote_expired" and quote["valid_until"] in expired["message"]
    assert error(await api.post(f"/cases/{case.case_id}/sms", headers=owner,
                                json={"template": "quote", "quote_id": quote["id"]}), 409)["code"] == "quote_expired"
    assert error(await api.post(f"/quotes/{quote['id']}/accept", headers=owner, json={}), 409)["code"] == \
        "quote_expired"
    assert (await api.get(f"/quotes/{quote['id']}", headers=owner)).json()["status"] == "expired"
    assert len(sc.twilio.delivered(case.customer_phone)) == before
    with Session(sc.engine) as session:
        assert session.get(RenewalCase, case.case_id).proposal_no is None


async def test_quote_sent_in_quiet_hours_is_held_until_eight(api: Api, sc: Scenario):
    case, owner = await quotable_case(api, sc)
    await sc.sleep_until(case.at(-59, 21, 30))
    quote = (await api.post(f"/cases/{case.case_id}/quotes", headers=owner, json={})).json()
    before = len(sc.twilio.delivered(case.customer_phone))
    held = await api.post(f"/quotes/{quote['id']}/send", headers=owner)
    assert (held.status_code, held.json()["status"]) == (202, "held"), held.text
    await sc.sleep_until(case.at(-58, 8, 1))
    [sms] = sc.twilio.delivered(case.customer_phone)[before:]
    assert "3,728.53元" in sms["body"]
