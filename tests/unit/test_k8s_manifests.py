"""The Kubernetes manifests of deploy/k8s, checked statically: no cluster needed.

Every object is validated against the Kubernetes OpenAPI schema bundled by `kubernetes-validate`
(strict: unknown fields fail), then checked against each other (selectors, named ports, probes),
against the image (deploy/Dockerfile), the real CLI parser and the real topology loader.
"""

from __future__ import annotations

import argparse
import functools
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml

from stream_guard.cli.main import build_parser
from stream_guard.core.topology.file import load_topology
from stream_guard.core.topology.topology import Topology

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
DEPLOY_TOPOLOGY = REPO / "deploy" / "topology.yaml"
COMPOSE = REPO / "docker-compose.yml"
KUBERNETES_VERSION = "1.30.0"  # the oldest release still supported upstream when these were written
MANIFESTS = ["configmap.yaml", "deployment.yaml", "service.yaml", "pdb.yaml", "hpa.yaml"]
KINDS = {
    "ConfigMap": "v1", "Deployment": "apps/v1", "Service": "v1",
    "PodDisruptionBudget": "policy/v1", "HorizontalPodAutoscaler": "autoscaling/v2",
}
WORKER_STOP_BOUND_S = 15  # tests/integration/test_live_path.py asserts a worker exits within this after SIGTERM


# helpers ----------------------------------------------------------------------------------------

@functools.cache
def objects() -> dict[str, dict[str, Any]]:
    """kind -> the one object of that kind, from every manifest the kustomization lists."""
    out: dict[str, dict[str, Any]] = {}
    for name in kustomization()["resources"]:
        for document in yaml.safe_load_all((K8S / name).read_text(encoding="utf-8")):
            if document is None:
                continue
            assert document["kind"] not in out, f"{name}: a second {document['kind']}"
            out[document["kind"]] = document
    return out


@functools.cache
def kustomization() -> dict[str, Any]:
    data = yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def deployment() -> dict[str, Any]:
    return objects()["Deployment"]


def pod_spec() -> dict[str, Any]:
    spec: dict[str, Any] = deployment()["spec"]["template"]["spec"]
    return spec


def worker_container() -> dict[str, Any]:
    (container,) = pod_spec()["containers"]
    assert isinstance(container, dict)
    return container


def worker_args() -> argparse.Namespace:
    args = [str(part) for part in worker_container()["args"]]
    try:
        return build_parser().parse_args(args)
    except SystemExit as exc:  # pragma: no cover - the failure message is the point
        pytest.fail(f"`stream-guard {shlex.join(args)}` is rejected by the CLI parser (exit {exc.code})")


def env() -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in worker_container()["env"]}


def container_port(name_or_number: str | int) -> int:
    for port in worker_container()["ports"]:
        if name_or_number in (port["name"], port["containerPort"]):
            return int(port["containerPort"])
    raise AssertionError(f"the worker container has no port {name_or_number!r}")


@functools.cache
def deploy_topology() -> Topology:
    return load_topology(DEPLOY_TOPOLOGY)


def configmap_topology(tmp_path: Path) -> Topology:
    path = tmp_path / "topology.yaml"
    path.write_text(objects()["ConfigMap"]["data"]["topology.yaml"], encoding="utf-8")
    return load_topology(path)


def kafka_init_partitions() -> dict[str, int]:
    compose = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    script = "\n".join(compose["services"]["kafka-init"]["command"])
    found = re.findall(r"--topic (\S+) --partitions (\d+)", script)
    return {topic: int(n) for topic, n in found}


def dockerfile_user() -> str:
    users = re.findall(r"^USER\s+(\S+)", (REPO / "deploy" / "Dockerfile").read_text(encoding="utf-8"), re.M)
    return str(users[-1])


# schema -----------------------------------------------------------------------------------------

