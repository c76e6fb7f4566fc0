"""The admin's and the manager's pages in a real browser: an import uploaded from the phone and
followed to its counts and row errors, an unassigned policy given to a service manager, a book
reassignment previewed (moving nothing) then confirmed, the reports with their charts, and an SMS
template previewed for a real case and saved as a new version."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from playwright.async_api import Browser, expect
from sqlalchemy import func
from sqlmodel import Session, select

from models import Assignment, ImportJob, Policy, Role, SmsTemplate, Staff
from renewals.dev.sample_book import rows, to_csv
from tests.api.conftest import add_person, give_password
from tests.console.conftest import attention_task, case_needing_attention, no_horizontal_scroll, phone_page
from tests.scenario import Scenario, eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")


def _book(sc: Scenario, first_expiry, prefix: str, managers: list[str]) -> bytes:
    records = rows(len(managers), start=first_expiry, prefix=prefix, sub_branch=sc.sub_branch_code)
    for record, manager in zip(records, managers, strict=True):
        record.update(manager=manager, handler_code="", expires_on=f"{first_expiry:%Y-%m-%d}",
                      starts_on=f"{first_expiry - timedelta(days=365):%Y-%m-%d}",
                      first_registered_on=f"{first_expiry - timedelta(days=3 * 365):%Y-%m-%d}")
    return to_csv(records)


def _owner(engine, policy_no: str):
    with Session(engine) as session:
        return session.exec(select(Assignment.staff_id).join(Policy, Policy.id == Assignment.policy_id).where(
            Policy.policy_no == policy_no, Assignment.ended_at.is_(None))).first()


async def test_an_admin_imports_a_file_reads_its_row_errors_and_assigns_the_unassigned(
        console_url: str, browser: Browser, sc: Scenario):
    taker = sc.add_sales("王六")
    # Far from expiry, so no case starts: two rows for the taker, one nobody serves, one bad row.
    data = _book(sc, await sc.local_today() + timedelta(days=400), "PWEB", [taker.username, taker.username, "", ""])
    lines = data.decode().splitlines()
    lines[4] = lines[4].replace(",zh-CN,", ",klingon,").replace(",en,", ",klingon,")
    data = ("\n".join(lines) + "\n").encode()
    policy_nos = [line.split(",")[0] for line in lines[1:]]
    assert all(no.startswith("PWEB") for no in policy_nos), "policy_no is the first column"

    context, page = await phone_page(browser, console_url, give_password(sc.engine, sc.admin.id))
    assert page.url.endswith("/app/admin")
    await no_horizontal_scroll(page)
    await page.get_by_label("保单文件").set_input_files(
        files=[{"name": "book.csv", "mimeType": "text/csv", "buffer": data}])
    await page.get_by_role("button", name="上传并导入").click()
    assert "/app/admin/imports/" in page.url
    await expect(page.locator("#job-status")).to_contain_text("已完成", timeout=30_000)  # the page refreshes itself
    counts = page.locator("#job-counts")
    await expect(counts.locator("div", has_text="新增保单")).to_contain_text("3")
    await expect(counts.locator("div", has_text="未分配")).to_contain_text("1")
    await expect(page.locator("#row-errors")).to_contain_text("language")
    await expect(page.locator("#row-errors")).to_contain_text("must be one of zh-CN, en")
    await no_horizontal_scroll(page)
    errors = await page.request.get(console_url + await page.get_by_role("link", name="下载全部错误行（CSV）").get_attribute("href"))
    assert errors.status == 200 and errors.headers["content-type"].startswith("text/csv")
    assert list(csv.reader(io.StringIO((await errors.body()).decode("utf-8-sig")))) == [
        ["row", "column", "reason"], ["5", "language", "must be one of zh-CN, en"]]

    await page.get_by_role("link", name="返回系统管理").click()
    unassigned = page.locator("li.unassigned", has_text=policy_nos[2])
    await expect(unassigned).to_contain_text(sc.sub_branch_code)
    assert _owner(sc.engine, policy_nos[2]) is None
    await unassigned.get_by_label("分配给").select_option(str(taker.id))
    await unassigned.get_by_label("分配原因").fill("直销客户,由支公司服务")
    await unassigned.get_by_role("button", name="分配").click()
    await expect(page.get_by_role("status")).to_contain_text(f"保单 {policy_nos[2]} 已分配")
    assert await page.locator("li.unassigned", has_text=policy_nos[2]).count() == 0
    assert _owner(sc.engine, policy_nos[2]) == taker.id
    await context.close()


async def test_an_admin_gives_a_handler_code_and_a_direct_sales_row_is_theirs(console_url: str, browser: Browser,
                                                                              sc: Scenario):
    taker = sc.add_sales("周九")
    code = f"JB{sc.sub_branch_code}"
    records = rows(1, start=await sc.local_today() + timedelta(days=400), prefix="PJBWEB",
                   sub_branch=sc.sub_branch_code)
    records[0].update(manager="", handler_code=code)
    context, page = await phone_page(browser, console_url, give_password(sc.engine, sc.admin.id))
    await page.get_by_label("经办人代码归属", exact=True).select_option(str(taker.id))
    await page.get_by_label("经办人代码", exact=True).fill(code)
    await page.get_by_role("button", name="保存经办人代码").click()
    await expect(page.get_by_role("status")).to_contain_text(code)
    await expect(page.locator("#handler-codes")).to_contain_text(code)
    await no_horizontal_scroll(page)

    await page.get_by_label("保单文件").set_input_files(
        files=[{"name": "direct.csv", "mimeType": "text/csv", "buffer": to_csv(records)}])
    await page.get_by_role("button", name="上传并导入").click()
    await expect(page.locator("#job-status")).to_contain_text("已完成", timeout=30_000)
    assert _owner(sc.engine, records[0]["policy_no"]) == taker.id
    await context.close()


async def test_an_admin_completes_a_needs_attention_task_on_the_case_page(console_url: str, browser: Browser,
                                                                         sc: Scenario):
    case = await case_needing_attention(sc)
    await sc.sleep_until(case.at(-60, 9, 30))

    def attention():
        return attention_task(sc, case)

    await eventually(attention)
    context, page = await phone_page(browser, console_url, give_password(sc.engine, sc.admin.id))
    await page.goto(f"{console_url}/app/cases/{case.case_id}")
    await expect(page.locator("#problem")).to_contain_text("first_notice")
    await page.get_by_label("备注").fill("客户语言已更正,首次通知已补发")
    await page.get_by_role("button", name="已处理，完成待办").click()
    await expect(page.get_by_role("status")).to_contain_text("异常已处理")
    await no_horizontal_scroll(page)
    assert (attention().state, attention().handled_by) == ("done", sc.admin.id)
    await context.close()


async def test_a_book_dry_run_moves_nothing_and_the_confirm_moves_the_cases(console_url: str, browser: Browser,
                                                                            sc: Scenario):
    case = await sc.start(days_to_expiry=62)
    taker = sc.add_sales("赵七")
    context, page = await phone_page(browser, console_url, give_password(sc.engine, sc.admin.id))
    await page.get_by_label("移交人").select_option(str(case.owner_id))
    await page.get_by_label("移交原因").fill("李四离职")
    await page.get_by_role("button", name="试运行").click()  # nobody to take the book: the API's reason
    await expect(page.get_by_role("alert")).to_contain_text("请选择至少一位接收人")
    await page.get_by_label("移交人").select_option(str(case.owner_id))
    await page.get_by_role("checkbox", name="赵七").check()
    await page.get_by_label("移交原因").fill("李四离职")
    await page.get_by_role("button", name="试运行").click()

    await expect(page.get_by_role("heading", level=1)).to_contain_text("移交试运行")
    await expect(page.locator("#book-moves")).to_contain_text(case.inp.policy_no)
    await expect(page.locator("#book-moves")).to_contain_text("赵七")
    await expect(page.locator("#book-summary div", has_text="进行中的案件")).to_contain_text("1")
    await no_horizontal_scroll(page)
    assert (await case.state()).owner_id == case.owner_id, "a dry run moves nothing"
    assert _owner(sc.engine, case.inp.policy_no) == case.owner_id

    await page.get_by_role("button", name="确认移交").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("移交结果")
    await expect(page.locator("#book-moves")).to_contain_text(case.inp.policy_no)
    assert _owner(sc.engine, case.inp.policy_no) == taker.id

    async def moved():
        assert (await case.state()).owner_id == taker.id

    await eventually(moved)
    await context.close()


async def test_a_manager_reads_the_reports_with_their_charts(console_url: str, browser: Browser, sc: Scenario):
    await sc.start(days_to_expiry=20)
    manager = add_person(sc.engine, Role.manager, branch_code=sc.branch_code)
    context, page = await phone_page(browser, console_url, give_password(sc.engine, manager.id))
    assert page.url.endswith("/app/manager")
    for name in ("续保率与脱保率", "续保漏斗", "每日任务完成情况"):
        await expect(page.get_by_role("heading", name=name)).to_be_visible()
    charts = page.locator("img.chart")
    assert await charts.count() == 4
    for i in range(4):
        src = await charts.nth(i).get_attribute("src")
        chart = await page.request.get(console_url + src)
        assert chart.status == 200 and chart.headers["content-type"] == "image/svg+xml", src
        await charts.nth(i).scroll_into_view_if_needed()  # drawn when it comes into view
        await expect(charts.nth(i)).to_have_js_property("complete", True)
        assert await charts.nth(i).evaluate("img => img.naturalWidth") > 0, f"{src} did not draw"
    download = await page.request.get(console_url + await page.locator("#report-renewals a", has_text="CSV")
                                      .get_attribute("href"))
    assert download.status == 200 and download.headers["content-type"].startswith("text/csv")
    await no_horizontal_scroll(page)

    await page.get_by_label("起始日期").fill("2026-01-01")
    await page.get_by_label("截止日期").fill("2026-01-31")
    await page.get_by_role("button", name="查看报表").click()
    assert "from=2026-01-01" in await charts.first.get_attribute("src")
    await page.get_by_role("link", name="English").click()
    await expect(page.get_by_role("heading", name="Renewal funnel")).to_be_visible()
    await context.close()


async def test_a_sales_user_cannot_open_the_admin_or_manager_pages(console_url: str, browser: Browser,
                                                                   sc: Scenario):
    case = await sc.start(days_to_expiry=62)
    context, page = await phone_page(browser, console_url, give_password(sc.engine, case.owner_id))
    for path in ("/app/admin", "/app/manager", "/app/manager/reports/renewals?format=png",
                 "/app/manager/reports/tasks?format=csv", f"/app/admin/imports/{case.case_id}",
                 f"/app/admin/imports/{case.case_id}/errors.csv"):
        response = await page.goto(console_url + path)
        assert response.status == 403, path
        assert response.headers["content-type"].startswith("text/html"), path
    await page.goto(f"{console_url}/app/tasks")
    token = await page.locator("input[name=csrf_token]").first.get_attribute("value")
    taker = sc.add_sales("赵七")
    forged = await page.request.post(f"{console_url}/app/admin/reassign-book", max_redirects=0, form={
        "csrf_token": token, "from": str(case.owner_id), "to": str(taker.id), "reason": "x"})
    assert forged.status == 403
    assigned = await page.request.post(f"{console_url}/app/admin/assign", max_redirects=0, form={
        "csrf_token": token, "policy_no": case.inp.policy_no, "staff_id": str(taker.id), "reason": "x"})
    assert assigned.status == 403
    assert _owner(sc.engine, case.inp.policy_no) == case.owner_id
    before = _admin_records(sc.engine)
    coded = await page.request.post(f"{console_url}/app/admin/handler-code", max_redirects=0, form={
        "csrf_token": token, "staff_id": str(taker.id), "handler_code": "JB310101999"})
    assert coded.status == 403
    saved = await page.request.post(f"{console_url}/app/admin/templates/service_request/zh-CN", max_redirects=0,
                                    form={"csrf_token": token, "body": "x", "case_id": str(case.case_id), "do": "save"})
    assert saved.status == 403
    uploaded = await page.request.post(f"{console_url}/app/admin/imports", max_redirects=0, multipart={
        "csrf_token": token, "file": {"name": "book.csv", "mimeType": "text/csv", "buffer": b"policy_no\nPDFORGED\n"}})
    assert uploaded.status == 403
    assert _admin_records(sc.engine) == before, "nothing was changed"
    await context.close()


def _admin_records(engine) -> tuple:
    """What the admin's forms change: handler codes, SMS template versions, import jobs."""
    with Session(engine) as session:
        return (session.exec(select(Staff.handler_code).where(Staff.handler_code.is_not(None))).all(),
                session.exec(select(func.count()).select_from(SmsTemplate)).one(),
                session.exec(select(func.count()).select_from(ImportJob)).one())


