"""Every recorded history in tests/histories/ must replay on the current workflow code: these
workflows live ~70 days across deployments, so a change that breaks determinism must fail here
(guard such changes with workflow.patched, see the README's "Patching"). Record new paths with
RENEWALS_RECORD_HISTORIES=1."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows.imports import ImportPolicies
from workflows.intake import PolicyIntake
from workflows.renewal import PolicyRenewal
from workflows.task_rollup import TaskRollup

HISTORIES = sorted((Path(__file__).parents[1] / "histories").glob("*.json"))


def test_main_paths_are_recorded():
    names = {path.stem for path in HISTORIES}
    assert {"lapsed_after_deputy_continue", "lost_without_reason", "renewed_in_first_contact",
            "deputy_renews_after_failed", "intake_starts_a_day", "intake_aligns_deputies",
            "first_run_after_four_windows_passed", "contact_written_while_an_sms_is_retried", "import_policies"} <= names


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_history_replays_on_current_code(path: Path):
    history = WorkflowHistory.from_json(f"replay-{path.stem}", path.read_text())
    replayer = Replayer(workflows=[PolicyRenewal, PolicyIntake, ImportPolicies, TaskRollup],
                        data_converter=pydantic_data_converter)
    await replayer.replay_workflow(history)