def test_the_kustomization_lists_every_manifest_in_the_directory() -> None:
    assert kustomization()["apiVersion"] == "kustomize.config.k8s.io/v1beta1"
    assert kustomization()["resources"] == MANIFESTS
    on_disk = sorted(p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")
    assert on_disk == sorted(MANIFESTS)


def test_each_manifest_holds_one_object_of_the_expected_kind_and_api_version() -> None:
    assert {kind: obj["apiVersion"] for kind, obj in objects().items()} == KINDS


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_object_validates_against_its_kubernetes_schema(kind: str) -> None:
    obj = objects()[kind]
    try:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:  # pragma: no cover - the message is the point
        pytest.fail(f"{kind}: {exc.message} at {'.'.join(map(str, exc.path))}")


def test_the_schema_check_rejects_an_unknown_field() -> None:
    broken = {**objects()["PodDisruptionBudget"]}
    broken["spec"] = {**broken["spec"], "maxUnavailble": 1}
    with pytest.raises(kubernetes_validate.ValidationError, match="maxUnavailble"):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_every_object_carries_the_worker_labels_and_a_name() -> None:
    for kind, obj in objects().items():
        assert obj["metadata"]["labels"] == {"app.kubernetes.io/name": "stream-guard",
                                             "app.kubernetes.io/component": "worker"}, kind
        assert obj["metadata"]["name"].startswith("stream-guard"), kind


# the topology -----------------------------------------------------------------------------------

def test_the_configmap_topology_is_the_deploy_topology(tmp_path: Path) -> None:
    text = objects()["ConfigMap"]["data"]["topology.yaml"]
    assert yaml.safe_load(text) == yaml.safe_load(DEPLOY_TOPOLOGY.read_text(encoding="utf-8"))
    assert configmap_topology(tmp_path) == deploy_topology()


def test_the_configmap_is_mounted_where_the_worker_reads_its_topology() -> None:
    topology_path = Path(str(worker_args().topology))
    (volume,) = [v for v in pod_spec()["volumes"] if "configMap" in v]
    assert volume["configMap"]["name"] == objects()["ConfigMap"]["metadata"]["name"]
    (item,) = volume["configMap"]["items"]
    assert item["key"] in objects()["ConfigMap"]["data"]
    (mount,) = [m for m in worker_container()["volumeMounts"] if m["name"] == volume["name"]]
    assert mount["readOnly"] is True
    assert Path(mount["mountPath"]) / item["path"] == topology_path


# the deployment ---------------------------------------------------------------------------------

def test_two_workers_run_the_worker_command_through_the_real_cli_parser() -> None:
    assert deployment()["spec"]["replicas"] == 2
    args = worker_args()
    assert args.run.__name__ == "_worker"
    assert str(args.topology) == "/etc/stream-guard/topology.yaml"
    assert "command" not in worker_container(), "the image's entrypoint is `stream-guard`; give args only"


def test_the_worker_listens_on_every_interface_on_its_container_port() -> None:
    args = worker_args()
    assert args.web_host == "0.0.0.0"
    assert args.web_port == container_port("web") == deploy_topology().web.port == 6066
    # without the flags the CLI falls back on the topology, which says the same
    assert (deploy_topology().web.host, deploy_topology().web.port) == ("0.0.0.0", 6066)


def test_the_image_is_the_deploy_dockerfile_build_at_the_package_version() -> None:
    version = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    compose = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    compose_image = compose["x-stream-guard"]["image"]
    assert compose["x-stream-guard"]["build"]["dockerfile"] == "deploy/Dockerfile"
    assert worker_container()["image"] == f"{compose_image.split(':')[0]}:{version}"
    (override,) = kustomization()["images"]
    assert (override["name"], override["newTag"]) == (compose_image.split(":")[0], version)


def test_the_pod_runs_as_the_dockerfile_user_without_privileges() -> None:
    security = pod_spec()["securityContext"]
    assert security["runAsNonRoot"] is True
    assert str(security["runAsUser"]) == dockerfile_user() == "10001"
    container = worker_container()["securityContext"]
    assert container == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                         "capabilities": {"drop": ["ALL"]}}
    # a read-only root needs a writable /tmp: the worker's scratch directory is made there
    assert {m["mountPath"] for m in worker_container()["volumeMounts"]} >= {"/tmp"}


