"""The production topology on one machine, from real parts: two API processes and two workers
behind Caddy (TLS, its own local CA) and PgBouncer (Debian's, transaction pooling), against the
embedded PostgreSQL and the Temporal dev server standing in for the cluster. Staff record contacts
through Caddy while one API and one worker are killed outright: nothing answers 5xx but what the
killed API was answering at that moment, and every action retried with its Idempotency-Key is in
PostgreSQL exactly once."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from renewals.core.db import Workload, make_engine
from renewals.core.settings import Settings
from renewals.dev.demo import demo_jobs
from renewals.dev.demo_users import DEMO_PASSWORD
from renewals.dev.servers import EmbeddedPostgres, TemporalDevServer, die_with_parent, free_port
from tests.conftest import fresh_database

pytestmark = pytest.mark.asyncio(loop_scope="session")
ROOT = Path(__file__).resolve().parents[2]
CADDY, PGBOUNCER = shutil.which("caddy"), shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
# Generous: a loaded 2-core machine starts four Python servers at once.
UP_WITHIN = 60.0
SETTLED_WITHIN = 60.0
CASES = 9
STAFF = ("demo-sales-1", "demo-sales-2", "demo-sales-3")
ROUNDS = 4  # contacts each staff member records on each of their cases


def wait_until(check, within: float, what: str, logs: Iterator[Path] = ()):
    """`check()` until it returns something truthy (exceptions count as not yet)."""
    deadline = time.monotonic() + within
    last: object = None
    while time.monotonic() < deadline:
        try:
            if result := check():
                return result
        except Exception as exc:  # noqa: BLE001 — not up yet
            last = exc
        time.sleep(0.3)
    tails = "\n".join(f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}" for log in logs if log.exists())
    raise AssertionError(f"{what} not within {within:.0f}s (last: {last!r})\n{tails}")


@dataclass
class Topology:
    base: Path
    caddy_url: str
    ca_file: Path
    api_ports: list[int]
    worker_ports: list[dict[str, int]]
    database_url: str  # PostgreSQL itself, for the test's own checks
    pgbouncer_url: str
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def logs(self) -> list[Path]:
        return sorted(self.base.glob("*.log"))

    def kill(self, name: str) -> None:
        process = self.processes[name]
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)


def start(name: str, args: list[str], base: Path, env: dict[str, str], **options) -> subprocess.Popen:
    log = (base / f"{name}.log").open("ab")
    return subprocess.Popen(args, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            preexec_fn=die_with_parent, **options)


def pgbouncer_config(base: Path, pg: EmbeddedPostgres, database: str, port: int) -> Path:
    target = psycopg.conninfo.conninfo_to_dict(pg.url(database))
    socket_dir = Path(target["host"])
    [pg_socket] = [path for path in socket_dir.glob(".s.PGSQL.*") if path.suffix[1:].isdigit()]
    config = base / "pgbouncer.ini"
    config.write_text(f"""[databases]
{database} = host={socket_dir} port={pg_socket.suffix[1:]} dbname={database} user={target['user']}
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = any
pool_mode = transaction
default_pool_size = 20
max_client_conn = 400
""")
    config.chmod(0o644)
    return config


def caddyfile(base: Path, https_port: int, api_ports: list[int]) -> Path:
    upstreams = " ".join(f"127.0.0.1:{port}" for port in api_ports)
    config = base / "Caddyfile"
    config.write_text(f"""{{
    admin off
    skip_install_trust
    auto_https disable_redirects
    http_port {free_port()}
    https_port {https_port}
}}
https://127.0.0.1:{https_port} {{
    tls internal
    # The metrics are for the monitoring network, never the public.
    respond /metrics 404
    reverse_proxy {upstreams} {{
        lb_policy round_robin
        # A request to an upstream that refuses the connection goes to the next one.
        lb_try_duration 10s
        fail_duration 30s
    }}
}}
""")
    return config


@pytest.fixture(scope="module")
def topology(pg: EmbeddedPostgres) -> Iterator[Topology]:
    if not CADDY or not Path(PGBOUNCER).exists():
        pytest.fail("caddy and pgbouncer are missing: .ci/run installs Debian's (apt-get install caddy pgbouncer)")
    base = Path(tempfile.mkdtemp(prefix="topology"))
    base.chmod(0o755)  # PgBouncer runs as the embedded PostgreSQL's user when we are root
    database = f"topology_{uuid.uuid4().hex[:8]}"
    direct_url = fresh_database(pg, database)
    temporal = TemporalDevServer(base / "temporal.db", free_port(), free_port())
    temporal.start()
    pgbouncer_port, https_port = free_port(), free_port()
    topology = Topology(base=base, caddy_url=f"https://127.0.0.1:{https_port}", database_url=direct_url,
                        pgbouncer_url=f"postgresql://postgres@127.0.0.1:{pgbouncer_port}/{database}",
                        ca_file=base / "caddy-data" / "caddy" / "pki" / "authorities" / "local" / "root.crt",
                        api_ports=[free_port(), free_port()],
                        worker_ports=[{"metrics": free_port(), "health": free_port()} for _ in range(2)])
    app_env = {
        **os.environ, "ENVIRONMENT": "dev", "DATABASE_URL": topology.pgbouncer_url,
        "DATABASE_PGBOUNCER": "true", "TEMPORAL_ADDRESS": temporal.address, "TASK_QUEUE": "topology",
        "NOTIFY_BACKEND": "console", "LOG_FORMAT": "json", "API_HOST": "127.0.0.1", "ACTIVITY_WORKERS": "8",
        "FORWARDED_ALLOW_IPS": "127.0.0.1", "PUBLIC_BASE_URL": topology.caddy_url,
        # A killed worker's cases wait out its sticky queue's 10 s before the other worker takes them:
        # an action on one of those must wait rather than answer 503.
        "STAFF_ACTION_DEADLINE": "PT30S",
    }
    seeded = Settings(_env_file=None, database_url=direct_url, temporal_address=temporal.address, task_queue="topology")
    (seed_cases, _), _ = demo_jobs(seeded, policies=CASES)
    asyncio.run(seed_cases(asyncio.Event()))  # the workflows wait for the workers to take them
    as_postgres = {"user": postgres_system_user(pg)} if os.geteuid() == 0 else {}
    try:
        topology.processes["pgbouncer"] = start(
            "pgbouncer", [PGBOUNCER, str(pgbouncer_config(base, pg, database, pgbouncer_port))], base, dict(os.environ),
            **as_postgres)
        for n, port in enumerate(topology.api_ports, 1):
            topology.processes[f"api{n}"] = start(f"api{n}", [sys.executable, "-m", "renewals.cli", "api"], base,
                                                  {**app_env, "API_PORT": str(port)})
        for n, ports in enumerate(topology.worker_ports, 1):
            topology.processes[f"worker{n}"] = start(
                f"worker{n}", [sys.executable, "-m", "renewals.cli", "worker"], base,
                {**app_env, "WORKER_METRICS_PORT": str(ports["metrics"]), "WORKER_HEALTH_PORT": str(ports["health"])})
        caddy_home = base / "caddy-data"
        topology.processes["caddy"] = start(
            "caddy", [CADDY, "run", "--config", str(caddyfile(base, https_port, topology.api_ports)),
                      "--adapter", "caddyfile"], base,
            {**os.environ, "HOME": str(base), "XDG_DATA_HOME": str(caddy_home), "XDG_CONFIG_HOME": str(caddy_home)})
        for name, process in topology.processes.items():
            assert process.poll() is None, f"{name} exited at once: {(base / f'{name}.log').read_text()}"
        for port in topology.api_ports:
            wait_until(lambda: httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=3).status_code == 200,
                       UP_WITHIN, f"API on {port} ready", topology.logs())
        for ports in topology.worker_ports:
            wait_until(lambda: httpx.get(f"http://127.0.0.1:{ports['health']}/readyz", timeout=3).status_code == 200,
                       UP_WITHIN, f"worker with health on {ports['health']} ready", topology.logs())
        wait_until(lambda: httpx.get(f"{topology.caddy_url}/readyz", verify=tls(topology), timeout=3)
                   .status_code == 200,
                   UP_WITHIN, "Caddy serving the API over TLS", topology.logs())
        yield topology
    finally:
        for process in topology.processes.values():  # nothing left to keep: no graceful stops to wait for
            process.kill()
            process.wait()
        temporal.stop()
        shutil.rmtree(base, ignore_errors=True)


def postgres_system_user(pg: EmbeddedPostgres) -> str:
    """The system user the embedded PostgreSQL runs as (PgBouncer refuses to run as root)."""
    return Path(psycopg.conninfo.conninfo_to_dict(pg.url())["host"]).owner()


def tls(topology: Topology) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=topology.ca_file)


@dataclass
class Answer:
    started: float
    ended: float
    status: int


async def staff_member(client: httpx.AsyncClient, username: str, answers: list[Answer], done: list[str],
                       actions_done: asyncio.Event, kill_after: int) -> None:
    """Sign in and record contacts on every open case of one's own, each action retried with its
    Idempotency-Key until it is answered (as the console does)."""

    async def send(method: str, path: str, **kwargs) -> httpx.Response:
        while True:
            started = time.monotonic()
            response = await client.request(method, path, **kwargs)
            answers.append(Answer(started, time.monotonic(), response.status_code))
            if response.status_code < 500:
                return response
            await asyncio.sleep(0.5)

    signed_in = await send("POST", "/auth/token", data={"username": username, "password": DEMO_PASSWORD})
    assert signed_in.status_code == 200, signed_in.text
    auth = {"Authorization": f"Bearer {signed_in.json()['access_token']}"}
    listed = await send("GET", "/cases", headers=auth, params={"status": "open", "limit": 50})
    assert listed.status_code == 200, listed.text
    cases = [case["id"] for case in listed.json()["items"]]
    assert cases, f"{username} has open cases"
    for round_ in range(ROUNDS):
        for case_id in cases:
            marker = f"topology {username} {case_id} {round_}"
            key = {"Idempotency-Key": marker.replace(" ", ":")}
            response = await send("POST", f"/cases/{case_id}/contacts", headers={**auth, **key},
                                  json={"channel": "call", "result": "reached", "note": marker})
            assert response.status_code == 200, response.text
            done.append(marker)
            if len(done) >= kill_after:
                actions_done.set()


def in_flight(answer: Answer, kills: list[tuple[float, float]]) -> bool:
    """Sent before a process was gone and answered after it was signalled."""
    return any(answer.started < gone and answer.ended > signalled for signalled, gone in kills)


async def test_staff_work_through_caddy_while_an_api_and_a_worker_are_killed(topology: Topology):
    answers: list[Answer] = []
    done: list[str] = []
    kill_now = asyncio.Event()
    kills: list[tuple[float, float]] = []
    kill_after = len(STAFF) * 3

    async def killer() -> None:
        await kill_now.wait()
        signalled = time.monotonic()
        await asyncio.to_thread(topology.kill, "api1")
        await asyncio.to_thread(topology.kill, "worker1")
        kills.append((signalled, time.monotonic()))

    async with httpx.AsyncClient(base_url=topology.caddy_url, verify=tls(topology), timeout=60) as client:
        blocked = await client.get("/metrics")
        assert blocked.status_code == 404, "Caddy does not pass /metrics to the public"
        killing = asyncio.create_task(killer())
        await asyncio.gather(*(staff_member(client, username, answers, done, kill_now, kill_after)
                               for username in STAFF))
        await killing
    [(_, gone)] = kills
    assert sum(answer.started > gone and answer.status == 200 for answer in answers) >= len(STAFF), \
        "staff kept working after the kill"
    server_errors = [answer for answer in answers if answer.status >= 500]
    assert all(in_flight(answer, kills) for answer in server_errors), server_errors

    # Every action is in PostgreSQL once: its note, and the contact record the workflow wrote for it.
    engine = make_engine(topology.database_url)
    try:
        def recorded() -> bool:
            with engine.connect() as conn:
                rows = conn.execute(text(
                    "SELECT n.body, count(DISTINCT n.id), count(r.id) FROM note n "
                    "LEFT JOIN contact_record r ON r.note_id = n.id WHERE n.body LIKE 'topology %' GROUP BY n.body"
                )).all()
            counts = {body: (notes, records) for body, notes, records in rows}
            assert set(counts) == set(done), "no note lost, none made up"
            return all(counted == (1, 1) for counted in counts.values())

        wait_until(recorded, SETTLED_WITHIN, "every contact recorded once", topology.logs())
    finally:
        engine.dispose()

    survivor = topology.worker_ports[1]
    ready = httpx.get(f"http://127.0.0.1:{survivor['health']}/readyz", timeout=5)
    assert ready.status_code == 200 and ready.json()["polling"] == "ok"
    metrics = httpx.get(f"http://127.0.0.1:{survivor['metrics']}/metrics", timeout=5).text
    assert "temporal_activity_schedule_to_start_latency" in metrics
    api_metrics = httpx.get(f"http://127.0.0.1:{topology.api_ports[1]}/metrics", timeout=5).text
    assert 'handler="/cases/{case_id}/contacts"' in api_metrics


async def test_session_limits_hold_through_pgbouncer(topology: Topology):
    """Statement timeouts are set per transaction (PgBouncer refuses libpq's `options`, and a
    session SET would stay on the server connection for whoever gets it next)."""
    settings = Settings(_env_file=None, database_pgbouncer=True, db_statement_timeout="PT0.5S")
    engine = make_engine(topology.pgbouncer_url, workload=Workload.api, settings=settings)
    try:
        with engine.connect() as conn:
            with pytest.raises(OperationalError, match="statement timeout"):
                conn.execute(text("SELECT pg_sleep(3)"))
    finally:
        engine.dispose()
