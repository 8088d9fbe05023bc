"""Kafka security settings (TLS, SASL) for every hcml Kafka client: `hcml.events.kafka_config`.

The mapping from HCML_KAFKA_* variables to librdkafka settings and its errors are checked without a broker;
SASL and mutual TLS against one real broker (scripts/kafka.sh with HCML_KAFKA_SASL_USERS and
HCML_KAFKA_TLS_LISTENER: a SASL_PLAINTEXT listener with PLAIN and SCRAM-SHA-256, an SSL listener that
requires a client certificate): produce + consume through the hcml clients with the right credentials,
a clear authentication error with a wrong password or certificate, and the password in no error or log.
"""

from __future__ import annotations

import logging
import re
import secrets
import shutil
import subprocess
import tempfile
import threading
import uuid
from pathlib import Path

import pytest

from hcml.config import REPO_ROOT
from hcml.events import topics
from hcml.events.kafka_config import (
    CLIENT_LOGGER, KafkaAuthenticationError, KafkaConfigError, client_config, describe, security_config,
)

ALL_VARIABLES = [
    "HCML_KAFKA_SECURITY_PROTOCOL", "HCML_KAFKA_SASL_MECHANISM", "HCML_KAFKA_SASL_USERNAME",
    "HCML_KAFKA_SASL_USERNAME_FILE", "HCML_KAFKA_SASL_PASSWORD", "HCML_KAFKA_SASL_PASSWORD_FILE",
    "HCML_KAFKA_SSL_CA_LOCATION", "HCML_KAFKA_SSL_CERTIFICATE_LOCATION", "HCML_KAFKA_SSL_KEY_LOCATION",
]
SECRET = "Sup3r-Secret-" + secrets.token_hex(6)  # a password no message may ever contain


@pytest.fixture
def env(monkeypatch):
    """A clean slate of the security variables; returns a setter."""
    for name in ALL_VARIABLES:
        monkeypatch.delenv(name, raising=False)

    def set_(**values: str) -> None:
        for name, value in values.items():
            monkeypatch.setenv(name, value)

    return set_


def _files(tmp_path: Path) -> dict[str, str]:
    out = {}
    for name in ("ca.crt", "user.crt", "user.key"):
        (tmp_path / name).write_text(f"-----BEGIN {name}-----\n")
        out[name] = str(tmp_path / name)
    return out


# ------------------------------------------------------------------------------------------- mapping
def test_default_is_plaintext_with_only_the_bootstrap_and_the_clients_own_settings(env):
    assert security_config() == {}
    logger = logging.getLogger(CLIENT_LOGGER)  # librdkafka's lines through the JSON handler, not stderr
    assert client_config("b:9092") == {"bootstrap.servers": "b:9092", "logger": logger}
    # the client's own keys come on top, never dropped
    assert client_config("b:9092", **{"client.id": "x", "acks": "all"}) == {
        "bootstrap.servers": "b:9092", "logger": logger, "client.id": "x", "acks": "all"}


def test_sasl_ssl_with_scram_and_a_ca(env, tmp_path):
    files = _files(tmp_path)
    env(HCML_KAFKA_SECURITY_PROTOCOL="sasl_ssl", HCML_KAFKA_SASL_MECHANISM="SCRAM-SHA-512",
        HCML_KAFKA_SASL_USERNAME="hcml-dagster", HCML_KAFKA_SASL_PASSWORD=SECRET,
        HCML_KAFKA_SSL_CA_LOCATION=files["ca.crt"])
    assert client_config("k:9093", **{"group.id": "g"}) == {
        "bootstrap.servers": "k:9093", "security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "hcml-dagster", "sasl.password": SECRET, "ssl.ca.location": files["ca.crt"],
        "group.id": "g", "logger": logging.getLogger(CLIENT_LOGGER)}


def test_mutual_tls_as_a_strimzi_kafkauser_secret_provides(env, tmp_path):
    files = _files(tmp_path)
    env(HCML_KAFKA_SECURITY_PROTOCOL="SSL", HCML_KAFKA_SSL_CA_LOCATION=files["ca.crt"],
        HCML_KAFKA_SSL_CERTIFICATE_LOCATION=files["user.crt"], HCML_KAFKA_SSL_KEY_LOCATION=files["user.key"])
    assert security_config() == {"security.protocol": "SSL", "ssl.ca.location": files["ca.crt"],
                                 "ssl.certificate.location": files["user.crt"],
                                 "ssl.key.location": files["user.key"]}


