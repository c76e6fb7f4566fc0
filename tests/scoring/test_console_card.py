"""The console's to-do card says, compactly, why the customer may lapse and when to call them."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect

from renewals.scoring.service import refresh
from tests.api.conftest import Api, give_password
from tests.console.conftest import phone_page
from tests.scenario import Scenario

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_the_task_card_shows_the_risk_its_reasons_and_the_best_hour(
        api: Api, console_url: str, browser: Browser, sc: Scenario):
    case = await sc.start(days_to_expiry=21)
    owner = await api.sign_in(case.owner_id)
    for hour, result in ((11, "no_answer"), (18, "reached")):
        await sc.sleep_until(case.at(-20, hour, 20))
        await api.post(f"/cases/{case.case_id}/contacts", headers=owner, json={"channel": "call", "result": result})
    await sc.sleep_until(case.at(-19, 10))
    for _ in range(3):
        await api.post(f"/cases/{case.case_id}/contacts", headers=owner, json={"channel": "call", "result": "busy"})
    await sc.sleep_until(case.at(-18, 9, 30))  # a new day, its call still to make
    refresh(api.engine, await sc.now())

    context, page = await phone_page(browser, console_url, give_password(sc.engine, case.owner_id))
    await page.goto(f"{console_url}/app/tasks")
    hints = page.locator(f"li.task[data-case='{case.case_id}'] .hints")
    await expect(hints).to_contain_text("流失风险")
    await expect(hints).to_contain_text("近 3 次未接通")
    await expect(hints).to_contain_text("宜 18:00–19:00 致电")
    await context.close()
