"""Issue 26's benchmarks as a user runs them: `bench.cost --json` prints one JSON object per path, a
staff action costs at most 2 Temporal actions and 1.2 KB of history and the longest path without
staff at most 12 KB; `bench.peak` and `bench.replay` run, and the README gives their before and after."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench import cost

ROOT = Path(__file__).parents[2]


async def test_the_cost_bench_prints_each_paths_cost_within_the_targets():
    # In this process: the bench's own run (`--json` prints these lines) without its interpreter's exit.
    paths = [json.loads(line) for line in cost.json_lines(await cost.measure())]
    assert len(paths) == 4 and all(set(p) == {"path", "actions", "history_bytes", "events", "staff_actions"}
                                   for p in paths)
    without_staff = [p for p in paths if p["staff_actions"] == 0]
    assert max(p["history_bytes"] for p in without_staff) <= 12_288
    unattended, staff = without_staff[0], max(paths, key=lambda p: p["staff_actions"])
    assert staff["staff_actions"] >= 10
    assert (staff["actions"] - unattended["actions"]) / staff["staff_actions"] <= 2
    assert (staff["history_bytes"] - unattended["history_bytes"]) / staff["staff_actions"] <= 1_200


def test_the_peak_and_replay_benches_run_and_the_readme_gives_their_before_and_after():
    peak = subprocess.run([sys.executable, "-m", "bench.peak", "--book", "3000"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=True).stdout
    assert "busiest minute" in peak and "lower with the spread" in peak
    replay = subprocess.run([sys.executable, "-m", "bench.replay", "--rounds", "1"], cwd=ROOT, capture_output=True,
                            text=True, timeout=300, check=True).stdout
    assert "lapsed_unattended" in replay and "worker, no sandbox" in replay and "sandboxed" in replay
    readme = (ROOT / "README.md").read_text()
    for bench in ("bench.peak", "bench.replay"):
        start = readme.index(f"`uv run python -m {bench}")
        section = readme[start:readme.index("`uv run python -m", start + 1)]
        assert "before" in section and ("after" in section or "(now)" in section) and "|---|" in section, \
            f"{bench}: no before/after table"
