"""The README's commands beside a running `renewals dev --demo`, from another process with neither
DATABASE_URL nor TEMPORAL_ADDRESS set: each finds the stack, names it, and works on its day."""

from __future__ import annotations

import csv
import io
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import psycopg
import pytest
from twilio.request_validator import RequestValidator

from renewals.dev.sample_book import rows, to_csv
from renewals.core.settings import DEV_TWILIO_AUTH_TOKEN
from tests.dev.test_dev_command import dev_env, processes_using, start_dev, stop, wait_ready

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "policies-demo.csv"


@dataclass
class Stack:
    env: dict[str, str]
    data: Path
    log: Path
    work: Path

    def run(self, *args: str, **options) -> subprocess.CompletedProcess:
        """A `renewals` command from another process: the same data directory, no URLs."""
        return subprocess.run([sys.executable, "-m", "renewals.cli", *args], cwd=self.work, text=True,
                              stdin=subprocess.DEVNULL, **({"env": self.env, "capture_output": True} | options))

    @property
    def database_url(self) -> str:
        return f"postgresql://postgres@/renewals?host={self.data / 'pg'}"

    def query(self, sql: str) -> list[tuple]:
        with psycopg.connect(self.database_url) as conn:
            return conn.execute(sql).fetchall()


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[Stack]:
    work = tmp_path_factory.mktemp("beside")
    data = work / "d"
    stack = Stack(dev_env(data), data, work / "dev.log", work)
    proc = start_dev(stack.env, stack.log, "--demo")
    try:
        wait_ready(stack.env, proc, stack.log)
        until(lambda: "demo: started 30 renewal cases" in stack.log.read_text(), stack.log)
        yield stack
    finally:
        assert stop(proc, signal.SIGINT, group=True) < 10
    assert processes_using(data) == []
    assert not (data / "dev-stack.json").exists(), "a stopped stack is no stack to use"


def until(condition, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.5)


def names_the_stack(stack: Stack, done: subprocess.CompletedProcess) -> bool:
    return f"renewals dev of {stack.data}" in done.stderr


def test_the_banner_names_the_database_temporal_and_the_sandbox_day(stack):
    banner = stack.log.read_text()
    assert f"postgresql://postgres:@/renewals?host={stack.data / 'pg'}" in banner
    assert f"127.0.0.1:{stack.env['TEMPORAL_PORT']}" in banner
    assert "training sandbox: a day is 2 s" in banner


def test_commands_beside_dev_find_its_stack_and_name_it(stack):
    sample = stack.work / SAMPLE.name
    sample.write_bytes(SAMPLE.read_bytes())
    imported = stack.run("import", str(sample))
    assert imported.returncode == 0, imported.stdout + imported.stderr
    assert "200 of 200 rows imported" in imported.stdout and names_the_stack(stack, imported)

    added = stack.run("staff", "add", "zhou.min", "--name", "周敏", "--role", "sales", "--sub-branch", "310101",
                      "--phone", "13912345678", "--handler-code", "JB310101009", "--password", "zhou-2026")
    assert added.returncode == 0, added.stdout + added.stderr
    assert names_the_stack(stack, added)
    assert stack.query("select handler_code from staff where username = 'zhou.min'") == [("JB310101009",)]

    until(lambda: stack.query("select 1 from renewal_case where policy_no like 'DEMO%'"), stack.log)
    [(policy_no,)] = stack.query("select policy_no from renewal_case where policy_no like 'DEMO%' limit 1")
    timeline = stack.run("audit", "timeline", policy_no)
    assert timeline.returncode == 0, timeline.stdout + timeline.stderr
    assert names_the_stack(stack, timeline)
    events = list(csv.DictReader(io.StringIO(timeline.stdout.lstrip("\ufeff"))))
    assert any(e["who"] == "intake" and e["what"] == f"case started for policy {policy_no}" for e in events), \
        timeline.stdout
    assert "…" not in timeline.stdout, "a redirected timeline cuts nothing"


def test_an_import_beside_a_sandbox_stack_runs_its_cases_on_the_stacks_day(stack):
    # Expiring in 22 days: SECOND_CONTACT now, THIRD_CONTACT (T-20) two sandbox days (4 s) later;
    # on real days it would stay in SECOND_CONTACT for two days.
    expiry = datetime.now(ZoneInfo("Asia/Shanghai")).date() + timedelta(days=22)
    book = stack.work / "sandbox.csv"
    book.write_bytes(to_csv(rows(1, start=expiry, prefix="PSBX")))
    imported = stack.run("import", str(book))
    assert imported.returncode == 0, imported.stdout + imported.stderr
    assert "training sandbox: a day is 2 s" in imported.stderr
    until(lambda: stack.query("select 1 from renewal_case where policy_no like 'PSBX%' and stage = 'THIRD_CONTACT'"),
          stack.log)


def test_a_webhook_signed_for_the_apis_own_port_is_accepted(stack):
    url = f"http://127.0.0.1:{stack.env['API_PORT']}/webhooks/twilio/sms-status"
    form = {"MessageSid": "SM" + "0" * 32, "MessageStatus": "delivered", "AccountSid": "AC" + "0" * 32}
    signature = RequestValidator(DEV_TWILIO_AUTH_TOKEN).compute_signature(url, form)
    answer = httpx.post(url, data=form, headers={"X-Twilio-Signature": signature}, timeout=10)
    assert answer.status_code == 204, answer.text


def test_a_report_redirected_to_a_file_has_its_cells_filled(stack):
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    report = stack.work / "renewals.csv"
    # The database named outright, as an operator's script would; a file, not a terminal, 80 columns.
    env = {**stack.env, "DATABASE_URL": stack.database_url, "COLUMNS": "80"}
    with report.open("w") as out:
        done = stack.run("report", "renewals", "--from", f"{today - timedelta(days=30)}",
                         "--to", f"{today + timedelta(days=90)}", stdout=out, stderr=subprocess.PIPE,
                         capture_output=False, env=env)
    assert done.returncode == 0, done.stderr
    table = list(csv.reader(io.StringIO(report.read_text(encoding="utf-8-sig"))))
    header, total = table[0], table[1]
    assert "续保率" in header and len(total) == len(header)
    assert total[0] == "合计" and int(total[header.index("到期")]) >= 30, table


def test_a_second_dev_on_the_same_data_is_refused_with_the_running_one(stack):
    again = stack.run("dev")
    assert again.returncode == 1
    assert f"already running with its data in {stack.data}" in again.stdout + again.stderr

