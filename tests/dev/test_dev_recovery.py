"""`renewals dev` after a hard crash: its servers die with it, its ports are free again at once,
PostgreSQL's handle count is not fooled by the dead process, and --demo does not seed twice."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest
from sqlmodel import Session, func, select

from models import Policy
from renewals.core.db import make_engine
from renewals.dev.servers import EmbeddedPostgres, PortInUse, check_port_free
from tests.dev.test_dev_command import dev_env, processes_using, start_dev, stop, wait_ready


def test_a_port_held_only_by_time_wait_is_free():
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port))
        served, _ = listener.accept()
        served.close()  # the side closing first keeps the TIME_WAIT, on the server's port
        client.close()
    assert any(c.laddr.port == port and c.status == psutil.CONN_TIME_WAIT for c in psutil.net_connections("tcp4"))
    check_port_free(port, "API_PORT")  # a stopped server's port: no refusal


def test_a_port_with_a_listener_is_refused():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        with pytest.raises(PortInUse, match="API_PORT"):
            check_port_free(listener.getsockname()[1], "API_PORT")


def _postmaster_running(data: Path) -> bool:
    pid_file = data / "postmaster.pid"
    return pid_file.exists() and psutil.pid_exists(int(pid_file.read_text().split()[0]))


def test_a_killed_holder_does_not_keep_postgres_running_after_a_clean_stop():
    data = Path(tempfile.mkdtemp(prefix="rpgk")) / "d"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from pathlib import Path; from renewals.dev.servers import EmbeddedPostgres; "
        f"EmbeddedPostgres(Path({str(data)!r})); print('up', flush=True); time.sleep(60)")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "up"
    finally:
        holder.kill()  # a crash: its pid stays in the server's handle list
        holder.wait()
    server = EmbeddedPostgres(data)
    server.stop()
    assert not _postmaster_running(data), "the clean stop stopped PostgreSQL"


def _demo_policies(url: str) -> int:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            return session.exec(select(func.count()).select_from(Policy)
                                .where(Policy.policy_no.startswith("DEMO"))).one()
    finally:
        engine.dispose()


def test_dev_killed_outright_leaves_nothing_running_and_starts_again_at_once(tmp_path):
    data = tmp_path / "d"
    env = dev_env(data)
    log = tmp_path / "dev.log"
    url = f"postgresql://postgres@/renewals?host={data / 'pg'}"

    proc = start_dev(env, log, "--demo")
    wait_ready(env, proc, log)
    deadline = time.monotonic() + 30
    while "demo: started 30 renewal cases" not in log.read_text():
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.5)
    proc.kill()  # SIGKILL: no clean-up code of ours runs
    proc.wait()
    deadline = time.monotonic() + 15
    while processes_using(data):
        assert time.monotonic() < deadline, f"still running after the crash: {processes_using(data)}"
        time.sleep(0.5)
    # What the killed run left in its data directory is no stack to use.
    beside = subprocess.run([sys.executable, "-m", "renewals.cli", "staff", "list"], env=env, capture_output=True,
                            text=True)
    assert beside.returncode == 2 and "no `renewals dev` is running" in beside.stderr, beside.stdout + beside.stderr

    proc = start_dev(env, log, "--demo")  # same ports, right away (TIME_WAIT sockets and all)
    try:
        wait_ready(env, proc, log)
        deadline = time.monotonic() + 15
        while "demo policies already in this data" not in log.read_text():
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.5)
        assert _demo_policies(url) == 30, "the second --demo adds no cases"
    finally:
        assert stop(proc, signal.SIGINT, group=True) < 10
    assert proc.returncode == 0, log.read_text()
    assert processes_using(data) == []


def test_dev_stops_with_its_parent_killed_outright(tmp_path):
    # `uv run renewals dev` runs the command as a child of uv; killing uv (-9) must not leave the
    # command and its servers holding the ports. This parent, like uv, forwards nothing when killed.
    data = tmp_path / "d"
    env = dev_env(data)
    log = tmp_path / "dev.log"
    parent = subprocess.Popen(
        [sys.executable, "-c", "import subprocess, sys; subprocess.run([sys.executable, '-m', 'renewals.cli', 'dev'])"],
        env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_ready(env, parent, log)
        parent.kill()
        parent.wait()
        deadline = time.monotonic() + 30
        while processes_using(data) or _dev_commands(env):
            assert time.monotonic() < deadline, f"still running: {processes_using(data) + _dev_commands(env)}"
            time.sleep(0.5)
        check_port_free(int(env["API_PORT"]), "API_PORT")
    finally:  # whatever is left after a failure, stopped gently (PostgreSQL killed -9 leaves its workers)
        left = []
        for proc in psutil.process_iter():
            with contextlib.suppress(psutil.Error):
                if proc.environ().get("DATA_DIR") == str(data):
                    proc.terminate()
                    left.append(proc)
        for proc in psutil.wait_procs(left, timeout=15)[1]:
            proc.kill()


def _dev_commands(env: dict[str, str]) -> list[int]:
    """`renewals dev` processes started with this test's environment."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        with contextlib.suppress(psutil.Error):
            if "dev" in (proc.info["cmdline"] or []) and proc.environ().get("API_PORT") == env["API_PORT"]:
                found.append(proc.pid)
    return found