async def test_an_admin_previews_an_edited_sms_template_for_a_real_case_and_saves_a_new_version(
        console_url: str, browser: Browser, sc: Scenario):
    case = await sc.start(days_to_expiry=62)
    context, page = await phone_page(browser, console_url, give_password(sc.engine, case.admin_id))
    await page.get_by_role("link", name="营销模板管理").click()
    await page.get_by_role("link", name="诚恳请求给予服务机会 · zh-CN").click()
    body = page.locator("#template-body")
    edited = (await body.input_value()).replace("感谢您一直以来的信任！", "新春快乐！")
    await body.fill(edited)
    await page.locator("#template-case").fill(str(case.case_id))
    await page.get_by_role("button", name="预览").click()
    await expect(page.locator("#preview-body")).to_contain_text("尊敬的钱**：新春快乐！")
    await expect(page.locator("#preview-segments")).to_contain_text("UCS-2")
    await no_horizontal_scroll(page)

    await page.locator("#template-body").fill(edited.replace("回{{ opt_out_reply }}退订", "{{ opt_out_reply }}"))
    await page.get_by_role("button", name="保存为新版本").click()
    await expect(page.get_by_role("alert")).to_contain_text("opt-out line (回T退订)")
    await page.locator("#template-body").fill(edited)
    await page.get_by_role("button", name="保存为新版本").click()
    await expect(page.get_by_role("status")).to_contain_text("已保存为第 2 版")
    await expect(page.locator("#versions li")).to_have_count(2)
    await expect(page.locator("#versions li").first).to_contain_text("第 2 版")
    await context.close()
