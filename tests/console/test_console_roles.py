"""Admins, managers and auditors at work in the console, on a phone: the admin's and the manager's
refusals in Chinese next to their field with what was typed kept, an auditor's home and a case's
audit timeline, an admin reassigning and closing a case and finding the needs-attention tasks on
their home, each role's way back home from a case, and reports that read at 390 px."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.async_api import Browser, expect
from models import Role
from renewals.case.labels import STAGE_WORDS
from renewals.case.contract import Stage
from tests.api.conftest import add_person, give_password
from tests.console.conftest import attention_task, case_needing_attention, no_horizontal_scroll, phone_page
from tests.scenario import Scenario, eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_a_book_move_without_a_receiver_and_a_bad_report_period_are_refused_in_chinese_with_the_values_kept(
        console_url: str, browser: Browser, sc: Scenario):
    case = await sc.start(days_to_expiry=62)
    context, page = await phone_page(browser, console_url, give_password(sc.engine, sc.admin.id))
    await page.get_by_label("移交人").select_option(str(case.owner_id))
    await page.get_by_label("移交原因").fill("李四离职")
    await page.get_by_role("button", name="试运行").click()
    await expect(page.locator("#err-reassign-book-to")).to_have_text("请选择至少一位接收人。")
    await expect(page.get_by_label("移交人")).to_have_value(str(case.owner_id))
    await expect(page.get_by_label("移交原因")).to_have_value("李四离职")
    assert "List should have" not in await page.content()
    await no_horizontal_scroll(page)
    await context.close()

    manager = add_person(sc.engine, Role.manager, branch_code=sc.branch_code)
    context, page = await phone_page(browser, console_url, give_password(sc.engine, manager.id))
    await page.get_by_label("起始日期").fill("2026-03-01")
    await page.get_by_label("截止日期").fill("2026-02-01")
    await page.get_by_role("button", name="查看报表").click()
    await expect(page.locator("#err-period-to")).to_contain_text("报表期间有误")
    await expect(page.get_by_label("起始日期")).to_have_value("2026-03-01")
    await expect(page.get_by_label("截止日期")).to_have_value("2026-02-01")
    assert "is before from" not in await page.content()
    await no_horizontal_scroll(page)
    await context.close()


async def test_an_auditor_finds_a_case_from_their_home_and_reads_its_audit_timeline_masked(
        console_url: str, browser: Browser, sc: Scenario):
    case = await sc.start(days_to_expiry=62)
    await sc.sleep_until(case.at(-60, 10))
    # The service manager asks for a follow-up status the first window does not take: the workflow refuses.
    context, page = await phone_page(browser, console_url, give_password(sc.engine, case.owner_id))
    await page.goto(f"{console_url}/app/cases/{case.case_id}")
    token = await page.locator("input[name=csrf_token]").first.get_attribute("value")
    refused = await page.request.post(f"{console_url}/app/cases/{case.case_id}/follow-up", max_redirects=0,
                                      form={"csrf_token": token, "status": "failed"})
    assert refused.status == 409
    await context.close()

    auditor = add_person(sc.engine, Role.auditor, name="审计员")
    context, page = await phone_page(browser, console_url, give_password(sc.engine, auditor.id))
    assert page.url.endswith("/app/audit")
    await page.get_by_label("保单号或车牌").fill(case.inp.policy_no)
    await page.get_by_role("button", name="查询").click()
    await page.locator("#audit-rows li", has_text=case.inp.policy_no).get_by_role("link", name="审计时间线").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text(case.inp.policy_no)
    events = page.locator("#audit-events")
    first_contact = STAGE_WORDS[Stage.FIRST_CONTACT][0]
    await expect(events.locator("li", has_text="进入阶段")).to_contain_text(first_contact)
    refusal = events.locator("li", has_text="操作被拒绝")
    await expect(refusal).to_contain_text("设置跟进状态")
    await expect(refusal).to_contain_text("cannot be set in FIRST_CONTACT")  # the workflow's own reason
    await expect(refusal).to_contain_text("保单服务经理 李*")  # masked for auditors, as the API masks it
    await expect(refusal).to_contain_text("T-60")
    assert case.owner_name not in await events.inner_text()
    await no_horizontal_scroll(page)
    await page.get_by_role("link", name=re.compile("续保案件")).click()
    await expect(page.get_by_role("link", name="← 返回审计")).to_have_attribute("href", "/app/audit")
    await context.close()

    manager = add_person(sc.engine, Role.manager, branch_code=sc.branch_code)
    context, page = await phone_page(browser, console_url, give_password(sc.engine, manager.id))
    await page.goto(f"{console_url}/app/cases/{case.case_id}")
    await page.get_by_role("link", name="审计时间线").click()
    await expect(page.locator("#audit-events li", has_text="操作被拒绝")).to_contain_text("保单服务经理 李四")
    await page.goto(f"{console_url}/app/cases/{case.case_id}")
    await page.get_by_role("link", name="← 返回报表").click()
    assert page.url.endswith("/app/manager")
    await context.close()


async def test_an_admin_reassigns_and_closes_a_case_and_resolves_what_needs_attention_from_their_home(
        console_url: str, browser: Browser, sc: Scenario):
    case = await sc.start(days_to_expiry=62)
    broken = await case_needing_attention(sc)
    taker = sc.add_sales("赵七")
    context, page = await phone_page(browser, console_url, give_password(sc.engine, sc.admin.id))
    await page.goto(f"{console_url}/app/cases/{case.case_id}")
    await page.get_by_text("改派案件", exact=True).first.click()  # its section opens
    await page.get_by_label("改派给").select_option(str(taker.id))
    await page.get_by_label("改派原因").select_option("staff_left")
    await page.get_by_label("改派说明").fill("李四离职,移交赵七")
    await page.locator("#reassign form").get_by_role("button", name="改派案件").click()
    await expect(page.get_by_role("status")).to_contain_text("案件已改派")

    async def reassigned():
        assert (await case.state()).owner_id == taker.id

    await eventually(reassigned)
    await page.get_by_text("关闭案件", exact=True).first.click()
    await page.get_by_label("关闭原因").select_option("vehicle_scrapped")
    await page.get_by_label("我确认关闭此案件").check()
    await page.locator("#close form").get_by_role("button", name="关闭案件").click()
    await expect(page.get_by_role("status")).to_contain_text("案件已关闭")
    assert (await case.state()).outcome == "CLOSED"
    await no_horizontal_scroll(page)
    await page.get_by_role("link", name="← 返回系统管理").click()
    assert page.url.endswith("/app/admin")

    await sc.sleep_until(broken.at(-60, 9, 30))

    def attention():
        return attention_task(sc, broken)

    await eventually(attention)
    await page.reload()
    item = page.locator("#attention li", has_text=broken.inp.policy_no)
    await item.get_by_label("备注").fill("客户语言已更正,首次通知已补发")
    await item.get_by_role("button", name="已处理，完成待办").click()
    await expect(page.get_by_role("status")).to_contain_text("异常已处理")
    assert attention().state == "done"
    await context.close()


async def test_a_manager_reads_the_reports_on_a_phone(console_url: str, browser: Browser, sc: Scenario):
    case = await sc.start(days_to_expiry=20)
    await sc.sleep_until(case.at(-20, 23))  # the day's call is missed: the task report has the owner's row
    manager = add_person(sc.engine, Role.manager, branch_code=sc.branch_code)
    context, page = await phone_page(browser, console_url, give_password(sc.engine, manager.id))
    today = await sc.local_today()
    await page.get_by_label("起始日期").fill(f"{today - timedelta(days=1)}")
    await page.get_by_label("截止日期").fill(f"{today}")
    await page.get_by_role("button", name="查看报表").click()
    await no_horizontal_scroll(page)

    tasks = page.locator("#report-tasks table")
    owner_row = tasks.locator("tr", has_text=case.owner_name)
    await expect(owner_row.locator("td[data-label=角色]")).to_have_text("保单服务经理")
    # Each row stands as a card: its table is no wider than its box, every figure named.
    for name in ("renewals", "funnel", "tasks"):
        box = page.locator(f"#report-{name} .scroll:has(table)")
        assert await box.evaluate("box => box.scrollWidth <= box.clientWidth"), name
    await expect(owner_row.locator("td[data-label=任务数]")).to_be_visible()

    charts = page.locator("img.chart")
    assert await charts.count() == 4
    for i in range(4):
        chart = charts.nth(i)
        await chart.scroll_into_view_if_needed()
        await expect(chart).to_have_js_property("complete", True)
        drawn = await page.request.get(console_url + await chart.get_attribute("src"))
        assert drawn.headers["content-type"] == "image/svg+xml"
        # At 1000 px the chart's words are 14 px: shown at ≥ 720 px they stay ≥ 10 px.
        assert await chart.evaluate("img => img.getBoundingClientRect().width") >= 720

    names = set()
    for name in ("renewals", "funnel", "tasks"):
        href = await page.locator(f"#report-{name} a", has_text="CSV").get_attribute("href")
        download = await page.request.get(console_url + href)
        names.add(download.headers["content-disposition"])
        assert f'filename="{name}_{today - timedelta(days=1)}_{today}.csv"' in download.headers["content-disposition"]
    assert len(names) == 3
    await context.close()