def test_credentials_from_mounted_secret_files(env, tmp_path):
    (tmp_path / "username").write_text("hcml-realtime\n")
    (tmp_path / "password").write_text(SECRET + "\n")  # kubectl-created secrets often end in a newline
    env(HCML_KAFKA_SECURITY_PROTOCOL="SASL_PLAINTEXT", HCML_KAFKA_SASL_MECHANISM="plain",
        HCML_KAFKA_SASL_USERNAME_FILE=str(tmp_path / "username"),
        HCML_KAFKA_SASL_PASSWORD_FILE=str(tmp_path / "password"))
    assert security_config() == {"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN",
                                 "sasl.username": "hcml-realtime", "sasl.password": SECRET}


def test_settings_are_read_when_called_not_at_import(env):
    assert "sasl.password" not in client_config("b:1")
    env(HCML_KAFKA_SECURITY_PROTOCOL="SASL_PLAINTEXT", HCML_KAFKA_SASL_MECHANISM="PLAIN",
        HCML_KAFKA_SASL_USERNAME="u", HCML_KAFKA_SASL_PASSWORD=SECRET)
    assert client_config("b:1")["sasl.password"] == SECRET


def test_describe_hides_the_password():
    shown = describe({"sasl.password": SECRET, "sasl.username": "u", "error_cb": print})
    assert shown == {"sasl.password": "***", "sasl.username": "u"}


INCONSISTENT = [
    ({"HCML_KAFKA_SECURITY_PROTOCOL": "SASL_TLS"}, "HCML_KAFKA_SECURITY_PROTOCOL"),
    ({"HCML_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "HCML_KAFKA_SASL_USERNAME": "u",
      "HCML_KAFKA_SASL_PASSWORD": SECRET}, "HCML_KAFKA_SASL_MECHANISM"),
    ({"HCML_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "HCML_KAFKA_SASL_MECHANISM": "GSSAPI",
      "HCML_KAFKA_SASL_USERNAME": "u", "HCML_KAFKA_SASL_PASSWORD": SECRET}, "HCML_KAFKA_SASL_MECHANISM"),
    ({"HCML_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "HCML_KAFKA_SASL_MECHANISM": "PLAIN",
      "HCML_KAFKA_SASL_PASSWORD": SECRET}, "HCML_KAFKA_SASL_USERNAME"),
    ({"HCML_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "HCML_KAFKA_SASL_MECHANISM": "PLAIN",
      "HCML_KAFKA_SASL_USERNAME": "u"}, "HCML_KAFKA_SASL_PASSWORD"),
    # credentials given but the protocol left at PLAINTEXT: refused rather than silently unauthenticated
    ({"HCML_KAFKA_SASL_MECHANISM": "PLAIN", "HCML_KAFKA_SASL_USERNAME": "u",
      "HCML_KAFKA_SASL_PASSWORD": SECRET}, "HCML_KAFKA_SASL_MECHANISM"),
    ({"HCML_KAFKA_SECURITY_PROTOCOL": "SSL", "HCML_KAFKA_SASL_PASSWORD": SECRET}, "HCML_KAFKA_SASL_PASSWORD"),
    ({"HCML_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "HCML_KAFKA_SASL_MECHANISM": "PLAIN",
      "HCML_KAFKA_SASL_USERNAME": "u", "HCML_KAFKA_SASL_PASSWORD": SECRET,
      "HCML_KAFKA_SSL_CA_LOCATION": "{ca.crt}"}, "HCML_KAFKA_SSL_CA_LOCATION"),
    ({"HCML_KAFKA_SECURITY_PROTOCOL": "SSL", "HCML_KAFKA_SSL_CERTIFICATE_LOCATION": "{user.crt}"},
     "HCML_KAFKA_SSL_KEY_LOCATION"),
    ({"HCML_KAFKA_SECURITY_PROTOCOL": "SSL", "HCML_KAFKA_SSL_KEY_LOCATION": "{user.key}"},
     "HCML_KAFKA_SSL_CERTIFICATE_LOCATION"),
    ({"HCML_KAFKA_SECURITY_PROTOCOL": "SSL", "HCML_KAFKA_SSL_CA_LOCATION": "/nonexistent/ca.crt"},
     "HCML_KAFKA_SSL_CA_LOCATION"),
    ({"HCML_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "HCML_KAFKA_SASL_MECHANISM": "PLAIN",
      "HCML_KAFKA_SASL_USERNAME": "u", "HCML_KAFKA_SASL_PASSWORD": SECRET,
      "HCML_KAFKA_SASL_PASSWORD_FILE": "{password}"}, "HCML_KAFKA_SASL_PASSWORD_FILE"),
    ({"HCML_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "HCML_KAFKA_SASL_MECHANISM": "PLAIN",
      "HCML_KAFKA_SASL_USERNAME": "u", "HCML_KAFKA_SASL_PASSWORD_FILE": "/nonexistent/password"},
     "HCML_KAFKA_SASL_PASSWORD_FILE"),
]


