"""Secrets: where Kafka and Redis passwords come from, how they reach the clients, and that no message,
repr or dump shows them.

tests/unit/data/test-client.pem / .key is a throwaway self-signed certificate made for these tests
(`openssl req -x509 -newkey ec ...`); it serves as a CA bundle and as a client certificate.
"""

from __future__ import annotations

import re
import ssl
from pathlib import Path
from typing import Any

import faust
import pytest
import yaml

from stream_guard.adapters.credentials import (
    CredentialsError,
    kafka_security,
    read_password,
    redis_options,
)
from stream_guard.adapters.redis_store import RedisStateStore
from stream_guard.cli.main import main
from stream_guard.core.topology.file import load_topology
from stream_guard.core.topology.redaction import redacted
from stream_guard.core.topology.services import KafkaSpec, RedisSpec
from stream_guard.core.topology.topology import Topology
from stream_guard.errors import ServiceUnreachable, TopologyError
from stream_guard.runtime.app import faust_credentials
from stream_guard.runtime.local_stack import free_port
from stream_guard.runtime.preflight import check_broker, check_redis

SECRET = "s3cret-Pa55"
DATA = Path(__file__).parent / "data"
CERT, KEY = DATA / "test-client.pem", DATA / "test-client.key"
MONITOR = """\
monitors:
  - name: m
    source: {topic: t, timestamp: ts}
    window: {size: 1m}
    features: {x: {type: numeric}}
"""


def topology_file(tmp_path: Path, head: str) -> Path:
    path = tmp_path / "topology.yaml"
    path.write_text(f"version: 1\napp: a\n{head}{MONITOR}", encoding="utf-8")
    return path


def topology(**sections: Any) -> Topology:
    return Topology.model_validate({"version": 1, "app": "a", **sections, "monitors": [
        {"name": "m", "source": {"topic": "t", "timestamp": "ts"}, "window": {"size": "1m"},
         "features": {"x": {"type": "numeric"}}}]})


# the topology file ------------------------------------------------------------------------------

def test_an_inline_kafka_password_is_refused_with_where_to_put_it(tmp_path: Path) -> None:
    path = topology_file(tmp_path, f"kafka:\n  broker: kafka://k:9093\n  sasl:\n    username: sg\n"
                                   f"    password: {SECRET}\n")
    with pytest.raises(TopologyError) as caught:
        load_topology(path)
    assert caught.value.problems == [
        f"{path}:5: kafka.sasl: a password is never written in the topology: name an environment variable "
        "(password_env: NAME) or a file (password_file: PATH) that holds it"]
    assert SECRET not in str(caught.value)


def test_an_inline_redis_password_is_refused(tmp_path: Path) -> None:
    path = topology_file(tmp_path, f"redis: {{url: 'redis://r:6379/0', password: {SECRET}}}\n")
    with pytest.raises(TopologyError) as caught:
        load_topology(path)
    (problem,) = caught.value.problems
    assert problem.startswith(f"{path}:3: redis: a password is never written in the topology")
    assert SECRET not in problem


def test_sasl_needs_one_password_source(tmp_path: Path) -> None:
    path = topology_file(tmp_path, "kafka:\n  sasl: {username: sg}\n")
    with pytest.raises(TopologyError, match=r":4: kafka.sasl: SASL needs a password: password_env"):
        load_topology(path)
    both = topology_file(tmp_path, "kafka:\n  sasl: {username: sg, password_env: A, password_file: /run/a}\n")
    with pytest.raises(TopologyError, match="give password_env or password_file, not both"):
        load_topology(both)


