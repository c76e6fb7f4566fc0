"""What an operator watches: the API's /metrics (requests by route template and status, business
gauges from the projection, nothing personal), the worker's Temporal SDK metrics and its health
endpoint (not ready once it stops polling), JSON logs carrying the request id, and the alert rules
and dashboard, whose every metric is one the API or the SDK really exports."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import yaml
from sqlmodel import Session
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.common import RetryPolicy
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from api.main import create_app
from models import ContactRecord, Task
from models.renewal import TaskKind
from renewals.core.logs import JsonLines
from renewals.core.metrics import worker_runtime
from renewals.core.temporal import connect
from renewals.dev.servers import free_port
from tests.api.conftest import Api, api  # noqa: F401  (fixture)
from tests.scenario import Scenario, eventually
from worker import WorkerHealth, build_worker

pytestmark = pytest.mark.asyncio(loop_scope="session")
OBSERVABILITY = Path(__file__).resolve().parents[2] / "deploy" / "observability"
EXPECTED_ALERTS = {"WorkflowTaskScheduleToStartHigh", "ActivityScheduleToStartHigh", "ActivityFailures",
                   "NeedsAttentionTasks", "SmsFailures", "ApiServerErrors", "WorkerDown", "ApiDown"}
# Names in PromQL that are not metrics: functions, keywords, label names.
PROMQL_WORDS = {"sum", "rate", "increase", "histogram_quantile", "by", "without", "on", "ignoring", "le", "max",
                "min", "avg", "count", "absent", "up", "job", "status", "handler", "task_queue", "stage",
                "activity_type", "workflow_type", "namespace", "clamp_min", "or", "and", "unless", "vector", "bool",
                "offset", "method", "instance", "poller_type"}
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


@dataclass
class Sample:
    labels: dict[str, str]
    value: float


def samples(text: str) -> dict[str, list[Sample]]:
    """Series name (as exported: Prometheus's own parser renames counters) -> its samples."""
    found: dict[str, list[Sample]] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            series, value = line.rsplit(" ", 1)
            name, _, labels = series.partition("{")
            found.setdefault(name, []).append(Sample(dict(LABEL.findall(labels)), float(value)))
    return found


def metric_names_in(expression: str) -> set[str]:
    without_labels = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\"[^\"]*\"", " ", expression)
    words = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", without_labels))
    return {w for w in words if w not in PROMQL_WORDS and not w.isdigit()}


def alert_rules() -> list[dict]:
    groups = yaml.safe_load((OBSERVABILITY / "alerts.yml").read_text(encoding="utf-8"))["groups"]
    return [rule for group in groups for rule in group["rules"]]


def dashboard_expressions() -> list[str]:
    board = json.loads((OBSERVABILITY / "grafana-dashboard.json").read_text(encoding="utf-8"))
    return [target["expr"] for panel in board["panels"] for target in panel.get("targets", [])]


@activity.defn
async def fails_once() -> str:
    if activity.info().attempt == 1:
        raise RuntimeError("the first attempt fails")
    return "done"


@workflow.defn
class RetriedOnce:
    @workflow.run
    async def run(self) -> str:
        return await workflow.execute_activity(fails_once, start_to_close_timeout=timedelta(seconds=10),
                                               retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=50)))


async def scrape(port: int) -> str:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
    assert response.status_code == 200
    return response.text


@pytest.fixture(scope="module")
def worker_settings(settings):
    return settings.model_copy(update={"api_host": "127.0.0.1", "worker_metrics_port": free_port(),
                                       "worker_health_port": free_port()})


@pytest.fixture(scope="module")
async def sdk_metrics(dev_env, worker_settings, engine) -> str:
    """The worker runtime's scrape after a workflow whose activity failed once, then succeeded."""
    settings = worker_settings.model_copy(update={"temporal_address": dev_env.client.service_client.config.target_host,
                                                  "temporal_namespace": dev_env.client.namespace})
    client = await connect(settings, runtime=worker_runtime(settings))
    queue = f"metrics-{uuid.uuid4().hex[:8]}"
    async with Worker(client, task_queue=queue, workflows=[RetriedOnce], activities=[fails_once],
                      workflow_runner=UnsandboxedWorkflowRunner()):
        result = await client.execute_workflow(RetriedOnce.run, id=f"metrics-{uuid.uuid4()}", task_queue=queue)
        assert result == "done"
        return await eventually(lambda: _with_failures(scrape(settings.worker_metrics_port)), timeout=15)


async def _with_failures(scraped) -> str:
    text = await scraped
    assert "temporal_activity_execution_failed" in text  # exported once the SDK has flushed the failure
    return text