@pytest.mark.parametrize("values, names", INCONSISTENT, ids=[f"case{i}" for i in range(len(INCONSISTENT))])
def test_inconsistent_settings_are_refused_naming_the_variable_never_the_password(env, tmp_path, values, names, caplog):
    files = _files(tmp_path)
    (tmp_path / "password").write_text(SECRET)
    files["password"] = str(tmp_path / "password")
    env(**{k: files[v[1:-1]] if v.startswith("{") else v for k, v in values.items()})
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(KafkaConfigError) as raised:
            client_config("b:9092")
    message = str(raised.value)
    assert names in message
    assert SECRET not in message and SECRET not in repr(raised.value) and SECRET not in caplog.text


def test_every_kafka_client_builds_its_config_through_client_config():
    """No module outside kafka_config.py spells `bootstrap.servers`: every producer, consumer and admin
    client (hcml/, realtime/, sensors/, the observability lag probe) gets the security settings."""
    offenders = []
    for folder in ("hcml", "realtime", "sensors", "assets", "resources", "hcml_dagster"):
        for path in (REPO_ROOT / folder).rglob("*.py"):
            if path.name == "kafka_config.py":
                continue
            if re.search(r"""["']bootstrap\.servers["']""", path.read_text(encoding="utf-8")):
                offenders.append(str(path.relative_to(REPO_ROOT)))
    assert offenders == []


def test_client_builders_carry_the_security_settings(env):
    from hcml.events.consumer import consumer_config
    from hcml.events.producer import producer_config
    from realtime.events import producer_config as realtime_producer_config

    env(HCML_KAFKA_SECURITY_PROTOCOL="SASL_PLAINTEXT", HCML_KAFKA_SASL_MECHANISM="SCRAM-SHA-256",
        HCML_KAFKA_SASL_USERNAME="u", HCML_KAFKA_SASL_PASSWORD=SECRET)
    for config in (producer_config("b:1"), consumer_config("b:1", "g"), realtime_producer_config("b:1")):
        assert (config["security.protocol"], config["sasl.mechanism"], config["sasl.password"]) == (
            "SASL_PLAINTEXT", "SCRAM-SHA-256", SECRET)
    # the producer's own guarantees survive
    assert producer_config("b:1")["enable.idempotence"] is True and producer_config("b:1")["acks"] == "all"


# --------------------------------------------------------------------------- real broker, SASL listener
USER = "hcml-test"
PASSWORD = "pw-" + secrets.token_hex(12)


@pytest.fixture(scope="module")
def sasl_broker():
    """A real broker with a SASL_PLAINTEXT listener (PLAIN + SCRAM-SHA-256, user USER / PASSWORD) and an SSL
    listener (client certificate required; CA and client files in DIR/tls) beside its PLAINTEXT one;
    yields (plaintext bootstrap, SASL bootstrap, directory). Always stopped."""
    import os

    from hcml.events.admin import ensure_topics

    script = str(REPO_ROOT / "scripts" / "kafka.sh")
    directory = Path(tempfile.mkdtemp(prefix="hcml-kafka-sasl-"))
    env = {**os.environ, "HCML_KAFKA_SASL_USERS": f"{USER}:{PASSWORD},other:{secrets.token_hex(8)}",
           "HCML_KAFKA_TLS_LISTENER": "1"}
    try:
        up = subprocess.run(["bash", script, "up", str(directory)], capture_output=True, text=True, env=env,
                            timeout=300)
        assert up.returncode == 0, up.stderr[-3000:]
        assert PASSWORD not in up.stdout + up.stderr
        plain = up.stdout.strip().splitlines()[-1]
        sasl = (directory / "sasl_bootstrap").read_text().strip()
        ensure_topics(plain)
        yield plain, sasl, directory
    finally:
        subprocess.run(["bash", script, "down", str(directory)], capture_output=True, text=True, timeout=120)
        shutil.rmtree(directory, ignore_errors=True)


