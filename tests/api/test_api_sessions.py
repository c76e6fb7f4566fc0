"""Sessions that end: signing out (API or console), a deactivation and a new password each end
every bearer token and console cookie of that staff member at once, wherever they were issued."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
from sqlmodel import Session

from models import Role
from renewals.org.service import add_org
from tests.api.conftest import PASSWORD, Api, add_person, give_password

pytestmark = pytest.mark.asyncio(loop_scope="session")

# Routes tried here rather than in the access matrix (they end the caller's own sessions).
SESSION_ROUTES = {("POST", "/auth/sign-out"), ("PUT", "/me/password")}


class Browser:
    """A console browser: its cookie jar, and the CSRF token of its forms."""

    def __init__(self, api: Api):
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=api.app), base_url="http://testserver")
        self.csrf = ""

    async def sign_in(self, username: str, password: str = PASSWORD) -> None:
        signed_in = await self.client.post("/app/sign-in", data={"username": username, "password": password,
                                                                 "csrf_token": await self._csrf("/app/sign-in")})
        assert signed_in.status_code == 303 and signed_in.headers["location"] != "/app/sign-in", signed_in.text
        self.csrf = await self._csrf("/app/cases")  # signing in renews the browser's nonce

    async def _csrf(self, path: str) -> str:
        page = await self.client.get(path)
        return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)

    @property
    def session_cookie(self) -> str:
        return self.client.cookies["console_session"]

    async def signed_in(self, cookie: str | None = None) -> bool:
        """Whether a console page opens (with this browser's cookie, or a replayed one)."""
        headers = {"Cookie": f"console_session={cookie}"} if cookie else None
        page = await self.client.get("/app/cases", headers=headers)
        assert page.status_code in (200, 303), page.text
        return page.status_code == 200


async def token_of(api: Api, username: str, password: str = PASSWORD) -> dict[str, str]:
    response = await api.post("/auth/token", data={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def works(api: Api, token: dict[str, str]) -> bool:
    status = (await api.get("/me", headers=token)).status_code
    assert status in (200, 401)
    return status == 200


async def test_signing_out_ends_every_token_and_cookie_of_the_user_at_once(api: Api):
    user = add_person(api.engine, Role.auditor)
    username = give_password(api.engine, user.id)
    phone, desk = await token_of(api, username), Browser(api)
    await desk.sign_in(username)
    cookie = desk.session_cookie
    assert await works(api, phone) and await desk.signed_in()

    signed_out = await api.post("/auth/sign-out", headers=phone)
    assert signed_out.status_code == 204, signed_out.text
    assert not await works(api, phone), "the token that signed out"
    assert not await desk.signed_in(cookie), "the console cookie of another device"
    again = await token_of(api, username)
    assert await works(api, again), "signing in again starts a new session"

    # Signing out in the console ends the API's tokens too, and the old cookie cannot be replayed.
    laptop = Browser(api)
    await laptop.sign_in(username)
    cookie = laptop.session_cookie
    out = await laptop.client.post("/app/sign-out", data={"csrf_token": laptop.csrf})
    assert out.status_code == 303 and out.headers["location"] == "/app/sign-in"
    assert not await laptop.signed_in(cookie)
    assert not await works(api, again)


async def test_a_deactivation_ends_every_token_and_cookie_at_once(api: Api):
    code = f"S{uuid.uuid4().hex[:6]}"
    with Session(api.engine) as session:
        add_org(session, branch_code="3288", branch_name="测试分公司", sub_branch_code=code, sub_branch_name="静安支公司")
        session.commit()
    leaver = add_person(api.engine, Role.sales, sub_branch_code=code)
    admin = await api.sign_in(add_person(api.engine, Role.admin, branch_code="3288").id)
    token, desk = await api.sign_in(leaver.id), Browser(api)
    await desk.sign_in(leaver.username)
    assert await works(api, token) and await desk.signed_in()

    assert (await api.post(f"/staff/{leaver.id}/deactivate", headers=admin)).status_code == 200
    assert not await works(api, token)
    assert not await desk.signed_in()


async def test_a_new_password_ends_every_earlier_sign_in_and_answers_a_new_token(api: Api):
    user = add_person(api.engine, Role.auditor)
    username = give_password(api.engine, user.id)
    token, desk = await token_of(api, username), Browser(api)
    await desk.sign_in(username)
    new_password = "a longer and newer passphrase"

    wrong = await api.put("/me/password", headers=token, json={"current_password": "not it",
                                                                "new_password": new_password})
    assert wrong.status_code == 422 and wrong.json()["error"]["field"] == "current_password", wrong.text
    assert await works(api, token) and await desk.signed_in(), "a refused change ends nothing"
    short = await api.put("/me/password", headers=token, json={"current_password": PASSWORD, "new_password": "short"})
    assert short.status_code == 422 and short.json()["error"]["field"] == "new_password", short.text

    changed = await api.put("/me/password", headers=token, json={"current_password": PASSWORD,
                                                                  "new_password": new_password})
    assert changed.status_code == 200, changed.text
    assert not await works(api, token), "the token that changed the password"
    assert not await desk.signed_in(), "the console cookie"
    assert await works(api, {"Authorization": f"Bearer {changed.json()['access_token']}"}), "the token it answers"
    assert await works(api, await token_of(api, username, new_password))
    refused = await api.post("/auth/token", data={"username": username, "password": PASSWORD})
    assert refused.status_code == 401, "the old password"