def test_the_broker_comes_from_sg_broker_and_the_redis_password_from_a_secret() -> None:
    variables = env()
    assert urlsplit(variables["SG_BROKER"]["value"]).netloc == "kafka:9092"
    assert variables["SG_REDIS_PASSWORD"]["valueFrom"] == {
        "secretKeyRef": {"name": "stream-guard-redis", "key": "password"}}
    redis_url = urlsplit(variables["SG_REDIS"]["value"])
    assert (redis_url.scheme, redis_url.hostname, redis_url.port) == ("redis", "redis", 6379)
    assert redis_url.password == "$(SG_REDIS_PASSWORD)"
    # Kubernetes expands $(VAR) only from variables defined earlier in the list
    names = list(variables)
    assert names.index("SG_REDIS_PASSWORD") < names.index("SG_REDIS")
    assert all("value" not in item or "PASSWORD" not in item["name"] for item in variables.values())


def test_probes_ask_for_status_on_the_web_port() -> None:
    container = worker_container()
    for probe in ("readinessProbe", "livenessProbe"):
        http = container[probe]["httpGet"]
        assert http["path"] == "/status"
        assert container_port(http["port"]) == worker_args().web_port


def test_requests_and_limits_are_set_and_requests_fit_in_limits() -> None:
    resources = worker_container()["resources"]
    assert set(resources) == {"requests", "limits"}
    assert set(resources["requests"]) == set(resources["limits"]) == {"cpu", "memory"}
    assert cpu(resources["requests"]["cpu"]) <= cpu(resources["limits"]["cpu"])
    assert memory(resources["requests"]["memory"]) <= memory(resources["limits"]["memory"])


def test_the_grace_period_outlasts_the_worker_shutdown_and_a_session_timeout() -> None:
    grace = pod_spec()["terminationGracePeriodSeconds"]
    assert grace > WORKER_STOP_BOUND_S + deploy_topology().kafka.session_timeout / 1000


def cpu(quantity: str) -> float:
    return float(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


def memory(quantity: str) -> int:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    return int(quantity[:-2]) * units[quantity[-2:]] if quantity[-2:] in units else int(quantity)


# service, disruption budget, autoscaler ---------------------------------------------------------

def test_the_service_selects_the_worker_pods_and_exposes_the_named_web_port() -> None:
    service = objects()["Service"]
    pod_labels = deployment()["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"] == deployment()["spec"]["selector"]["matchLabels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    (port,) = service["spec"]["ports"]
    assert port["name"] == "web" and port["targetPort"] == "web"
    assert container_port(port["targetPort"]) == port["port"] == worker_args().web_port


def test_the_service_is_annotated_for_prometheus_scraping_of_metrics() -> None:
    annotations = objects()["Service"]["metadata"]["annotations"]
    assert annotations == {"prometheus.io/scrape": "true", "prometheus.io/port": str(worker_args().web_port),
                           "prometheus.io/path": "/metrics"}


def test_the_disruption_budget_lets_one_worker_go_at_a_time() -> None:
    pdb = objects()["PodDisruptionBudget"]["spec"]
    assert pdb["maxUnavailable"] == 1
    assert pdb["selector"] == deployment()["spec"]["selector"]


def test_the_autoscaler_scales_the_deployment_on_consumer_lag() -> None:
    hpa = objects()["HorizontalPodAutoscaler"]["spec"]
    target = hpa["scaleTargetRef"]
    assert (target["apiVersion"], target["kind"], target["name"]) == (
        deployment()["apiVersion"], "Deployment", deployment()["metadata"]["name"])
    (metric,) = hpa["metrics"]
    assert metric["type"] == "External"
    assert metric["external"]["metric"]["name"] == "stream_guard_consumer_lag"
    source = deploy_topology().monitors[0].source.topic
    assert metric["external"]["metric"]["selector"] == {"matchLabels": {"topic": source}}
    assert metric["external"]["target"]["type"] == "AverageValue"
    assert hpa["minReplicas"] <= deployment()["spec"]["replicas"] <= hpa["maxReplicas"]


def test_the_autoscaler_never_runs_more_workers_than_source_partitions() -> None:
    hpa = objects()["HorizontalPodAutoscaler"]["spec"]
    topology = deploy_topology()
    partitions = min(m.source.partitions for m in topology.monitors)
    assert hpa["maxReplicas"] == partitions == kafka_init_partitions()[topology.monitors[0].source.topic] == 3
    assert deployment()["spec"]["strategy"]["rollingUpdate"]["maxSurge"] == 0