def _login(env, mechanism: str, password: str, username: str = USER) -> None:
    env(HCML_KAFKA_SECURITY_PROTOCOL="SASL_PLAINTEXT", HCML_KAFKA_SASL_MECHANISM=mechanism,
        HCML_KAFKA_SASL_USERNAME=username, HCML_KAFKA_SASL_PASSWORD=password,
        HCML_PSEUDONYM_KEY="test-key-" + uuid.uuid4().hex)


def _submission(n: int):
    from hcml.events.messages import SOURCE_CLI, make_submission, submission_event

    sub = make_submission(patient_id=f"MRN-SASL-{n}", requester="dr.sasl", department="genetics",
                          project="security", input_kind="variants", payload="21-25891796-C-T")
    return sub, submission_event(sub, SOURCE_CLI)



@pytest.mark.kafka
@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256"])
def test_produce_and_consume_through_the_sasl_listener(sasl_broker, env, mechanism, capfd, caplog):
    from hcml.events.admin import describe_topics
    from hcml.events.consumer import end_offsets, read_batch
    from hcml.events.messages import from_kafka, parse_submission
    from hcml.events.producer import EventProducer
    from hcml.observability import record_group_lag

    _, sasl, _ = sasl_broker
    _login(env, mechanism, PASSWORD)
    with caplog.at_level(logging.DEBUG):
        assert set(describe_topics(sasl)) == set(topics.TOPICS)  # admin client
        start = end_offsets(sasl, topics.RAW)
        sent = [_submission(i) for i in range(3)]
        with EventProducer(sasl) as producer:
            delivered = producer.send_many(topics.RAW, [event for _, event in sent])
        assert len(delivered) == 3
        batch = read_batch(sasl, topics.RAW, topics.GROUP_SUBMISSIONS_SENSOR, start, max_seconds=30)
        got = sorted(parse_submission(from_kafka(r.key, r.value, r.headers)).submission_id for r in batch.records)
        assert got == sorted(sub.submission_id for sub, _ in sent)
        # the lag probe (hcml.observability) logs in too: the group never committed, so every record lags
        assert record_group_lag(sasl, f"hcml-test-lag-{uuid.uuid4().hex[:6]}", [topics.RAW])[topics.RAW] >= 3
    out, err = capfd.readouterr()
    assert PASSWORD not in out + err + caplog.text


@pytest.mark.kafka
def test_the_realtime_publisher_and_listener_log_in(sasl_broker, env, tmp_path):
    """realtime/events.py builds its producer and its results consumer through client_config too."""
    from hcml.events.consumer import end_offsets, read_batch
    from realtime.events import EventPublisher, ResultsListener

    _, sasl, _ = sasl_broker
    _login(env, "SCRAM-SHA-256", PASSWORD)
    got_one = threading.Event()
    listener = ResultsListener(sasl, topics.ANNOTATED, f"hcml-test-listener-{uuid.uuid4().hex[:6]}",
                               on_result=lambda event: got_one.set(), parse=lambda value, headers: {"v": value})
    publisher = EventPublisher(sasl, outbox_dir=tmp_path / "outbox")
    listener.start()
    try:
        assert listener.assigned.wait(60), "the results listener never saw the topic's partitions"
        start = end_offsets(sasl, topics.ANNOTATED)
        publisher.start()
        keys = []
        # the listener starts at the end of the topic: publish until it has read one (it may start reading
        # just after the first publication)
        for _ in range(60):
            keys.append(f"sasl-{uuid.uuid4().hex}".encode())
            assert publisher.offer(topics.ANNOTATED, b'{"not": "a result"}', key=keys[-1],
                                   headers=[("content-type", b"application/json")])
            if got_one.wait(1.0):
                break
        assert got_one.is_set(), f"the listener read nothing; publisher: {publisher.status()}"
        batch = read_batch(sasl, topics.ANNOTATED, topics.GROUP_CLI_TAIL, start, max_seconds=30,
                           max_records=len(keys))
        assert keys[0] in [r.key for r in batch.records]  # the publisher's producer logged in and delivered
    finally:
        publisher.stop(flush_seconds=1)
        listener.stop()


