"""The replay gate (issue 10): `renewals audit replay` replays exported histories against the
workflow code and exits non-zero, naming the first divergence, when the code no longer fits."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from renewals.audit import replay
from renewals.cli import app
from tests.changed_workflow import ChangedPolicyRenewal

HISTORIES = Path(__file__).parent / "histories"
EXPORTED = [HISTORIES / "deputy_renews_after_failed.json", HISTORIES / "lapsed_unattended.json"]


def test_exported_histories_replay_clean_on_the_current_code():
    result = CliRunner().invoke(app, ["audit", "replay", *map(str, EXPORTED)])
    assert result.exit_code == 0, result.output
    assert "2 replayed, 0 failed" in result.output


def test_a_changed_workflow_fails_the_gate_with_its_first_divergence(monkeypatch):
    monkeypatch.setattr(replay, "WORKFLOWS", (ChangedPolicyRenewal,))
    result = CliRunner().invoke(app, ["audit", "replay", *map(str, EXPORTED)])
    assert result.exit_code == 1, result.output
    assert "0 replayed, 2 failed" in result.output
    assert result.output.count("first divergence: NondeterminismError") == 2, result.output
    assert "Activity type of scheduled event 'project_case' does not match" in result.output


def test_nothing_to_replay_is_an_error():
    result = CliRunner().invoke(app, ["audit", "replay"])
    assert result.exit_code == 1 and "say what to replay" in result.output
    result = CliRunner().invoke(app, ["audit", "replay", "missing.json"])
    assert result.exit_code == 1 and "FILE: missing.json does not exist" in result.output
