"""Client-controlled text never reaches the logs: a token or patient id in a URL's query, a malformed
`tracestate`, the Kafka client's own lines (through the JSON handler and its redaction, not plain stderr).
And the audit log is not readable by other users of the machine."""

from __future__ import annotations

import json
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .conftest import Server, server_token, start_server, stop_server

PATIENT = "MRN-7700112"


def _wait_for(predicate, what: str, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds  # a hang guard: the lines are written just after the answers
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"no {what} within {seconds} s")


def test_a_token_in_a_websocket_or_request_url_is_not_logged(server):
    from websockets.sync.client import connect

    token = server_token(server, "clinician")
    with connect(f"{server.url.replace('http', 'ws')}/v1/ws?token={token}&patient={PATIENT}") as ws:
        ws.send(json.dumps({"type": "auth", "token": token}))
        assert json.loads(ws.recv(timeout=30))["type"] == "ready"
    assert httpx.get(f"{server.url}/v1/whoami?access_token={token}&mrn={PATIENT}",
                     headers={"Authorization": f"Bearer {token}"}, timeout=30).status_code == 200
    _wait_for(lambda: "/v1/whoami" in server.logs() and "/v1/ws" in server.logs(), "access lines")
    logs = server.logs()
    assert "/v1/ws" in logs and "/v1/whoami" in logs  # the lines are there (access log on), without the query
    for secret in (token, token.split(".")[2], PATIENT):
        assert secret not in logs


@pytest.mark.parametrize("tracestate", [f"{PATIENT} bad member", f"vendor={PATIENT}\t,=x", "a" * 600 + PATIENT,
                                        ",".join(f"k{i}=v" for i in range(40)) + f",{PATIENT}"])
def test_a_malformed_tracestate_is_not_logged_with_its_value(server, tracestate):
    headers = {"Authorization": f"Bearer {server_token(server, 'clinician')}", "tracestate": tracestate,
               "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
    r = httpx.post(f"{server.url}/v1/annotate", json={"variants": ["21-25891796-C-T"]}, headers=headers, timeout=30)
    assert r.status_code == 200
    _wait_for(lambda: "[client value redacted]" in server.logs() or PATIENT in server.logs(), "the warning")
    assert PATIENT not in server.logs()


@pytest.fixture(scope="module")
def broker_down_server(tmp_path_factory: pytest.TempPathFactory, bundle_dir: Path) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("broker-down")
    srv = start_server(data_dir, bundle_dir, data_dir / "server.log", HCML_KAFKA_BOOTSTRAP="127.0.0.1:1")
    try:
        yield srv
    finally:
        stop_server(srv)


def test_the_kafka_clients_lines_go_through_the_json_handler(broker_down_server):
    server = broker_down_server
    _wait_for(lambda: "hcml.kafka.client" in server.logs(), "librdkafka line through Python logging", 60)
    lines = [x for x in server.logs().splitlines() if x.strip()]
    plain = [x for x in lines if not x.startswith("{")]
    assert not plain, plain[:5]  # librdkafka's own format is '%3|1700000000.123|FAIL|rdkafka#producer-1| ...'
    records = [json.loads(x) for x in lines]
    kafka = [r for r in records if r.get("logger") == "hcml.kafka.client"]
    assert kafka and all(r.get("service") == "realtime" for r in kafka)


def test_the_audit_log_is_readable_by_its_owner_only(server):
    assert httpx.get(f"{server.url}/v1/whoami", timeout=30).status_code == 401  # one audit line at least
    path = server.data_dir / "realtime" / "audit.jsonl"
    _wait_for(path.exists, "audit log")
    mode = stat.S_IMODE(path.stat().st_mode)
    assert mode & 0o007 == 0 and mode & 0o022 == 0, oct(mode)  # no access for others, no group write
