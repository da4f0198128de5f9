"""The deployment files agree with each other and with the real CLI: checked statically, no Docker needed.

docker-compose.yml, deploy/Dockerfile and deploy/topology.yaml are read as text/YAML; every command a
stream_guard container runs goes through the real argument parser, and the mounted topology through
the real topology loader.
"""

from __future__ import annotations

import argparse
import functools
import json
import re
import shlex
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from stream_guard.cli.main import build_parser, main
from stream_guard.core.topology.file import load_topology
from stream_guard.core.topology.topology import Topology

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "deploy" / "Dockerfile"
DEPLOY_TOPOLOGY = REPO / "deploy" / "topology.yaml"
MOUNTED_AT = "/etc/stream-guard/topology.yaml"

SERVICES = {"kafka", "kafka-init", "redis", "worker-1", "worker-2", "demo-producer"}
STREAM_GUARD_SERVICES = {"worker-1", "worker-2", "demo-producer"}
WORKERS = {"worker-1": 6066, "worker-2": 6067}  # service -> host port of its /status


# helpers ----------------------------------------------------------------------------------------

@functools.cache
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def service(name: str) -> dict[str, Any]:
    svc = compose()["services"][name]
    assert isinstance(svc, dict)
    return svc


def argv(command: str | list[str]) -> list[str]:
    """A compose `command` as the argument list the container's entrypoint receives."""
    return shlex.split(command) if isinstance(command, str) else [str(part) for part in command]


def parsed(name: str) -> argparse.Namespace:
    """The service's command through the real `stream-guard` parser (argparse exits 2 on a bad flag)."""
    args = argv(service(name)["command"])
    try:
        return build_parser().parse_args(args)
    except SystemExit as exc:  # pragma: no cover - the failure message is the point
        pytest.fail(f"{name}: `stream-guard {shlex.join(args)}` is rejected by the CLI parser (exit {exc.code})")


def mounts(svc: dict[str, Any]) -> dict[str, tuple[str, bool]]:
    """Container path -> (host source, read-only) for short (`src:dst[:ro]`) and long volume syntax."""
    out: dict[str, tuple[str, bool]] = {}
    for volume in svc.get("volumes", []):
        if isinstance(volume, str):
            parts = volume.split(":")
            source, target = parts[0], parts[1]
            read_only = len(parts) > 2 and "ro" in parts[2].split(",")
        else:
            source, target, read_only = volume["source"], volume["target"], bool(volume.get("read_only"))
        out[target] = (source, read_only)
    return out


def port_mappings(svc: dict[str, Any]) -> list[tuple[int, int]]:
    """(host port, container port) for short (`[ip:]host:container[/proto]`) and long port syntax."""
    out: list[tuple[int, int]] = []
    for port in svc.get("ports", []):
        if isinstance(port, dict):
            out.append((int(port["published"]), int(port["target"])))
        else:
            parts = str(port).split("/")[0].split(":")
            assert len(parts) >= 2, f"port {port!r} publishes no fixed host port"
            out.append((int(parts[-2]), int(parts[-1])))
    return out


def environment(svc: dict[str, Any]) -> dict[str, str]:
    env = svc.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def mounted_topology_source(name: str) -> Path:
    source, read_only = mounts(service(name))[MOUNTED_AT]
    assert read_only, f"{name}: the topology must be mounted read-only"
    return (COMPOSE.parent / source).resolve()


