"""The OpenAPI tells the truth: schemathesis generates valid and invalid requests for every
operation and sends them, with a service manager's token, to the API served over HTTP; no answer
may be a server error, a status the schema does not document, or a body that violates its schema.

Path ids are the manager's own case and customer for valid requests (so actions really run the
workflow), random for invalid ones. Bounded: a few examples per operation and mode, no shrinking.
The operations that end the manager's sessions (signing out, a new password) run last.
"""

from __future__ import annotations

import asyncio
import traceback

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance, response_schema_conformance, status_code_conformance,
)

from api.main import create_app
from tests.api.conftest import Api, served
from tests.scenario import Scenario

pytestmark = pytest.mark.asyncio(loop_scope="session")
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES_PER_MODE = 15
# Run last, in this order: a new password is refused (schemathesis cannot know the current one), then
# signing out ends the manager's token.
LAST = [("PUT", "/me/password"), ("POST", "/auth/sign-out")]


def fuzz(base_url: str, headers: dict[str, str], ids: dict[str, str]) -> list[str]:
    """Run every operation in both modes; returns the failures (operation, mode, error)."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    failures = []
    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in sorted(operations, key=lambda op: LAST.index(key) if (key := (op.method.upper(), op.path)) in LAST
                            else -1):
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @hypothesis.settings(max_examples=EXAMPLES_PER_MODE, deadline=None, database=None, derandomize=True,
                                 phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case) -> None:
                if mode is GenerationMode.POSITIVE and case.path_parameters:
                    case.path_parameters = {name: ids.get(name, value) for name, value in case.path_parameters.items()}
                case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS, timeout=10)

            try:
                run()
            except hypothesis.errors.Unsatisfiable:
                pass  # nothing to make invalid: an operation without parameters or body
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 — collect every failure, report them all
                failures.append(f"{operation.method.upper()} {operation.path} [{mode.value}]: "
                                f"{''.join(traceback.format_exception_only(exc))[:2000]}")
    return failures


async def test_schemathesis_finds_no_server_error_undocumented_status_or_schema_violation(api: Api, sc: Scenario):
    case = await sc.start(days_to_expiry=22)  # THIRD_CONTACT soon: most actions are allowed
    await sc.sleep_until(case.at(-20, 10))
    headers = await api.sign_in(case.owner_id)
    app = create_app(api.settings, engine=api.engine, temporal=api.app.state.temporal._client,
                     clock=api.app.state.clock)
    async with served(app) as url:
        ids = {"case_id": str(case.case_id), "customer_id": str(case.customer_id)}
        failures = await asyncio.to_thread(fuzz, url, headers, ids)
    assert not failures, "\n\n".join(failures)
