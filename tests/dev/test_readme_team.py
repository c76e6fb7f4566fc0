"""The README's "Set up your team", run as written (taken from the README) beside a fresh
`renewals dev`: organisation, staff with their 经办人 codes, the book, and a first day's to-do
panel with tasks on it."""

from __future__ import annotations

import csv
import io
import re
import signal
import subprocess
import time
from pathlib import Path

from tests.dev.test_dev_command import dev_env, processes_using, start_dev, stop, wait_ready

ROOT = Path(__file__).resolve().parents[2]


def section_commands(title: str) -> list[str]:
    """The shell commands of a README section's code blocks, comments dropped."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## )", readme, re.S | re.M)
    assert found, f"README has no section {title!r}"
    blocks = re.findall(r"^```bash\n(.*?)^```", found.group(1), re.S | re.M)
    commands = [line for block in blocks for line in block.splitlines() if line.strip() and not line.startswith("#")]
    assert commands, f"README section {title!r} has no commands"
    return commands


def test_the_readmes_team_setup_reaches_a_to_do_panel_with_tasks(tmp_path):
    commands = section_commands("Set up your team")
    data = tmp_path / "d"
    # The README's commands run where a user types them: `uv run` finds this project, the CLI the stack.
    env = {**dev_env(data), "UV_PROJECT": str(ROOT), "UV_OFFLINE": "1"}
    log = tmp_path / "dev.log"

    def run(command: str) -> subprocess.CompletedProcess:
        # stdin is /dev/null: a command that asked for anything would fail here.
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", command], env=env, cwd=tmp_path, text=True,
                              capture_output=True, stdin=subprocess.DEVNULL, timeout=180)
        assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
        return done

    proc = start_dev(env, log)
    try:
        wait_ready(env, proc, log)
        for command in commands[:-1]:
            run(command)
        # The panel's command, again until the worker has written the new cases' tasks.
        deadline = time.monotonic() + 60
        while True:
            panel = run(commands[-1])
            tasks = list(csv.DictReader(io.StringIO(panel.stdout.lstrip("\ufeff"))))
            if tasks:
                break
            assert time.monotonic() < deadline, f"an empty to-do panel:\n{panel.stdout}\n{panel.stderr}"
            time.sleep(2)
        assert all(task["policy"] and task["what to do"] for task in tasks), panel.stdout
    finally:
        assert stop(proc, signal.SIGINT, group=True) < 10
    assert processes_using(data) == []

