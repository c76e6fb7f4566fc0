"""The nightly run: the `lapse-scoring-daily` schedule starts LapseScoring, whose activity trains the
model and scores every open case; only a count crosses Temporal."""

from __future__ import annotations

import uuid

import pytest
from sqlmodel import Session

from models import LapseScore
from renewals.case.contract import LAPSE_SCORING_WORKFLOW
from renewals.scoring.schedule import SCORING_CRON, SCORING_SCHEDULE_ID, ensure_scoring_schedule
from tests.scenario import Scenario, eventually
from tests.schedules import assert_set_up_nightly

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_the_nightly_run_scores_every_open_case(sc: Scenario, time_env, task_queue, engine):
    case = await sc.start(days_to_expiry=30)

    async def projected() -> None:  # the case's first write, by its own activity
        assert sc.case_row(case) is not None

    await eventually(projected, timeout=30)
    scored = await time_env.client.execute_workflow(LAPSE_SCORING_WORKFLOW, id=f"lapse-scoring-{uuid.uuid4()}",
                                                    task_queue=task_queue)
    assert scored >= 1
    with Session(engine) as session:
        score = session.get(LapseScore, case.case_id)
    assert score is not None and 0 <= score.score <= 100 and score.model_version == "prior-1"


async def test_setup_schedules_the_scoring_every_night_after_the_intake_and_the_roll_up(dev_env, settings):
    await assert_set_up_nightly(dev_env.client, settings, ensure_scoring_schedule, SCORING_SCHEDULE_ID, LAPSE_SCORING_WORKFLOW, SCORING_CRON, (3, 0))
