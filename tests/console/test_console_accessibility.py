"""Every console page, as each role sees it, in Chinese and English, on a 390 px phone and a
1280 px desktop, has no WCAG 2.1 A/AA violation that axe-core finds (axe.min.js ships with the
axe-playwright-python package: nothing is fetched at run time)."""

from __future__ import annotations

import pytest
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Browser

from models import Role
from tests.api.conftest import add_person, give_password
from tests.console.conftest import sign_in
from tests.scenario import Scenario

pytestmark = pytest.mark.asyncio(loop_scope="session")

WIDTHS = ({"width": 390, "height": 844}, {"width": 1280, "height": 800})
WCAG_21_AA = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
              "resultTypes": ["violations"]}

# The pages each role works in; {case} is a case in its deputy-supervision window, with tasks,
# contacts and a complaint, so its page shows every section.
PAGES: dict[str, tuple[str, ...]] = {
    "owner": ("/app/tasks", "/app/cases", "/app/cases/{case}"),
    "deputy": ("/app/tasks", "/app/supervision", "/app/cases/{case}"),
    "admin": ("/app/admin", "/app/admin/templates", "/app/admin/templates/first_notice/zh-CN", "/app/cases",
              "/app/cases/{case}"),
    "manager": ("/app/manager?from=2020-01-01&to=2020-01-31", "/app/manager", "/app/cases", "/app/supervision",
                "/app/cases/{case}/timeline"),
    "auditor": ("/app/audit", "/app/cases", "/app/cases/{case}", "/app/cases/{case}/timeline"),
    "signed_out": ("/app/sign-in", "/app/no-such-page"),
}


def _described(violations: list[dict]) -> str:
    return "\n".join(f"  {v['id']} ({v['impact']}): {v['help']} — "
                     + "; ".join(node["target"][0] if isinstance(node["target"][0], str) else str(node["target"])
                                 for node in v["nodes"][:5])
                     for v in violations)


async def test_every_console_page_passes_axe_in_both_languages_at_phone_and_desktop_width(
        console_url: str, browser: Browser, sc: Scenario):
    case = await sc.start(days_to_expiry=22)
    await sc.sleep_until(case.at(-10, 10))  # escalated: the deputy supervises, the owner keeps the case
    people = {
        "owner": case.owner_id, "deputy": case.deputy_id, "admin": sc.admin.id,
        "manager": add_person(sc.engine, Role.manager, branch_code=sc.branch_code).id,
        "auditor": add_person(sc.engine, Role.auditor, branch_code=sc.branch_code).id,
    }
    axe, found = Axe(), []
    for role, paths in PAGES.items():
        for language in ("zh", "en"):
            context = await browser.new_context(viewport=WIDTHS[0])
            page = await context.new_page()
            if role in people:
                await sign_in(page, console_url, give_password(sc.engine, people[role]))
            await page.goto(f"{console_url}/app/language/{language}")
            for path in paths:
                await page.goto(console_url + path.format(case=case.case_id))
                for width in WIDTHS:
                    await page.set_viewport_size(width)
                    violations = (await axe.run(page, options=WCAG_21_AA)).response["violations"]
                    if violations:
                        found.append(f"{role} {language} {width['width']}px {path}:\n{_described(violations)}")
            await context.close()
    assert not found, "axe-core finds WCAG 2.1 A/AA violations:\n" + "\n".join(found)