@pytest.mark.parametrize(("value", "problem"), [
    ("!!python/object/apply:os.system ['touch pwned']",
     "the YAML tag tag:yaml.org,2002:python/object/apply:os.system is not allowed; "
     "a topology holds plain mappings, lists and values"),
    ("!!python/object:argparse.Namespace {url: x}",
     "the YAML tag tag:yaml.org,2002:python/object:argparse.Namespace is not allowed; "
     "a topology holds plain mappings, lists and values"),
    ("!!python/name:os.system ''",
     "the YAML tag tag:yaml.org,2002:python/name:os.system is not allowed; "
     "a topology holds plain mappings, lists and values"),
])
def test_a_python_object_tag_is_rejected_with_file_and_line(tmp_path: Path, value: str, problem: str) -> None:
    path = topology_file(tmp_path, f"kafka:\n  broker: {value}\n")
    with pytest.raises(TopologyError) as caught:
        load_topology(path)
    assert caught.value.problems == [f"{path}:4: {problem}"]
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize(("kafka", "protocol"), [
    ({}, "PLAINTEXT"),
    ({"tls": True}, "SSL"),
    ({"sasl": {"username": "sg", "password_env": "P"}}, "SASL_PLAINTEXT"),
    ({"tls": {"ca_file": "/ca.pem"}, "sasl": {"username": "sg", "password_env": "P",
                                              "mechanism": "SCRAM-SHA-512"}}, "SASL_SSL"),
])
def test_the_security_protocol_follows_the_tls_and_sasl_sections(kafka: dict[str, Any], protocol: str) -> None:
    assert KafkaSpec.model_validate(kafka).security_protocol == protocol


def test_the_web_port_binds_to_loopback_unless_configured() -> None:
    assert topology().web.host == "127.0.0.1"


# reading passwords ------------------------------------------------------------------------------

def test_a_password_is_read_from_the_named_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SG_TEST_PASSWORD", SECRET)
    assert read_password(RedisSpec(password_env="SG_TEST_PASSWORD"), "redis") == SECRET


