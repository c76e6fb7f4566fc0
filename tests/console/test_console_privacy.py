"""What the console keeps apart in a real browser: a service manager's panel shows their own tasks
only, another manager's case answers like any id out of scope, and a form post without this
browser's CSRF token changes nothing."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect
from sqlmodel import Session, select

from models import ContactRecord, Customer, Role, TaskState
from tests.api.conftest import add_person, give_password
from tests.console.conftest import no_horizontal_scroll, phone_page, sign_in
from tests.scenario import Scenario
from renewals.case import contract as c

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_panel_shows_only_my_tasks_and_forged_posts_are_refused(console_url: str, browser: Browser,
                                                                       sc: Scenario):
    mine = await sc.start(days_to_expiry=62, customer_name="钱多多")
    theirs = await sc.start(days_to_expiry=62, customer_name="孙小美")  # another manager, same sub-branch
    await sc.sleep_until(mine.at(-59, 10))

    context, page = await phone_page(browser, console_url, give_password(sc.engine, mine.owner_id))
    tasks = page.locator("li.task")
    assert await tasks.count() == 1
    await expect(tasks).to_contain_text(mine.inp.policy_no)
    panel = await page.content()
    assert theirs.inp.policy_no not in panel and str(theirs.case_id) not in panel and "孙" not in panel
    await no_horizontal_scroll(page)

    cookies = {cookie["name"]: cookie for cookie in await context.cookies()}
    session_cookie = cookies["console_session"]
    assert (session_cookie["httpOnly"], session_cookie["sameSite"]) == (True, "Lax")
    assert cookies["console_csrf"]["httpOnly"]

    response = await page.goto(f"{console_url}/app/cases/{theirs.case_id}")
    assert response.status == 403
    await expect(page.get_by_role("alert")).to_contain_text("无权访问")  # in the page's language
    assert theirs.inp.policy_no not in await page.content()

    # A forged post from this signed-in browser: no token, then someone else's, then a stale one.
    contact = {"channel": "call", "result": "complaint", "note": "forged"}
    action = f"{console_url}/app/cases/{mine.case_id}/contacts"
    for token in (None, "0" * 64, "not-a-token"):
        form = contact if token is None else {**contact, "csrf_token": token}
        forged = await page.request.post(action, form=form, max_redirects=0)
        assert forged.status == 403, await forged.text()
        assert "表单已过期或来源不明" in await forged.text()
    with Session(sc.engine) as session:
        assert session.exec(select(ContactRecord).where(ContactRecord.case_id == mine.case_id,
                                                        ContactRecord.channel == "call")).all() == []
    assert [task.state for task in sc.tasks(mine)] == [TaskState.open], "the call task is still to do"

    # The same post with the token the page gave this browser goes through.
    await page.goto(f"{console_url}/app/tasks")
    token = await page.locator("input[name=csrf_token]").first.get_attribute("value")
    accepted = await page.request.post(action, form={**contact, "result": "reached", "csrf_token": token},
                                       max_redirects=0)
    assert accepted.status == 303 and accepted.headers["location"] == f"/app/cases/{mine.case_id}#result"

    # Someone else's case refuses the action too, with a valid token: one authorization layer.
    theirs_action = f"{console_url}/app/cases/{theirs.case_id}/contacts"
    refused = await page.request.post(theirs_action, form={**contact, "csrf_token": token}, max_redirects=0)
    assert refused.status == 403
    assert [task.state for task in sc.tasks(theirs)] == [TaskState.open]

    await page.get_by_role("link", name="English").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("To-do")
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await context.close()


async def test_admins_and_managers_land_on_their_pages_and_sales_cannot_open_them(console_url: str, browser: Browser,
                                                                                   sc: Scenario):
    case = await sc.start(days_to_expiry=62)
    admin = add_person(sc.engine, Role.admin, branch_code=sc.branch_code)
    manager = add_person(sc.engine, Role.manager, branch_code=sc.branch_code)
    context, page = await phone_page(browser, console_url, give_password(sc.engine, admin.id))
    assert page.url.endswith("/app/admin")
    for heading in ("导入保单（CSV）", "未分配保单", "离职移交（先试运行）"):
        await expect(page.get_by_role("heading", name=heading)).to_be_visible()
    await page.get_by_role("button", name="退出").click()

    await sign_in(page, console_url, give_password(sc.engine, manager.id))
    assert page.url.endswith("/app/manager")
    link = page.get_by_role("link", name="副经理督办").first
    assert 'RenewalStage%20%3D%20%22DEPUTY_SUPERVISION%22' in await link.get_attribute("href")
    await page.get_by_role("link", name="案件", exact=True).click()
    await expect(page.locator("main")).to_contain_text(case.inp.policy_no)  # managers read their branch
    await page.get_by_role("button", name="退出").click()

    await sign_in(page, console_url, give_password(sc.engine, case.owner_id))
    response = await page.goto(f"{console_url}/app/admin")
    assert response.status == 403
    await context.close()


async def test_a_closed_case_refuses_to_change_the_customers_phone(console_url: str, browser: Browser, sc: Scenario):
    """The case page of a closed case offers no phone form; a form posted anyway by its owner is
    refused with the case's reason, shown on the page, and the customer keeps their phone."""
    case = await sc.start(days_to_expiry=62)
    await sc.sleep_until(case.at(-59, 10))
    await case.update("set_follow_up", c.SetFollowUp(actor=case.actor(), status=c.FollowUpStatus.success,
                                                     new_policy_no="PDAA2027CLOSED"))
    context, page = await phone_page(browser, console_url, give_password(sc.engine, case.owner_id))
    await page.goto(f"{console_url}/app/cases/{case.case_id}")
    token = await page.locator("input[name=csrf_token]").first.get_attribute("value")
    for action, form in [("customer-phone", {"phone": "+8613900003333"}), ("phone-unreachable", {"note": "空号"})]:
        refused = await page.request.post(f"{console_url}/app/cases/{case.case_id}/{action}",
                                          form={**form, "csrf_token": token}, max_redirects=0)
        assert refused.status == 409, await refused.text()
        await page.set_content(await refused.text())
        await expect(page.get_by_role("alert")).to_contain_text(c.closed_reason("RENEWED"))
    with Session(sc.engine) as session:
        customer = session.get(Customer, case.customer_id)
        assert (customer.corrected_phone, customer.phone_unreachable) == (None, False)
    await context.close()


