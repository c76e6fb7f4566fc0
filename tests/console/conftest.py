"""The console in a real browser: the app served over HTTP (tests.api.conftest.served,
its business clock the time-skipping Temporal server's), and Debian's Chromium driven by
Playwright. Playwright's own browser download is never used."""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Page, async_playwright
from sqlalchemy import update
from sqlmodel import Session, select

from api.main import create_app
from models import Customer, Task
from tests.api.conftest import PASSWORD, served
from tests.scenario import Case, Scenario

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# The README's screenshots are refreshed on request (RENEWALS_SCREENSHOTS=docs); an ordinary run
# writes them to a scratch folder, so running the suite leaves the checkout as it was.
DOCS = (Path(__file__).resolve().parents[2] / "docs" if os.environ.get("RENEWALS_SCREENSHOTS") == "docs"
        else Path(tempfile.gettempdir()) / "renewals-screenshots")
PHONE = {"width": 390, "height": 844}
TABLET = {"width": 1024, "height": 768}


@pytest_asyncio.fixture(scope="module")
async def console_url(settings, engine, time_env, task_queue) -> AsyncIterator[str]:
    # On the module's worker's task queue: it imports the uploads.
    app = create_app(settings.model_copy(update={"task_queue": task_queue}), engine=engine, temporal=time_env.client,
                     clock=time_env.get_current_time)
    async with served(app) as url:
        yield url


@pytest_asyncio.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium (apt-get install chromium)")
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()


async def sign_in(page: Page, base_url: str, username: str) -> None:
    await page.goto(f"{base_url}/app")
    await page.get_by_label("用户名").fill(username)
    await page.get_by_label("密码").fill(PASSWORD)
    await page.get_by_role("button", name="登录").click()
    await page.wait_for_load_state()


async def phone_page(browser: Browser, base_url: str, username: str) -> tuple[BrowserContext, Page]:
    """A fresh phone-sized browser context, signed in as `username`."""
    context = await browser.new_context(viewport=PHONE)
    page = await context.new_page()
    await sign_in(page, base_url, username)
    return context, page


async def no_horizontal_scroll(page: Page) -> None:
    width = await page.evaluate("document.documentElement.scrollWidth")
    viewport = page.viewport_size["width"]
    assert width <= viewport, f"{page.url} scrolls sideways at {viewport} px: {width} px wide"


async def screenshot(page: Page, name: str) -> None:
    """Kept in docs/ and shown in the README (see DOCS)."""
    await no_horizontal_scroll(page)
    DOCS.mkdir(exist_ok=True)
    await page.screenshot(path=DOCS / f"{name}.png", full_page=True)


async def case_needing_attention(sc: Scenario) -> Case:
    """A case whose first notice fails for good (there is no template in its customer's language):
    a needs-attention task for the branch admin follows (see `attention_task`)."""
    case = await sc.start(days_to_expiry=62)
    with Session(sc.engine) as session:
        session.execute(update(Customer).where(Customer.id == case.customer_id).values(language="fr"))
        session.commit()
    return case


def attention_task(sc: Scenario, case: Case) -> Task:
    with Session(sc.engine) as session:
        found = session.exec(select(Task).where(Task.case_id == case.case_id, Task.kind == "attention")).first()
    assert found is not None
    return found
