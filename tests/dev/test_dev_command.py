"""`renewals dev` as a person runs it: everything up, ready, stopped by Ctrl-C, data kept."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil

from renewals.dev.servers import free_port, wheel_binary

READY_WITHIN = 90


def processes_using(path: Path) -> list[str]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if str(path) in cmdline:
            found.append(cmdline)
    return found


def dev_env(data: Path) -> dict[str, str]:
    """The environment of a `renewals dev` with its own data directory and free ports."""
    env = {**os.environ, "DATA_DIR": str(data), "API_PORT": str(free_port()),
           "TEMPORAL_PORT": str(free_port()), "TEMPORAL_UI_PORT": str(free_port())}
    for key in ("DATABASE_URL", "TEMPORAL_ADDRESS"):
        env.pop(key, None)
    return env


def start_dev(env: dict[str, str], log: Path, *options: str) -> subprocess.Popen:
    # A session of its own, so Ctrl-C can be sent to the whole group as a terminal would.
    return subprocess.Popen([sys.executable, "-m", "renewals.cli", "dev", *options], env=env, stdout=log.open("ab"),
                            stderr=subprocess.STDOUT, start_new_session=True)


def wait_ready(env: dict[str, str], proc: subprocess.Popen, log: Path) -> float:
    started = time.monotonic()
    while time.monotonic() - started < READY_WITHIN:
        assert proc.poll() is None, log.read_text()
        try:
            ready = httpx.get(f"http://127.0.0.1:{env['API_PORT']}/readyz", timeout=2)
            ui = httpx.get(f"http://127.0.0.1:{env['TEMPORAL_UI_PORT']}/", timeout=2)
            if ready.status_code == 200 and ui.status_code == 200:
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"not ready within {READY_WITHIN}s:\n{log.read_text()}")


def assert_observable(env: dict[str, str], data: Path) -> None:
    """The API's and the worker's metrics, and the worker's health, where the stack file says."""
    stack = json.loads((data / "dev-stack.json").read_text())
    api = httpx.get(f"http://127.0.0.1:{env['API_PORT']}/metrics", timeout=5).text
    assert 'http_requests_total{handler="/readyz",method="GET",status="200"}' in api
    worker = httpx.get(f"http://127.0.0.1:{stack['worker_metrics_port']}/metrics", timeout=5).text
    assert "temporal_num_pollers" in worker and "temporal_request" in worker
    ready = httpx.get(f"http://127.0.0.1:{stack['worker_health_port']}/readyz", timeout=5)
    assert ready.status_code == 200 and ready.json()["polling"] == "ok"


def stop(proc: subprocess.Popen, how: signal.Signals, group: bool) -> float:
    """Ctrl-C reaches the whole process group; a SIGTERM (a service manager) only the process."""
    started = time.monotonic()
    if group:
        os.killpg(proc.pid, how)
    else:
        proc.send_signal(how)
    proc.wait(timeout=30)
    return time.monotonic() - started


def test_dev_starts_everything_stops_cleanly_and_keeps_its_data(tmp_path):
    data = tmp_path / "d"
    env = dev_env(data)
    log = tmp_path / "dev.log"

    proc = start_dev(env, log)
    wait_ready(env, proc, log)
    assert_observable(env, data)
    # Something to find again after a restart: a branch created through the CLI.
    db_env = {**env, "DATABASE_URL": f"postgresql://postgres@/renewals?host={data / 'pg'}"}
    created = subprocess.run([sys.executable, "-m", "renewals.cli", "org", "add", "--branch", "3100",
                              "--branch-name", "上海分公司"], env=db_env, capture_output=True, text=True)
    assert created.returncode == 0, created.stdout + created.stderr
    assert stop(proc, signal.SIGINT, group=True) < 10
    assert proc.returncode == 0, log.read_text()
    assert "stopped." in log.read_text()
    assert processes_using(data) == [], "Ctrl-C leaves no postgres, temporal or worker process"

    # Again, with the demo's simulated staff busy on the worker when SIGTERM comes.
    proc = start_dev(env, log, "--demo")
    wait_ready(env, proc, log)
    again = subprocess.run([sys.executable, "-m", "renewals.cli", "org", "add", "--branch", "3100"],
                           env=db_env, capture_output=True, text=True)
    assert again.returncode == 0 and "上海分公司" in again.stdout, "the second run finds the first run's data"
    time.sleep(3)
    assert "demo: started 30 renewal cases" in log.read_text()
    # The intake schedule exists, and the sample book imports into the demo organisation with 0 errors.
    temporal_env = {**db_env, "TEMPORAL_ADDRESS": f"127.0.0.1:{env['TEMPORAL_PORT']}", "COLUMNS": "200"}
    schedule = subprocess.run([wheel_binary("temporal"), "schedule", "describe", "--schedule-id",
                               "policy-intake-daily", "--address", temporal_env["TEMPORAL_ADDRESS"]],
                              capture_output=True, text=True)
    assert schedule.returncode == 0 and "PolicyIntake" in schedule.stdout, schedule.stdout + schedule.stderr
    sample = tmp_path / "policies-demo.csv"
    sample.write_bytes((Path(__file__).resolve().parents[2] / "samples" / "policies-demo.csv").read_bytes())
    imported = subprocess.run([sys.executable, "-m", "renewals.cli", "import", str(sample)], env=temporal_env,
                              capture_output=True, text=True)
    assert imported.returncode == 0, imported.stdout + imported.stderr
    assert "200 of 200 rows imported" in imported.stdout and not (tmp_path / "policies-demo.errors.csv").exists()
    assert stop(proc, signal.SIGTERM, group=False) < 10
    assert proc.returncode == 0, log.read_text()
    assert processes_using(data) == []