@pytest.mark.kafka
@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256"])
def test_a_wrong_password_is_a_clear_authentication_error_without_the_password(
        sasl_broker, env, mechanism, capfd, caplog):
    from hcml.events.admin import ensure_topics
    from hcml.events.consumer import read_batch
    from hcml.events.producer import AuthenticationFailed, DeliveryError, EventProducer

    _, sasl, _ = sasl_broker
    wrong = PASSWORD[:-4] + "xxxx"
    _login(env, mechanism, wrong)
    with caplog.at_level(logging.DEBUG):
        with EventProducer(sasl) as producer:
            with pytest.raises(AuthenticationFailed) as produced:
                # 120 s send timeout: the refusal ends the wait, the generic timeout DeliveryError is not raised
                producer.send(topics.RAW, _submission(99)[1], timeout=120)
        assert isinstance(produced.value, DeliveryError)  # callers that handle DeliveryError still do
        with pytest.raises(KafkaAuthenticationError) as consumed:
            read_batch(sasl, topics.RAW, topics.GROUP_SUBMISSIONS_SENSOR, {}, max_seconds=5)
        with pytest.raises(KafkaAuthenticationError) as administered:
            ensure_topics(sasl, timeout=5)
    messages = [str(e.value) for e in (produced, consumed, administered)]
    for message in messages:
        assert "Authentication failed" in message or "authentication" in message.lower()
    assert "SASL authentication error" in messages[0]
    out, err = capfd.readouterr()
    everything = "\n".join(messages) + out + err + caplog.text
    assert wrong not in everything and PASSWORD not in everything


@pytest.mark.kafka
def test_the_right_password_of_another_user_is_refused(sasl_broker, env):
    """The broker checks the pair, not just the password: USER's password under the other user fails."""
    from hcml.events.producer import AuthenticationFailed, EventProducer

    _, sasl, _ = sasl_broker
    _login(env, "PLAIN", PASSWORD, username="other")
    with EventProducer(sasl) as producer, pytest.raises(AuthenticationFailed):
        producer.send(topics.RAW, _submission(100)[1], timeout=120)


@pytest.mark.kafka
def test_the_broker_config_keeps_the_passwords_private(sasl_broker):
    _, _, directory = sasl_broker
    assert (directory / "server.properties").stat().st_mode & 0o077 == 0


# ------------------------------------------------------------------------ real broker, mutual TLS listener
def _tls(env, tls: Path, ca: Path | None = None, client: Path | None = None) -> None:
    env(HCML_KAFKA_SECURITY_PROTOCOL="SSL", HCML_KAFKA_SSL_CA_LOCATION=str(ca or tls / "ca.crt"),
        HCML_PSEUDONYM_KEY="test-key-" + uuid.uuid4().hex)
    if client is not None:
        env(HCML_KAFKA_SSL_CERTIFICATE_LOCATION=str(client / "client.crt"),
            HCML_KAFKA_SSL_KEY_LOCATION=str(client / "client.key"))


@pytest.fixture(scope="module")
def foreign_ca():
    """Another CA and a client certificate it signed (nothing the broker trusts), made with openssl."""
    directory = Path(tempfile.mkdtemp(prefix="hcml-foreign-ca-"))
    try:
        for args in (["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
                      "-days", "1", "-subj", "/CN=foreign-ca"],
                     ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "client.key", "-out", "client.csr",
                      "-subj", "/CN=foreign-client"],
                     ["x509", "-req", "-in", "client.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                      "-out", "client.crt", "-days", "1"]):
            subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True, timeout=60)
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.mark.kafka
def test_produce_and_consume_with_mutual_tls(sasl_broker, env):
    from hcml.events.admin import describe_topics
    from hcml.events.consumer import end_offsets, read_batch
    from hcml.events.messages import from_kafka, parse_submission
    from hcml.events.producer import EventProducer

    _, _, directory = sasl_broker
    tls = (directory / "ssl_bootstrap").read_text().strip()
    _tls(env, directory / "tls", client=directory / "tls")
    assert set(describe_topics(tls)) == set(topics.TOPICS)
    start = end_offsets(tls, topics.RAW)
    sub, event = _submission(200)
    with EventProducer(tls) as producer:
        producer.send(topics.RAW, event)
    batch = read_batch(tls, topics.RAW, topics.GROUP_SUBMISSIONS_SENSOR, start, max_seconds=30)
    assert [parse_submission(from_kafka(r.key, r.value, r.headers)).submission_id for r in batch.records] == [
        sub.submission_id]


@pytest.mark.kafka
@pytest.mark.parametrize("case", ["no client certificate", "broker not signed by our CA",
                                  "client certificate of another CA"])
