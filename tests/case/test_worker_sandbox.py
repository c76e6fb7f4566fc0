"""Where workflows run: the sandbox costs about half of a wake-up's CPU (bench.replay), so a
deployed worker runs without it; the tests' workers and the replay gate keep it, so a workflow that
reaches for the clock, randomness or I/O fails here before it is released."""

from __future__ import annotations

from temporalio.worker import UnsandboxedWorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from renewals.core.settings import Settings
from worker import build_worker


async def test_a_deployed_worker_wakes_cases_outside_the_sandbox_and_the_tests_inside_it(time_env, settings, engine):
    assert Settings(_env_file=None).workflow_sandbox is False
    deployed = build_worker(time_env.client, settings.model_copy(update={"workflow_sandbox": False}), engine,
                            task_queue="deployed")
    assert isinstance(deployed.config()["workflow_runner"], UnsandboxedWorkflowRunner)
    tested = build_worker(time_env.client, settings, engine, task_queue="tested")
    assert isinstance(tested.config()["workflow_runner"], SandboxedWorkflowRunner)
