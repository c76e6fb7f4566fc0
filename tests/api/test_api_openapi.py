"""The contract as others read it: OpenAPI with an example for every operation, one error shape,
and the demo sign-ins."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import Session

from renewals.dev.demo_users import DemoRefused, create_demo_users
from renewals.org.service import add_org
from tests.api.conftest import Api

pytestmark = pytest.mark.asyncio(loop_scope="session")


def _has_example(node: Any, schemas: dict[str, Any], seen: set[str]) -> bool:
    if isinstance(node, dict):
        if "example" in node or "examples" in node:
            return True
        ref = node.get("$ref", "")
        if ref.startswith("#/components/schemas/") and ref not in seen:
            seen.add(ref)
            return "examples" in schemas[ref.rsplit("/", 1)[1]]
        return any(_has_example(value, schemas, seen) for value in node.values())
    if isinstance(node, list):
        return any(_has_example(value, schemas, seen) for value in node)
    return False


async def test_every_operation_has_examples_and_errors_share_one_shape(api: Api):
    spec = (await api.get("/openapi.json")).json()
    schemas = spec["components"]["schemas"]
    lacking = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            success = {code: r for code, r in operation["responses"].items() if code.startswith("2") and code != "204"}
            if success and not _has_example(success, schemas, set()) and "requestBody" not in operation:
                lacking.append(f"{method.upper()} {path}: no response example")
            if "requestBody" in operation and not _has_example(operation["requestBody"], schemas, set()):
                lacking.append(f"{method.upper()} {path}: no request example")
            for code, response in operation["responses"].items():
                if code[0] == "4" or code == "502":  # (/readyz's 503 is a health report, not an error)
                    ref = response["content"]["application/json"]["schema"]["$ref"]
                    assert ref.endswith("/ErrorBody"), f"{method} {path} {code} is not in the error shape"
    assert not lacking, "\n".join(lacking)
    assert (await api.get("/docs")).status_code == 200

    for response in (await api.get("/no/such/route"), await api.put("/me")):
        error = response.json()["error"]
        assert (error["status"], set(error)) == (response.status_code, {"status", "code", "message", "field"})


async def test_demo_users_sign_in_are_idempotent_and_never_in_prod(api: Api, engine):
    with Session(engine) as session:
        add_org(session, branch_code="3100", branch_name="上海分公司", sub_branch_code="310101",
                sub_branch_name="黄浦支公司")
        logins = create_demo_users(session, "310101", "3100", api.settings)
        assert create_demo_users(session, "310101", "3100", api.settings) == logins
        session.commit()
    assert logins == ["demo-sales-1", "demo-sales-2", "demo-sales-3", "demo-deputy", "demo-admin",
                      "demo-manager", "demo-auditor"]
    roles = {}
    for username in logins:
        token = (await api.post("/auth/token", data={"username": username, "password": "demo"})).json()
        me = (await api.get("/me", headers={"Authorization": f"Bearer {token['access_token']}"})).json()
        roles[username] = (me["role"], me["sub_branch_code"], me["branch_code"])
    assert roles["demo-sales-1"] == ("sales", "310101", "3100") and roles["demo-admin"] == ("admin", None, "3100")
    assert roles["demo-auditor"] == ("auditor", None, None)

    prod = api.settings.model_copy(update={"environment": "prod"})
    with Session(engine) as session, pytest.raises(DemoRefused, match="prod"):
        create_demo_users(session, "310101", "3100", prod)
