"""The replay gate: `renewals audit replay` replays exported histories against the
workflow code and exits non-zero, naming the first divergence, when the code no longer fits."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from temporalio.client import WorkflowHistory

from typer.testing import CliRunner

from renewals.audit import replay
from renewals.cli.main import app
from tests.changed_workflow import ChangedPolicyRenewal

HISTORIES = Path(__file__).parents[1] / "histories"
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


def test_since_is_a_day_in_the_insurers_time_zone(engine, monkeypatch):
    """A case closed at 01:30 on 28 November in Shanghai (17:30 UTC on the 27th) was closed on the
    28th for the team: `--since 2026-11-28` replays it, `--since 2026-11-29` does not."""
    from renewals.audit.archive import archive_row, store_histories
    from renewals.core.db import get_engine
    from renewals.core.settings import get_settings

    path = HISTORIES / "lapsed_unattended.json"
    history = WorkflowHistory.from_json("renewal-SINCE-TZ-20261231", path.read_text())
    row = archive_row(history, "PDAA-SINCE-TZ") | {"closed_at": datetime(2026, 11, 27, 17, 30, tzinfo=UTC)}
    store_histories(engine, [row])
    monkeypatch.setenv("DATABASE_URL", engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("TEMPORAL_ADDRESS", "")
    monkeypatch.setenv("TIMEZONE", "Asia/Shanghai")
    get_settings.cache_clear()
    get_engine.cache_clear()
    try:
        same_day = CliRunner().invoke(app, ["audit", "replay", "--since", "2026-11-28"])
        assert same_day.exit_code == 0 and "PDAA-SINCE-TZ" in same_day.output, same_day.output
        next_day = CliRunner().invoke(app, ["audit", "replay", "--since", "2026-11-29"])
        assert "PDAA-SINCE-TZ" not in next_day.output, next_day.output
    finally:
        get_settings.cache_clear()
        get_engine.cache_clear()