async def test_the_worker_runtime_exports_temporal_sdk_series(sdk_metrics):
    found = samples(sdk_metrics)
    assert any(name.startswith("temporal_workflow_task_schedule_to_start_latency") for name in found)
    assert any(name.startswith("temporal_activity_schedule_to_start_latency") for name in found)
    assert sum(s.value for s in found["temporal_activity_execution_failed"]) >= 1


async def test_a_worker_that_stopped_polling_is_not_ready(dev_env, worker_settings, engine):
    worker = build_worker(dev_env.client, worker_settings, engine, task_queue=f"health-{uuid.uuid4().hex[:8]}")
    health = WorkerHealth(worker)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=health.app()), base_url="http://worker") as probe:
        assert (await probe.get("/readyz")).status_code == 503, "not started: not polling"
        polling = asyncio.create_task(worker.run())
        ready = await eventually(lambda: _ready(probe))
        assert ready == {"status": "ready", "polling": "ok", "temporal": "ok"}
        assert (await probe.get("/healthz")).json() == {"status": "ok"}
        await worker.shutdown()
        await polling
        stopped = await probe.get("/readyz")
        assert stopped.status_code == 503 and stopped.json()["polling"] == "stopped"


async def _ready(probe: httpx.AsyncClient) -> dict:
    response = await probe.get("/readyz")
    assert response.status_code == 200, response.text
    return response.json()


async def test_api_metrics_by_route_and_status_with_business_gauges(api: Api, sc: Scenario, engine):
    case = await sc.start(days_to_expiry=62)

    def projected() -> None:
        assert sc.case_row(case) is not None

    await eventually(projected)
    with Session(engine) as session:
        session.add(Task(id=uuid.uuid4(), case_id=case.case_id, assignee_id=case.admin_id, kind=TaskKind.attention,
                         stage="WAITING", opens_at=await sc.now(), due_at=await sc.now()))
        session.add(ContactRecord(case_id=case.case_id, channel="sms", delivery_status="undelivered"))
        session.commit()
    owner = await api.sign_in(case.owner_id)
    assert (await api.get(f"/cases/{case.case_id}", headers=owner)).status_code == 200
    assert (await api.get(f"/cases/{uuid.uuid4()}")).status_code == 401

    scraped = await api.get("/metrics")
    assert scraped.status_code == 200
    found = samples(scraped.text)
    requests = {(s.labels["handler"], s.labels["status"]): s.value for s in found["http_requests_total"]}
    assert requests[("/cases/{case_id}", "200")] == 1 and requests[("/cases/{case_id}", "401")] == 1
    assert any(s.labels["handler"] == "/cases/{case_id}" and s.labels["status"] == "200"
               for s in found["http_request_duration_seconds_count"])
    open_cases = {s.labels["stage"]: s.value for s in found["renewals_open_cases"]}
    assert sum(open_cases.values()) >= 1 and set(open_cases) >= {"WAITING", "FIRST_CONTACT", "POST_EXPIRY"}
    assert found["renewals_needs_attention_tasks"][0].value >= 1
    assert found["renewals_sms_failures_last_hour"][0].value >= 1
    assert str(case.case_id) not in scraped.text and case.customer_phone not in scraped.text


async def test_json_log_lines_carry_the_request_id(settings, engine):
    app = create_app(settings, engine=engine)
    probe_log = logging.getLogger("renewals.probe")

    @app.get("/log-probe")
    async def log_probe() -> dict:
        probe_log.warning("on the event loop")
        await asyncio.to_thread(probe_log.warning, "on a thread")
        return {}

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLines())
    probe_log.addHandler(handler)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
            answered = await client.get("/log-probe", headers={"X-Request-ID": "req-log-1"})
            unnamed = await client.get("/log-probe")
        probe_log.warning("outside a request")
    finally:
        probe_log.removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert answered.headers["X-Request-ID"] == "req-log-1"
    assert [line.get("request_id") for line in lines] == [
        "req-log-1", "req-log-1", unnamed.headers["X-Request-ID"], unnamed.headers["X-Request-ID"], None]


async def test_alerts_and_dashboard_use_metrics_that_exist(sdk_metrics, api: Api):
    rules = alert_rules()
    assert EXPECTED_ALERTS <= {rule["alert"] for rule in rules}
    assert all(rule["annotations"]["summary"] and rule["labels"]["severity"] for rule in rules)
    await api.get("/healthz")  # a request, so the request series exist
    exported = set(samples(sdk_metrics)) | set(samples((await api.get("/metrics")).text))
    used = set()
    for expression in [rule["expr"] for rule in rules] + dashboard_expressions():
        used |= metric_names_in(expression)
    assert used and used <= exported, f"not exported: {sorted(used - exported)}"