def test_a_password_file_loses_its_trailing_newline(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text(SECRET + "\n")
    assert read_password(RedisSpec(password_file=str(tmp_path / "pw")), "redis") == SECRET


def test_a_missing_variable_or_file_is_named_in_the_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("SG_TEST_PASSWORD", raising=False)
    with pytest.raises(CredentialsError, match="redis.password_env names the environment variable "
                                               "SG_TEST_PASSWORD, which is not set or empty"):
        read_password(RedisSpec(password_env="SG_TEST_PASSWORD"), "redis")
    with pytest.raises(CredentialsError, match=f"kafka.sasl.password_file {tmp_path}/nope: cannot read it "
                                               r"\(No such file or directory\)"):
        read_password(KafkaSpec.model_validate({"sasl": {"username": "u", "password_file": f"{tmp_path}/nope"}})
                      .sasl, "kafka.sasl")  # type: ignore[arg-type]


# redis ------------------------------------------------------------------------------------------

def test_redis_gets_the_password_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SG_TEST_PASSWORD", SECRET)
    spec = RedisSpec(url="rediss://redis:6380/0", password_env="SG_TEST_PASSWORD", ca_file=str(CERT))
    assert redis_options(spec) == {"password": SECRET, "ssl_ca_certs": str(CERT)}
    store = RedisStateStore.for_topology(topology(redis=spec.model_dump(exclude_unset=True) | {"url": spec.url}))
    kwargs = store.client.connection_pool.connection_kwargs
    assert (kwargs["password"], kwargs["ssl_ca_certs"], kwargs["host"], kwargs["port"]) == (
        SECRET, str(CERT), "redis", 6380)


def test_a_password_in_the_redis_url_and_in_the_environment_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SG_TEST_PASSWORD", "other")
    with pytest.raises(CredentialsError) as caught:
        redis_options(RedisSpec(url=f"redis://:{SECRET}@redis:6379/0", password_env="SG_TEST_PASSWORD"))
    assert str(caught.value) == ("the Redis URL redis://:***@redis:6379/0 carries a password and "
                                 "redis.password_env names another; give it once")


def test_a_redis_ca_file_needs_a_tls_url() -> None:
    with pytest.raises(CredentialsError, match="redis.ca_file is set but redis://redis:6379/0 is not a TLS URL"):
        redis_options(RedisSpec(url="redis://redis:6379/0", ca_file=str(CERT)))


# kafka ------------------------------------------------------------------------------------------

def test_sasl_scram_over_tls_reaches_faust_and_kafka_python(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SG_KAFKA_PASSWORD", SECRET)
    security = kafka_security(KafkaSpec.model_validate({
        "broker": "kafka://k1:9093,k2:9093", "tls": {"ca_file": str(CERT)},
        "sasl": {"mechanism": "SCRAM-SHA-256", "username": "sg", "password_env": "SG_KAFKA_PASSWORD"}}))
    credentials = faust_credentials(security)
    assert isinstance(credentials, faust.SASLCredentials)
    assert (credentials.username, credentials.password, credentials.mechanism.value, credentials.protocol.value) == (
        "sg", SECRET, "SCRAM-SHA-256", "SASL_SSL")
    assert isinstance(credentials.ssl_context, ssl.SSLContext)
    options = security.kafka_python()
    assert {k: v for k, v in options.items() if k != "ssl_context"} == {
        "security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-256",
        "sasl_plain_username": "sg", "sasl_plain_password": SECRET}
    assert options["ssl_context"] is credentials.ssl_context
    assert security.broker == "kafka://k1:9093,k2:9093"
    assert SECRET not in repr(security) and SECRET not in repr(credentials)


def test_tls_alone_gives_faust_ssl_credentials_with_a_client_certificate() -> None:
    security = kafka_security(KafkaSpec.model_validate({
        "tls": {"ca_file": str(CERT), "cert_file": str(CERT), "key_file": str(KEY)}}))
    credentials = faust_credentials(security)
    assert isinstance(credentials, faust.SSLCredentials)
    assert credentials.context.verify_mode == ssl.CERT_REQUIRED and credentials.context.check_hostname
    assert security.kafka_python() == {"security_protocol": "SSL", "ssl_context": credentials.context}


def test_plaintext_gives_faust_no_credentials() -> None:
    security = kafka_security(KafkaSpec())
    assert faust_credentials(security) is None
    assert security.kafka_python() == {"security_protocol": "PLAINTEXT"}


def test_a_login_in_the_broker_url_is_sasl_plain_and_leaves_the_url() -> None:
    security = kafka_security(KafkaSpec(broker=f"kafka://sg:{SECRET}@k1:9092,k2:9092"))
    assert (security.broker, security.protocol, security.mechanism, security.username, security.password) == (
        "kafka://k1:9092,k2:9092", "SASL_PLAINTEXT", "PLAIN", "sg", SECRET)


def test_an_unreadable_ca_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(CredentialsError, match=f"kafka.tls: cannot load {tmp_path}/ca.pem"):
        kafka_security(KafkaSpec.model_validate({"tls": {"ca_file": f"{tmp_path}/ca.pem"}}))


# nothing shows the password ---------------------------------------------------------------------

@pytest.mark.parametrize(("url", "shown"), [
    (f"redis://:{SECRET}@redis:6379/0", "redis://:***@redis:6379/0"),
    (f"rediss://default:{SECRET}@redis:6380/0", "rediss://default:***@redis:6380/0"),
    (f"redis://redis:6379/0?password={SECRET}", "redis://redis:6379/0?password=***"),
    (f"kafka://sg:{SECRET}@k1:9092,k2:9092", "kafka://sg:***@k1:9092,k2:9092"),
    ("redis://redis:6379/0", "redis://redis:6379/0"),
    (f"redis://:p@ss{SECRET}@redis:6379/0", "redis://:***@redis:6379/0"),
])
def test_redacted_hides_every_password_form(url: str, shown: str) -> None:
    assert redacted(url) == shown


def test_the_topology_repr_and_dumps_hide_url_passwords() -> None:
    loaded = topology(kafka={"broker": f"kafka://sg:{SECRET}@k:9092"}, redis={"url": f"redis://:{SECRET}@r:6379/0"})
    for text in (repr(loaded), str(loaded), repr(loaded.redis), loaded.model_dump_json(), str(loaded.model_dump())):
        assert SECRET not in text
    assert "redis://:***@r:6379/0" in loaded.model_dump_json()
    assert loaded.redis.url == f"redis://:{SECRET}@r:6379/0"  # the clients still get it


def test_an_unreachable_redis_is_named_without_its_password() -> None:
    url = f"redis://:{SECRET}@127.0.0.1:{free_port()}/0"
    with pytest.raises(ServiceUnreachable) as caught:
        check_redis(url, timeout=1)
    message = str(caught.value)
    assert message.startswith(f"cannot reach Redis at {redacted(url)} (")
    assert SECRET not in message


def test_an_unreachable_broker_is_named_without_its_password() -> None:
    url = f"kafka://sg:{SECRET}@127.0.0.1:{free_port()}"
    with pytest.raises(ServiceUnreachable) as caught:
        check_broker(url, timeout=1)
    assert str(caught.value).startswith("cannot reach the Kafka broker at kafka://sg:***@127.0.0.1:")
    assert SECRET not in str(caught.value)


def test_the_cli_prints_no_password_when_redis_is_unreachable(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    path = topology_file(tmp_path, "")
    monkeypatch.setenv("SG_REDIS", f"redis://:{SECRET}@127.0.0.1:{free_port()}/0")
    assert main(["history", str(path)]) == 1
    captured = capsys.readouterr()
    assert "cannot reach Redis at redis://:***@127.0.0.1:" in captured.err
    assert SECRET not in captured.out + captured.err


def test_the_cli_names_an_unset_password_variable(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    path = topology_file(tmp_path, "redis: {url: 'redis://127.0.0.1:1/0', password_env: SG_TEST_UNSET}\n")
    monkeypatch.delenv("SG_TEST_UNSET", raising=False)
    assert main(["history", str(path)]) == 1
    assert capsys.readouterr().err == ("stream-guard: redis.password_env names the environment variable "
                                       "SG_TEST_UNSET, which is not set or empty; export it before starting "
                                       "stream-guard\n")


# the documentation ------------------------------------------------------------------------------

def test_the_secrets_examples_of_the_deploy_readme_are_valid_topology_sections() -> None:
    text = (Path(__file__).resolve().parents[2] / "deploy" / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Secrets"):]
    blocks = [yaml.safe_load(block) for block in re.findall(r"```yaml\n(.*?)```", section, re.S)]
    assert [sorted(block) for block in blocks] == [["kafka"], ["redis"]]
    kafka = KafkaSpec.model_validate(blocks[0]["kafka"])
    assert (kafka.security_protocol, kafka.sasl and kafka.sasl.mechanism) == ("SASL_SSL", "SCRAM-SHA-512")
    redis_spec = RedisSpec.model_validate(blocks[1]["redis"])
    assert (redis_spec.password_env, redis_spec.url.startswith("rediss://")) == ("SG_REDIS_PASSWORD", True)


def test_the_worker_app_gets_the_sasl_credentials_and_a_broker_url_without_the_login(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

    from stream_guard.runtime.app import build_app

    monkeypatch.setenv("SG_KAFKA_PASSWORD", SECRET)
    loaded = topology(kafka={"broker": "kafka://k1:9093", "tls": {"ca_file": str(CERT)},
                             "sasl": {"username": "sg", "password_env": "SG_KAFKA_PASSWORD"}})
    app, _ = build_app(loaded, web_port=free_port(), datadir=str(tmp_path))
    assert [str(url) for url in app.conf.broker] == ["kafka://k1:9093"]
    auth = credentials_to_aiokafka_auth(app.conf.broker_credentials)
    assert {k: v for k, v in auth.items() if k != "ssl_context"} == {
        "security_protocol": "SASL_SSL", "sasl_mechanism": "PLAIN",
        "sasl_plain_username": "sg", "sasl_plain_password": SECRET}
    assert isinstance(auth["ssl_context"], ssl.SSLContext)