async def test_pages_hold_under_the_strict_csp_and_signing_out_ends_the_session(console_url: str, browser: Browser,
                                                                                 sc: Scenario):
    case = await sc.start(days_to_expiry=62)
    await sc.sleep_until(case.at(-59, 10))
    context, page = await phone_page(browser, console_url, give_password(sc.engine, case.owner_id))
    refused: list[str] = []
    page.on("console", lambda message: refused.append(message.text)
            if "Content Security Policy" in message.text else None)
    for path in ("/app/tasks", f"/app/cases/{case.case_id}", "/app/cases"):
        response = await page.goto(f"{console_url}{path}")
        assert response.status == 200 and "default-src 'self'" in response.headers["content-security-policy"]
        header = await page.evaluate("getComputedStyle(document.querySelector('header.top')).backgroundColor")
        assert header == "rgb(11, 92, 173)", f"{path}: the stylesheet does not apply"
    assert not refused, refused

    stolen = next(cookie for cookie in await context.cookies() if cookie["name"] == "console_session")
    await page.get_by_role("button", name="退出").click()
    await expect(page.get_by_role("button", name="登录")).to_be_visible()
    replayed = await browser.new_context()
    await replayed.add_cookies([stolen])
    again = await replayed.new_page()
    await again.goto(f"{console_url}/app/tasks")
    assert again.url.endswith("/app/sign-in"), "the cookie of a session that signed out opens nothing"
    await replayed.close()
    await context.close()