def test_a_refused_tls_handshake_is_a_clear_error(sasl_broker, env, foreign_ca, case):
    from hcml.events.consumer import read_batch
    from hcml.events.producer import AuthenticationFailed, EventProducer

    _, _, directory = sasl_broker
    tls, ours = (directory / "ssl_bootstrap").read_text().strip(), directory / "tls"
    if case == "no client certificate":
        _tls(env, ours)
    elif case == "broker not signed by our CA":
        _tls(env, ours, ca=foreign_ca / "ca.crt", client=ours)
    else:
        _tls(env, ours, client=foreign_ca)
    with EventProducer(tls) as producer, pytest.raises(AuthenticationFailed) as produced:
        producer.send(topics.RAW, _submission(201)[1], timeout=120)
    with pytest.raises(KafkaAuthenticationError) as consumed:
        read_batch(tls, topics.RAW, topics.GROUP_SUBMISSIONS_SENSOR, {}, max_seconds=5)
    for message in (str(produced.value), str(consumed.value)):
        assert "SSL" in message
        if case == "broker not signed by our CA":
            assert "certificate verify failed" in message


# ----------------------------------------------------------------------------------------- deployment
def test_every_deployed_kafka_client_gets_the_hcml_kafka_secret():
    """The realtime service, the results worker, the Dagster code location, daemon, run and step pods all
    take their Kafka security variables from the one Secret `hcml-kafka` (each key a variable)."""
    import yaml

    for path in ("realtime/deploy/knative-service.yaml", "realtime/deploy/results-worker.yaml"):
        doc = yaml.safe_load((REPO_ROOT / path).read_text())
        (container,) = doc["spec"]["template"]["spec"]["containers"]
        assert "HCML_KAFKA_BOOTSTRAP" in {e["name"] for e in container["env"]}, path
        assert {"secretRef": {"name": "hcml-kafka", "optional": True}} in container.get("envFrom", []), path
    values = yaml.safe_load((REPO_ROOT / "deploy/helm/values.yaml").read_text())
    for deployment in values["dagster-user-deployments"]["deployments"]:
        assert {"name": "hcml-kafka"} in deployment["envSecrets"], deployment["name"]
    assert {"name": "hcml-kafka"} in values["runLauncher"]["config"]["k8sRunLauncher"]["envSecrets"]
    assert {"name": "hcml-kafka"} in values["dagsterDaemon"]["envSecrets"]
    instance = yaml.safe_load((REPO_ROOT / "deploy/dagster/dagster.yaml").read_text())
    assert "hcml-kafka" in instance["run_launcher"]["config"]["env_secrets"]
    executor = yaml.safe_load((REPO_ROOT / "deploy/dagster/k8s_job_executor.yaml").read_text())
    assert "hcml-kafka" in executor["execution"]["config"]["env_secrets"]


# ------------------------------------------------------------------------------------ the command line
def test_the_cli_says_which_setting_is_wrong_in_one_line(env):
    from click.testing import CliRunner

    from hcml.events.cli import kafka

    env(HCML_KAFKA_SECURITY_PROTOCOL="SASL_SSL", HCML_KAFKA_SASL_USERNAME="u", HCML_KAFKA_SASL_PASSWORD=SECRET)
    result = CliRunner().invoke(kafka, ["topics", "--bootstrap", "127.0.0.1:9"])
    assert result.exit_code == 1
    assert "HCML_KAFKA_SASL_MECHANISM" in result.output and "Traceback" not in result.output
    assert SECRET not in result.output


@pytest.mark.kafka
def test_the_cli_reports_a_refused_login_in_one_line(sasl_broker, env, tmp_path):
    from click.testing import CliRunner

    from hcml.events.cli import kafka

    _, sasl, _ = sasl_broker
    wrong = "wrong-" + secrets.token_hex(8)
    _login(env, "SCRAM-SHA-256", wrong)
    variants = tmp_path / "variants.txt"
    variants.write_text("21-25891796-C-T\n")
    result = CliRunner().invoke(kafka, ["produce", str(variants), "--bootstrap", sasl, "--kind", "variants",
                                        "--patient-id", "MRN-CLI-1", "--requester", "dr.a",
                                        "--department", "genetics", "--project", "p"])
    assert result.exit_code == 1, result.output
    assert "Authentication failed" in result.output and "Traceback" not in result.output
    assert wrong not in result.output and "MRN-CLI-1" not in result.output
