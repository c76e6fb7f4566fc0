"""The seed's renewal flow in a real browser: the manager works today's task on a phone, sets
`failed`, the case moves to the deputy at T-10 and the deputy renews it; with screenshots. The
manager records the customer's intent with a contact, and the proxy (委托人), family and other phones."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect
from sqlmodel import Session, select

from models import ContactRecord, Note

from tests.api.conftest import give_password
from tests.console.conftest import PHONE, TABLET, no_horizontal_scroll, phone_page, screenshot, sign_in
from tests.scenario import Scenario, eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_manager_fails_the_case_and_the_deputy_renews_it(console_url: str, browser: Browser, sc: Scenario):
    case = await sc.start(days_to_expiry=62)
    owner, deputy = give_password(sc.engine, case.owner_id), give_password(sc.engine, case.deputy_id)
    await sc.sleep_until(case.at(-18, 10))

    context, page = await phone_page(browser, console_url, owner)
    assert page.url.endswith("/app/tasks")
    await expect(page.get_by_role("heading", level=1)).to_contain_text("待办任务")
    assert [await page.inner_text(f"#count-{n}") for n in ("missed", "due", "done")] == ["1", "1", "0"]
    tasks = page.locator("li.task")
    await expect(tasks).to_have_count(1)  # one card per case, its tasks inside
    await expect(tasks.locator(".case-tasks li")).to_have_count(2)
    await expect(tasks.locator(".case-tasks li").nth(0)).to_contain_text("T-19")  # yesterday's missed call first
    await expect(tasks.locator(".case-tasks li").nth(0)).to_contain_text("逾期")
    await expect(tasks.locator(".case-tasks li").nth(1)).to_contain_text("T-18")
    panel = await page.inner_text("main")
    assert case.customer_name in panel and case.plate in panel, "the owner sees their own customer in full"
    await screenshot(page, "console-tasks-390")
    await page.set_viewport_size(TABLET)
    await screenshot(page, "console-tasks-1024")
    await page.set_viewport_size(PHONE)

    await tasks.nth(0).get_by_role("link", name="办理").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text(case.inp.policy_no)
    await expect(page.locator("#task")).to_contain_text("T-18")
    await page.get_by_role("radio", name="已接通").check()
    await page.get_by_label("备注").first.fill("客户考虑中,价格偏高")
    await page.locator("#bar-result").click()  # the sticky bar sends the result form
    await expect(page.get_by_role("status")).to_contain_text("联系结果已记录")
    await expect(page.locator("#task")).to_contain_text("目前没有您的待办任务")

    # A refusal shows the reason in the page's language next to its field, with what was typed kept.
    await page.get_by_role("radio", name="成功（已缴费出单）").check()
    await page.locator("#follow-up-note").fill("客户说已缴费")
    await page.get_by_role("button", name="保存").first.click()
    await expect(page.locator("#err-follow-up-new_policy_no")).to_contain_text("须填写新保单号")
    await expect(page.get_by_role("radio", name="成功（已缴费出单）")).to_be_checked()
    await expect(page.locator("#follow-up-note")).to_have_value("客户说已缴费")
    await page.locator("#follow-up-note").fill("")

    await page.get_by_role("radio", name="失败（需副经理协助）").check()
    await page.get_by_role("button", name="保存").first.click()
    await expect(page.get_by_role("status")).to_contain_text("跟进状态已保存")
    await expect(page.locator("#follow-up-status")).to_contain_text("失败")
    await expect(page.locator(".timeline")).to_contain_text("已接通")
    await expect(page.locator(".timeline")).to_contain_text("客户考虑中")
    await screenshot(page, "console-case-390")
    await page.set_viewport_size(TABLET)
    await screenshot(page, "console-case-1024")
    await page.set_viewport_size(PHONE)

    await page.get_by_role("link", name="待办任务").click()
    assert [await page.inner_text(f"#count-{n}") for n in ("missed", "due", "done")] == ["1", "0", "1"]

    await sc.sleep_until(case.at(-10, 10))
    await page.goto(f"{console_url}/app/cases/{case.case_id}")
    await expect(page.locator("#stage")).to_contain_text("副经理督办")
    # The deputy assists (协助): the manager may still record the renewal; failed/continue are the deputy's.
    follow_up = page.locator("form[action$='/follow-up']")
    assert await follow_up.get_by_role("radio").count() == 1
    await expect(follow_up.get_by_role("radio", name="成功（已缴费出单）")).to_have_count(1)
    await page.get_by_role("button", name="退出").click()

    await sign_in(page, console_url, deputy)
    await expect(page.locator("li.task")).to_contain_text("副经理督办")
    await page.get_by_role("link", name="督办与投诉").click()
    await page.get_by_role("link", name=case.inp.policy_no).click()
    await expect(page.locator("#customer-phone")).to_contain_text("****")  # the deputy is not the owner
    await page.get_by_role("radio", name="成功（已缴费出单）").check()
    await page.get_by_role("textbox", name="新保单号").fill("PDAA2027DEPUTY")
    await page.get_by_role("button", name="保存").first.click()
    await expect(page.get_by_role("status")).to_contain_text("跟进状态已保存")
    await expect(page.locator("#outcome")).to_contain_text("已续保")
    await expect(page.locator("#new-policy-no")).to_have_text("PDAA2027DEPUTY")

    def renewed():
        assert sc.case_row(case).outcome == "RENEWED"
    await eventually(renewed)
    await context.close()


async def test_quiet_hours_hold_the_sms_and_refuse_the_call_in_the_page(console_url: str, browser: Browser,
                                                                        sc: Scenario):
    case = await sc.start(days_to_expiry=62)
    await sc.sleep_until(case.at(-7, 21, 30))
    context, page = await phone_page(browser, console_url, give_password(sc.engine, case.owner_id))
    await page.goto(f"{console_url}/app/cases/{case.case_id}")
    html = await page.content()
    assert "<script" not in html and " style=" not in html, "no inline script or style: a strict CSP holds"
    held_until = case.at(-6, 8).strftime("%Y-%m-%d %H:%M")

    await page.get_by_text("发送短信").click()
    await expect(page.get_by_role("note")).to_contain_text(held_until)
    await page.get_by_label("短信模板").select_option("service_request")
    await page.get_by_role("button", name="发送").click()
    await expect(page.get_by_role("status")).to_contain_text(f"短信将于 {held_until} 发出")

    await page.locator(".action-bar").get_by_role("button", name="拨打电话").click()
    await expect(page.get_by_role("alert")).to_contain_text("only allowed between 09:00 and 21:00")
    await expect(page.get_by_role("alert")).to_contain_text("it is 21:")
    assert sc.twilio.calls() == [] or all(call["To"] != case.owner_phone for call in sc.twilio.calls())
    await context.close()


async def test_the_manager_records_intent_and_the_customers_proxy_family_and_phones(
        console_url: str, browser: Browser, sc: Scenario):
    case = await sc.start(days_to_expiry=8)
    await sc.sleep_until(case.at(-7, 10))
    context, page = await phone_page(browser, console_url, give_password(sc.engine, case.owner_id))
    await page.goto(f"{console_url}/app/cases/{case.case_id}")

    await page.get_by_role("radio", name="已接通").check()  # no result is chosen for you
    await page.locator("#contact-quote-wish").select_option("declined")
    await page.locator("#contact-intent").select_option("high")
    await page.locator("#contact-form").get_by_role("button", name="记录联系结果").click()
    await expect(page.get_by_role("status")).to_contain_text("联系结果已记录")
    await expect(page.locator("#intent")).to_have_text("意向高 · 不需要报价（不发报价短信）")

    await page.locator("summary", has_text="委托人、家庭成员和其他电话").click()
    await page.locator("#proxy-name").fill("孙丽丽")
    await page.locator("#proxy-relation").fill("配偶")
    await page.locator("#proxy-phone").fill("139 8765 4321")
    await page.locator("#family").fill("钱小宝:子女\n钱老爷:父母:13900004444")
    await page.locator("#other-phones").fill("13900002222")
    await page.locator("#proxy-phone").locator("xpath=ancestor::form").get_by_role("button").click()
    await expect(page.get_by_role("status")).to_contain_text("已保存委托人")
    await expect(page.locator("#customer-proxy")).to_have_text("孙丽丽 · 配偶 · +8613987654321")
    await expect(page.locator(".family-member")).to_have_text(["钱小宝 · 子女", "钱老爷 · 父母 · +8613900004444"])
    await expect(page.locator("#customer-other-phones")).to_have_text("+8613900002222")
    await no_horizontal_scroll(page)

    await page.locator("summary", has_text="委托人、家庭成员和其他电话").click()
    await page.locator("#family").fill("钱小宝")
    await page.locator("#proxy-phone").locator("xpath=ancestor::form").get_by_role("button").click()
    await expect(page.get_by_role("alert").first).to_contain_text("家庭成员格式应为")
    await expect(page.locator("#family")).to_have_value("钱小宝")
    await context.close()


async def test_a_contact_form_sent_again_after_no_answer_records_one_contact(console_url: str, browser: Browser,
                                                                            sc: Scenario):
    """A phone that lost the answer (or got the 'try again' of a staff action past its deadline)
    sends the same form again: the form carries its own key, so the contact is recorded once."""
    case = await sc.start(days_to_expiry=62)
    await sc.sleep_until(case.at(-59, 10))
    context, page = await phone_page(browser, console_url, give_password(sc.engine, case.owner_id))
    await page.goto(f"{console_url}/app/cases/{case.case_id}")
    form = page.locator(f"form[action='/app/cases/{case.case_id}/contacts']")
    fields = await form.evaluate("f => Object.fromEntries(new FormData(f).entries())")
    fields.update(channel="call", result="reached", note="客户考虑续保")
    for _ in range(2):
        sent = await page.request.post(f"{console_url}/app/cases/{case.case_id}/contacts", form=fields,
                                       max_redirects=0)
        assert sent.status == 303, await sent.text()
    with Session(sc.engine) as session:
        calls = session.exec(select(ContactRecord).where(ContactRecord.case_id == case.case_id,
                                                         ContactRecord.channel == "call")).all()
        notes = session.exec(select(Note).where(Note.case_id == case.case_id)).all()
    assert (len(calls), [n.body for n in notes]) == (1, ["客户考虑续保"]), "the form sent twice is one contact"
    await context.close()
