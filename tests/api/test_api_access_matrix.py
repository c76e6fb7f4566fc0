"""Every route of the app, tried by every role on its own case (or customer), on another branch's
and on an id that does not exist. The rows are the documented authorization rules (api.access);
a route added without a row fails the test.

Codes per role, in the order of ROLES. Writes run in row order on one case in WAITING (T-61 10:00),
so the workflow's answer for an authorized caller is known: 200 when it is their turn, 409 (with
the validator's reason) when it is not; `close` comes last.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from fastapi.routing import iter_route_contexts

from sqlmodel import Session

from models import Quote, Role
from renewals.quotes.vehicle_models import SAMPLE_FILE, import_vehicle_models
from tests.api.conftest import Api, add_person, add_sub_branch
from tests.api.test_api_intake import INTAKE_ROUTES  # tried by every role in test_api_intake
from tests.api.test_api_sessions import SESSION_ROUTES  # they end the caller's sessions: test_api_sessions
from tests.api.test_api_sms_templates import TEMPLATE_ROUTES  # admins only, tried in test_api_sms_templates
from tests.privacy.test_privacy_access_log import PRIVACY_ROUTES  # tried by every role there
from tests.scoring.test_smart_panel import ABSENCE_ROUTES  # an absence's own id: tried in test_smart_panel
from tests.scenario import Case, Scenario, unique_phone

pytestmark = pytest.mark.asyncio(loop_scope="session")

ROLES = ("anonymous", "owner", "other_sales", "deputy", "other_deputy", "admin", "manager", "other_manager",
         "auditor")
#            anon own  sales dep  dep2 admin mgr  mgr2 audit
ANY_STAFF = "401 200 200 200 200 200 200 200 200"
READ_OWN = "401 200 403 200 403 200 200 403 200"
READ_FOREIGN = "401 403 403 403 403 403 403 200 200"
UNSEEN = "401 403 403 403 403 403 403 403 404"  # an id that does not exist
ACT_FOREIGN = "401 403 403 403 403 403 403 403 403"


@dataclass
class World:
    own: Case
    foreign: Case
    headers: dict[str, dict[str, str]]
    quotes: dict[str, uuid.UUID]  # a priced quote of the own and of the foreign case


@dataclass(frozen=True)
class Row:
    method: str
    path: str  # {id}: the case or customer
    own: str
    foreign: str | None = None
    missing: str | None = None
    body: Callable[[World], Any] | None = None
    customer: bool = False
    quote: bool = False  # {id} is a quote of the case


def _json(value: Any) -> Callable[[World], Any]:
    return lambda _: value


MATRIX = [
    Row("GET", "/me", ANY_STAFF),
    Row("GET", "/me/tasks", ANY_STAFF),
    Row("GET", "/cases", ANY_STAFF),
    # reports: everyone reads the figures of their own scope (tests/api/test_api_reports.py checks which)
    Row("GET", "/reports/renewals", ANY_STAFF),
    Row("GET", "/reports/funnel", ANY_STAFF),
    Row("GET", "/reports/tasks", ANY_STAFF),
    Row("GET", "/reports/lapse-risk", ANY_STAFF),
    # absences: a salesperson records their own (this cover is nobody: 422); a deputy names whose
    Row("GET", "/me/absences", ANY_STAFF),
    Row("POST", "/me/absences", "401 422 422 403 403 403 403 403 403",
        body=_json({"cover_id": str(uuid.uuid4()), "starts_at": "2099-01-01T00:00:00Z",
                    "ends_at": "2099-01-02T00:00:00Z"})),
    Row("GET", "/cases/{id}", READ_OWN, READ_FOREIGN, UNSEEN),
    Row("GET", "/customers/{id}", READ_OWN, READ_FOREIGN, UNSEEN, customer=True),
    # audit: the timeline for the case's own staff, the branch's admins and managers, auditors;
    # the raw history for auditors only
    Row("GET", "/cases/{id}/timeline", READ_OWN, READ_FOREIGN, UNSEEN),
    Row("GET", "/cases/{id}/history.json", "401 403 403 403 403 403 403 403 200",
        "401 403 403 403 403 403 403 403 200", UNSEEN),
    # casework: the owner, or the case's deputy (whom the workflow turns away outside their stage)
    Row("POST", "/cases/{id}/contacts", "401 200 403 409 403 403 403 403 403", ACT_FOREIGN, UNSEEN,
        _json({"channel": "call", "result": "reached"})),
    Row("POST", "/cases/{id}/follow-up", "401 409 403 409 403 403 403 403 403", ACT_FOREIGN, UNSEEN,
        _json({"status": "failed"})),
    Row("POST", "/cases/{id}/loss-reason", "401 409 403 409 403 403 403 403 403", ACT_FOREIGN, UNSEEN,
        _json({"reason": "price"})),
    Row("POST", "/cases/{id}/sms", "401 200 403 409 403 403 403 403 403", ACT_FOREIGN, UNSEEN,
        _json({"template": "service_request"})),
    Row("POST", "/cases/{id}/call", "401 202 403 202 403 403 403 403 403", ACT_FOREIGN, UNSEEN),
    # the customer's phone: the current owner only
    Row("PUT", "/cases/{id}/customer-phone", "401 200 403 403 403 403 403 403 403", ACT_FOREIGN, UNSEEN,
        _json({"phone": unique_phone()})),
    Row("POST", "/cases/{id}/phone-unreachable", "401 200 403 403 403 403 403 403 403", ACT_FOREIGN, UNSEEN,
        _json({"note": "空号"})),
    Row("PUT", "/cases/{id}/customer-contacts", "401 200 403 403 403 403 403 403 403", ACT_FOREIGN, UNSEEN,
        lambda w: {"proxy": {"name": "李红", "relation": "配偶", "phone": unique_phone()}}),
    # administration: an admin of the branch (reassigning to the current owner: the workflow says no)
    Row("POST", "/cases/{id}/reassign", "401 403 403 403 403 409 403 403 403", ACT_FOREIGN, UNSEEN,
        lambda w: {"new_owner_id": str(w.own.owner_id), "reason": "workload"}),
    # quotes: configuration by those who quote; quoting, sending and accepting is casework
    Row("GET", "/me/quote-config", ANY_STAFF),
    Row("PUT", "/me/quote-config", "401 200 200 200 200 403 403 403 403", body=_json({"channel": "traditional"})),
    Row("GET", "/vehicle-models", ANY_STAFF),
    Row("POST", "/cases/{id}/vehicle-model", "401 200 403 200 403 403 403 403 403", ACT_FOREIGN, UNSEEN,
        _json({"model_code": "SVW7182QQD"})),
    Row("POST", "/cases/{id}/quotes", "401 201 403 201 403 403 403 403 403", ACT_FOREIGN, UNSEEN, _json({})),
    Row("GET", "/cases/{id}/quotes", READ_OWN, READ_FOREIGN, UNSEEN),
    Row("GET", "/quotes/{id}", READ_OWN, READ_FOREIGN, UNSEEN, quote=True),
    Row("POST", "/quotes/{id}/send", "401 200 403 409 403 403 403 403 403", ACT_FOREIGN, UNSEEN, quote=True),
    Row("POST", "/quotes/{id}/accept", "401 200 403 200 403 403 403 403 403", ACT_FOREIGN, UNSEEN, _json({}),
        quote=True),
    Row("POST", "/cases/{id}/renewed-elsewhere", "401 200 403 409 403 403 403 403 403", ACT_FOREIGN, UNSEEN,
        _json({"insurer": "ping_an"})),
    # the admin resolves a needs-attention task (this case has none: the workflow says so)
    Row("POST", "/cases/{id}/resolve-attention", "401 403 403 403 403 409 403 403 403", ACT_FOREIGN, UNSEEN,
        _json({"note": "已处理"})),
    Row("POST", "/cases/{id}/close", "401 403 403 403 403 200 403 403 403", ACT_FOREIGN, UNSEEN,
        _json({"reason": "other"})),
]
PUBLIC = {("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/openapi.json"), ("GET", "/docs"),
          ("GET", "/docs/oauth2-redirect"), ("GET", "/redoc"), ("POST", "/auth/token"),
          ("GET", "/metrics")}  # counts only, for the monitoring network: the TLS proxy refuses it
SIGNED = {("POST", f"/webhooks/twilio/{kind}") for kind in (
    "sms-status", "call-status", "recording", "inbound-sms", "call-whisper", "dial-result")} | {
    ("POST", f"/webhooks/aliyun/{kind}") for kind in ("sms-report", "sms-up")}  # a token in the address
# The browser console (session cookie, CSRF): its pages call the routes above through api.access;
# tests/console drives them in a browser.
CONSOLE = {("GET", "/app"), ("GET", "/app/"), ("GET", "/app/sign-in"), ("POST", "/app/sign-in"),
           ("POST", "/app/sign-out"), ("GET", "/app/language/{language}"), ("GET", "/app/tasks"),
           ("GET", "/app/cases"), ("GET", "/app/cases/{case_id}"), ("POST", "/app/cases/{case_id}/{action}"),
           ("GET", "/app/supervision"), ("GET", "/app/admin"), ("GET", "/app/manager"),
           ("POST", "/app/admin/imports"), ("GET", "/app/admin/imports/{job_id}"),
           ("GET", "/app/admin/imports/{job_id}/errors.csv"), ("POST", "/app/admin/assign"),
           ("POST", "/app/admin/reassign-book"), ("POST", "/app/admin/handler-code"),
           ("GET", "/app/manager/reports/{name}"),
           ("GET", "/app/admin/templates"), ("GET", "/app/admin/templates/{key}/{language}"),
           ("POST", "/app/admin/templates/{key}/{language}"), ("GET", "/app/audit"),
           ("GET", "/app/cases/{case_id}/timeline"),
           ("GET", "/app/{rest:path}"), ("POST", "/app/{rest:path}")}  # the console's own 404 page


def app_routes(api: Api) -> set[tuple[str, str]]:
    return {(method, route.path) for route in iter_route_contexts(api.app.routes)
            for method in (route.methods or ()) if method != "HEAD"}


async def test_role_by_route_matrix(api: Api, sc: Scenario, time_env, engine, twilio, task_queue):
    matrix_routes = {(row.method, row.path.replace("{id}", "{customer_id}" if row.customer else
                                                   "{quote_id}" if row.quote else "{case_id}")) for row in MATRIX}
    unlisted = (app_routes(api) - matrix_routes - PUBLIC - SIGNED - CONSOLE - INTAKE_ROUTES - SESSION_ROUTES
                - TEMPLATE_ROUTES - PRIVACY_ROUTES - ABSENCE_ROUTES)
    assert not unlisted, f"routes without a row in the access matrix: {sorted(unlisted)}"
    listed = (matrix_routes | PUBLIC | SIGNED | CONSOLE | INTAKE_ROUTES | SESSION_ROUTES | TEMPLATE_ROUTES
              | PRIVACY_ROUTES | ABSENCE_ROUTES)
    assert not listed - app_routes(api), "rows for routes that do not exist"

    other = Scenario(time_env, engine, twilio, task_queue)
    try:
        world = await _world(api, sc, other)
        await sc.sleep_until(world.own.at(-61, 10))
        mismatches = []
        for row in MATRIX:
            for target, expected in (("own", row.own), ("foreign", row.foreign), ("missing", row.missing)):
                if expected is None:
                    continue
                bodies = {}
                for role, status in zip(ROLES, expected.split(), strict=True):
                    response = await _call(api, world, row, target, role)
                    bodies[role] = response.json() if response.content else None
                    if response.status_code != int(status):
                        mismatches.append(f"{row.method} {row.path} {target} as {role}: "
                                          f"{response.status_code} (expected {status}) {response.text[:160]}")
                    if target == "missing" or response.status_code >= 400:
                        assert set(bodies[role]) == {"error"}, f"error shape: {bodies[role]}"
                if target == "foreign":
                    foreign_bodies = bodies
                if target == "missing":
                    # Beyond one's scope a real id and a made-up one get the very same answer.
                    for role in ROLES[1:]:
                        if role not in ("other_manager", "auditor"):
                            assert foreign_bodies[role] == bodies[role], (row.path, role)
        assert not mismatches, "\n".join(mismatches)

        for _, path in sorted(PUBLIC):
            if path != "/auth/token":
                assert (await api.get(path)).status_code in (200, 503), path
        for _, path in sorted(SIGNED):
            response = await api.post(path, data={"MessageSid": "SMx", "MessageStatus": "delivered"})
            refusal = "bad_token" if "/aliyun/" in path else "bad_signature"  # Alibaba Cloud signs nothing
            assert (response.status_code, response.json()["error"]["code"]) == (403, refusal), path

        listed = {}
        for role in ROLES[1:]:
            items = (await api.get("/cases", headers=world.headers[role], params={"limit": 200})).json()["items"]
            ids = {item["id"] for item in items}
            listed[role] = {name for name, case in (("own", world.own), ("foreign", world.foreign))
                            if str(case.case_id) in ids}
        assert listed == {"owner": {"own"}, "other_sales": set(), "deputy": {"own"}, "other_deputy": set(),
                          "admin": {"own"}, "manager": {"own"}, "other_manager": {"foreign"},
                          "auditor": {"own", "foreign"}}
    finally:
        await other.finish()


async def _world(api: Api, sc: Scenario, other: Scenario) -> World:
    own = await sc.start(days_to_expiry=62)
    foreign = await other.start(days_to_expiry=62)
    engine = sc.engine
    people = {
        "owner": own.owner_id,
        "other_sales": sc.add_sales("赵六").id,
        "deputy": own.deputy_id,
        "other_deputy": add_person(engine, Role.deputy, sub_branch_code=add_sub_branch(engine, sc.branch_code)).id,
        "admin": sc.admin.id,  # the branch admin recorded in the cases
        "manager": add_person(engine, Role.manager, branch_code=sc.branch_code).id,
        "other_manager": add_person(engine, Role.manager, branch_code=other.branch_code).id,
        "auditor": add_person(engine, Role.auditor).id,
    }
    headers = {"anonymous": {}} | {role: await api.sign_in(staff_id) for role, staff_id in people.items()}
    with Session(engine) as session:
        import_vehicle_models(session, SAMPLE_FILE)
        quotes = {name: Quote(case_id=case.case_id, created_by=case.owner_id, channel="traditional", eligible=True,
                              premium=Decimal("3728.53"), valid_until=case.inp.expiry_date)
                  for name, case in (("own", own), ("foreign", foreign))}
        session.add_all(quotes.values())
        session.commit()
        quote_ids = {name: quote.id for name, quote in quotes.items()}
    return World(own, foreign, headers, quote_ids)


async def _call(api: Api, world: World, row: Row, target: str, role: str):
    case = {"own": world.own, "foreign": world.foreign}.get(target)
    if case is None:
        object_id = uuid.uuid4()
    elif row.quote:
        object_id = world.quotes[target]
    else:
        object_id = case.customer_id if row.customer else case.case_id
    path = row.path.replace("{id}", str(object_id))
    body = row.body(world) if row.body else None
    return await api.request(row.method, path, json=body, headers=world.headers[role])
