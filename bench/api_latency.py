"""API overhead on a workflow update (SPEC §11: p99 within 1.3× of a bare client update).

    uv run python -m bench.api_latency [N]

On the Temporal dev server (real time) with an embedded PostgreSQL: N `record_contact` updates
sent straight from a Temporal client, then N through `POST /cases/{id}/contacts` (sign-in token,
authorization, note, update) in-process over ASGI. Both drive the same case, alternating, so the
workflow and the database are equally warm for each.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time

import httpx
from rich.console import Console
from rich.table import Table
from sqlmodel import Session
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from api.auth import issue_token
from api.main import create_app
from bench.harness import percentile, renewal_system
from models import Staff
from renewals.case.start import update_case
from renewals.dev.servers import wheel_binary
from renewals.case import contract as c
from renewals.case.contract import SEARCH_ATTRIBUTES

TARGET_RATIO = 1.3


async def main(n: int) -> None:
    console = Console()
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=wheel_binary("temporal"), data_converter=pydantic_data_converter,
        search_attributes=SEARCH_ATTRIBUTES, dev_server_log_level="error")
    bare, api = [], []
    try:
        async with renewal_system(env, "latency") as (sc, settings):
            case = await sc.start(days_to_expiry=50)  # FIRST_CONTACT: the owner may record contacts
            with Session(sc.engine) as session:
                token, _ = issue_token(session.get(Staff, case.owner_id), settings)
            headers = {"Authorization": f"Bearer {token}"}
            app = create_app(settings, engine=sc.engine, temporal=env.client)
            payload = c.RecordContact(actor=case.actor(), channel=c.Channel.call, result=c.ContactResult.no_answer)
            body = {"channel": "call", "result": "no_answer", "note": "未接通,稍后再拨"}
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as http:
                for i in range(n + 5):  # the first five of each warm up
                    started = time.perf_counter()
                    await update_case(case.handle, "record_contact", payload)
                    elapsed_bare = time.perf_counter() - started
                    started = time.perf_counter()
                    answer = await http.post(f"/cases/{case.case_id}/contacts", json=body, headers=headers)
                    elapsed_api = time.perf_counter() - started
                    assert answer.status_code == 200, answer.text
                    if i >= 5:
                        bare.append(elapsed_bare * 1000)
                        api.append(elapsed_api * 1000)
    finally:
        await env.shutdown()
    table = Table("path", "n", "p50 ms", "p99 ms", "mean ms", title="record_contact latency")
    for name, samples in (("bare client update", bare), ("API POST /cases/{id}/contacts", api)):
        table.add_row(name, str(len(samples)), f"{percentile(samples, 0.5):.1f}", f"{percentile(samples, 0.99):.1f}",
                      f"{statistics.fmean(samples):.1f}")
    console.print(table)
    ratio = percentile(api, 0.99) / percentile(bare, 0.99)
    verdict = "within" if ratio <= TARGET_RATIO else "OVER"
    console.print(f"p99 ratio API / bare = {ratio:.2f} ({verdict} the {TARGET_RATIO}× target)")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 200))
