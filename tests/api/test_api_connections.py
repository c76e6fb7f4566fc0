"""No request holds a database connection while Temporal answers: with Temporal slow, connections
held idle in a transaction would run the pool dry for every other request."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import Engine, text
from temporalio.client import Client

from tests.api.conftest import Api
from tests.scenario import Scenario, eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")


def _held_on_cases(engine: Engine) -> int:
    """Connections idle in a transaction whose last statement read a case."""
    with engine.connect() as conn:
        return conn.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND state = 'idle in transaction' AND query ILIKE '%FROM renewal_case%'")).scalar_one()


class StallingProxy:
    """A TCP proxy to Temporal's frontend that, once stalled, passes nothing back: Temporal slow to answer."""

    def __init__(self, target: str):
        self.host, port = target.rsplit(":", 1)
        self.port, self.stalled, self._tasks = int(port), False, set()

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._connect, "127.0.0.1", 0)
        return f"127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def _connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(self.host, self.port)
        for task in (self._pipe(reader, up_writer, back=False), self._pipe(up_reader, writer, back=True)):
            self._tasks.add(asyncio.ensure_future(task))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, back: bool) -> None:
        try:
            while data := await reader.read(65536):
                if not (back and self.stalled):
                    writer.write(data)
                    await writer.drain()
        finally:
            writer.close()

    def close(self) -> None:
        self._server.close()
        for task in self._tasks:
            task.cancel()


async def test_a_case_read_holds_no_connection_while_temporal_is_slow_to_answer(api: Api, sc: Scenario):
    case = await sc.start(days_to_expiry=62)
    owner = await api.sign_in(case.owner_id)

    async def projected() -> None:
        assert (await api.get(f"/cases/{case.case_id}", headers=owner)).status_code == 200

    await eventually(projected)
    proxy = StallingProxy(sc.env.client.service_client.config.target_host)
    slow = await Client.connect(await proxy.start(), namespace=sc.env.client.namespace)
    temporal, api.app.state.temporal = api.app.state.temporal, lambda: _answer(slow)
    proxy.stalled = True  # the state query now waits its whole timeout
    try:
        reading = asyncio.ensure_future(api.get(f"/cases/{case.case_id}", headers=owner))
        held = 0
        while not reading.done():
            held = max(held, await asyncio.to_thread(_held_on_cases, api.engine))
            await asyncio.sleep(0.1)
        response = reading.result()
        assert response.status_code == 200 and response.json()["state"] is None, response.text
        assert held == 0, "a connection stayed in its transaction while Temporal was asked"
    finally:
        api.app.state.temporal = temporal
        proxy.close()


async def _answer(client: Client) -> Client:
    return client
