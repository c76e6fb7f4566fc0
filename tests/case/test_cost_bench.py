"""`uv run python -m bench.cost --json` (issue 26): one JSON object per path; a staff action costs at
most 2 Temporal actions and 1.2 KB of history, and the longest path without staff at most 12 KB."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_the_cost_bench_prints_each_paths_cost_within_the_targets():
    run = subprocess.run([sys.executable, "-m", "bench.cost", "--json"], cwd=ROOT, capture_output=True, text=True,
                         timeout=300, check=True)
    paths = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    assert len(paths) == 4 and all(set(p) == {"path", "actions", "history_bytes", "events", "staff_actions"}
                                   for p in paths)
    without_staff = [p for p in paths if p["staff_actions"] == 0]
    assert max(p["history_bytes"] for p in without_staff) <= 12_288
    unattended, staff = without_staff[0], max(paths, key=lambda p: p["staff_actions"])
    assert staff["staff_actions"] >= 10
    assert (staff["actions"] - unattended["actions"]) / staff["staff_actions"] <= 2
    assert (staff["history_bytes"] - unattended["history_bytes"]) / staff["staff_actions"] <= 1_200