@functools.cache
def deploy_topology() -> Topology:
    return load_topology(DEPLOY_TOPOLOGY)


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, with `\\` continuations joined and comments dropped."""
    logical: list[str] = []
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    return [(text.split(None, 1)[0].upper(), text.split(None, 1)[1].strip()) for text in logical]


def kafka_init_topics() -> dict[str, int]:
    """Topic -> partitions for every `kafka-topics.sh --create` line of the kafka-init command."""
    script = "\n".join(argv(service("kafka-init")["command"]))
    topics: dict[str, int] = {}
    for line in script.splitlines():
        words = shlex.split(line)
        if not words or not words[0].endswith("kafka-topics.sh") or "--create" not in words:
            continue
        topic = words[words.index("--topic") + 1]
        assert topic not in topics, f"kafka-init creates {topic} twice"
        topics[topic] = int(words[words.index("--partitions") + 1])
    return topics


# compose ----------------------------------------------------------------------------------------

def test_compose_has_exactly_the_six_services() -> None:
    assert set(compose()["services"]) == SERVICES


def test_stream_guard_services_are_built_from_the_deploy_dockerfile() -> None:
    built = {name for name, svc in compose()["services"].items()
             if isinstance(svc.get("build"), dict) and svc["build"].get("dockerfile") == "deploy/Dockerfile"}
    assert built == STREAM_GUARD_SERVICES
    for name in STREAM_GUARD_SERVICES:
        assert (COMPOSE.parent / service(name)["build"]["context"]).resolve() == REPO


@pytest.mark.parametrize("name", sorted(STREAM_GUARD_SERVICES))
def test_every_stream_guard_command_is_accepted_by_the_real_cli_parser(name: str) -> None:
    args = parsed(name)
    expected = "_produce" if name == "demo-producer" else "_worker"
    assert args.run.__name__ == expected
    assert str(args.topology) == MOUNTED_AT


def test_worker_commands_are_exactly_the_documented_ones() -> None:
    for name in WORKERS:
        assert argv(service(name)["command"]) == ["worker", MOUNTED_AT, "--web-host", "0.0.0.0", "--web-port", "6066"]
    assert argv(service("demo-producer")["command"]) == [
        "produce", MOUNTED_AT, "/data/events.jsonl", "--rate", "500"]


def test_worker_web_port_is_the_container_port_of_its_port_mappings() -> None:
    for name, host_port in WORKERS.items():
        web_port = parsed(name).web_port
        assert web_port == deploy_topology().web.port == 6066
        assert parsed(name).web_host == deploy_topology().web.host == "0.0.0.0"
        assert port_mappings(service(name)) == [(host_port, web_port)]
        health = " ".join(service(name)["healthcheck"]["test"])
        assert f"127.0.0.1:{web_port}/status" in health


def test_stream_guard_services_get_the_broker_and_redis_of_the_compose_network() -> None:
    for name in STREAM_GUARD_SERVICES:
        env = environment(service(name))
        broker = urlsplit(env["SG_BROKER"])
        assert (broker.scheme, broker.hostname, broker.port) == ("kafka", "kafka", 9092)
        if name in WORKERS:
            assert env["SG_REDIS"] == "redis://redis:6379/0"
    assert "PLAINTEXT://kafka:9092" in environment(service("kafka"))["KAFKA_ADVERTISED_LISTENERS"].split(",")


def test_workers_wait_for_the_topics_and_a_healthy_redis() -> None:
    for name in WORKERS:
        assert service(name)["depends_on"] == {
            "kafka-init": {"condition": "service_completed_successfully"},
            "redis": {"condition": "service_healthy"},
        }
    assert service("demo-producer")["depends_on"]["kafka-init"] == {"condition": "service_completed_successfully"}
    assert "healthcheck" in service("redis")
    assert service("kafka-init")["depends_on"] == {"kafka": {"condition": "service_healthy"}}


def test_the_producer_reads_its_events_from_a_mounted_directory_documented_as_demo_output() -> None:
    events = Path(parsed("demo-producer").events)
    assert str(events.parent) in mounts(service("demo-producer"))
    assert "stream-guard demo --events-out" in COMPOSE.read_text(encoding="utf-8")


# the mounted topology ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(STREAM_GUARD_SERVICES))
def test_the_mounted_topology_is_the_repo_file_and_loads(name: str) -> None:
    source = mounted_topology_source(name)
    assert source == DEPLOY_TOPOLOGY.resolve()
    assert source.is_file()
    assert isinstance(load_topology(source), Topology)


def test_the_deploy_topology_validates_and_listens_on_every_interface(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(DEPLOY_TOPOLOGY)]) == 0
    assert capsys.readouterr().out == f"{DEPLOY_TOPOLOGY}: ok (1 monitor, 6 features)\n"
    topology = deploy_topology()
    assert (topology.web.host, topology.web.port) == ("0.0.0.0", 6066)
    assert topology.kafka.broker == "kafka://kafka:9092"
    assert topology.redis.url == "redis://redis:6379/0"


def test_the_deploy_topology_watches_what_the_demo_topology_watches() -> None:
    demo = load_topology(REPO / "topologies" / "demo.yaml")
    topology = deploy_topology()
    assert topology.app == demo.app
    assert topology.monitors == demo.monitors
    assert topology.alerts == demo.alerts
    assert topology.state == demo.state


# kafka, kafka-init, redis -----------------------------------------------------------------------

def test_kafka_is_a_single_kraft_node() -> None:
    kafka = service("kafka")
    env = environment(kafka)
    assert kafka["image"] == "apache/kafka:3.8.0"
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"{env['KAFKA_NODE_ID']}@kafka:9093"
    assert env["KAFKA_CONTROLLER_LISTENER_NAMES"] == "CONTROLLER"
    assert set(env["KAFKA_LISTENERS"].split(",")) == {"PLAINTEXT://:9092", "CONTROLLER://:9093"}
    assert "zookeeper" not in json.dumps(kafka).lower()


def test_kafka_init_creates_exactly_the_topics_of_the_topology() -> None:
    topology = deploy_topology()
    wanted = {m.source.topic: m.source.partitions for m in topology.monitors}
    wanted.update({topology.alerts.topic: 1, topology.alerts.dead_letter_topic: 1})
    assert kafka_init_topics() == wanted == {
        "fraud.features": 3, "stream-guard.alerts": 1, "stream-guard.dead-letters": 1}
    assert service("kafka-init")["image"] == service("kafka")["image"]


def test_redis_runs_with_aof_on_a_named_volume() -> None:
    redis = service("redis")
    assert redis["image"] == "redis:7"
    assert "--appendonly yes" in " ".join(argv(redis["command"]))
    source, _ = mounts(redis)["/data"]
    assert source in compose()["volumes"]


# Dockerfile -------------------------------------------------------------------------------------

def test_dockerfile_entrypoint_is_stream_guard_and_exposes_the_web_port() -> None:
    instructions = dockerfile_instructions()
    assert instructions[0] == ("FROM", "python:3.11-slim")
    entrypoints = [args for op, args in instructions if op == "ENTRYPOINT"]
    assert [json.loads(args) for args in entrypoints] == [["stream-guard"]]
    exposed = {int(port.split("/")[0]) for op, args in instructions if op == "EXPOSE" for port in args.split()}
    assert exposed == {deploy_topology().web.port}


def test_dockerfile_installs_the_package_and_runs_as_a_non_root_user() -> None:
    instructions = dockerfile_instructions()
    assert any(op == "RUN" and re.search(r"\bpip install \.(\s|$)", args) for op, args in instructions)
    users = [args for op, args in instructions if op == "USER"]
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    for op, args in instructions:
        if op == "COPY" and not args.startswith("--from"):
            for source in args.split()[:-1]:
                assert (REPO / source).exists(), f"COPY {source}: not in the repository"
