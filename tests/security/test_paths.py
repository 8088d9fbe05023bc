"""Paths: a path step as an id is a 404, never a 500; nothing the service answers names a file on its disk
or its broker's address to a caller who is not an admin."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from .conftest import raw_http, server_token, start_server, status_of, stop_server

STEPS = ["..", "%2e%2e", "%2E%2E", ".", "%2e", "..%2f..%2fetc", "...", "a..b"]


@pytest.mark.parametrize("step", STEPS)
@pytest.mark.parametrize("template", ["/v1/submissions/{}", "/v1/submissions/{}/provenance", "/v1/results/{}",
                                      "/v1/results/{}/provenance"])
def test_path_steps_as_ids_are_not_found(server, template, step):
    token = server_token(server, "clinician")
    answer = raw_http(server, (f"GET {template.format(step)} HTTP/1.1\r\nHost: hcml\r\nConnection: close\r\n"
                               f"Authorization: Bearer {token}\r\n\r\n").encode())
    status = status_of(answer)
    assert status in (400, 404), answer[:400]  # raw, un-normalised request target: what httpx would clean up
    assert b"Traceback" not in answer and b"internal error" not in answer


def test_subscribing_to_a_path_step_answers_the_documented_error_and_keeps_the_socket(server):
    from websockets.sync.client import connect

    with connect(server.url.replace("http", "ws") + "/v1/ws") as ws:
        ws.send(json.dumps({"type": "auth", "token": server_token(server, "clinician")}))
        assert json.loads(ws.recv(timeout=30))["type"] == "ready"
        for step in ("..", ".", "../../etc/passwd", "%2e%2e"):
            ws.send(json.dumps({"type": "subscribe", "ref": step, "submission_id": step}))
            frame = json.loads(ws.recv(timeout=30))
            assert frame["type"] == "error" and frame["status"] == 404 and frame["ref"] == step, frame
        ws.send(json.dumps({"type": "annotate", "ref": "still-open", "variants": ["21-25891796-C-T"]}))
        while (frame := json.loads(ws.recv(timeout=60)))["type"] != "result":
            assert frame["type"] == "progress", frame
        assert frame["ref"] == "still-open"


def _no_local_detail(text: str, data_dir: Path) -> None:
    assert "file://" not in text and str(data_dir) not in text and "/tmp" not in text, text[:500]


def test_readiness_shows_no_paths_or_broker_addresses_unless_admin(tmp_path, bundle_dir):
    """A missing model directory and an unreachable broker: their texts name a path and an address."""
    closed_port = "127.0.0.1:1"
    srv = start_server(tmp_path, bundle_dir, tmp_path / "server.log", HCML_KAFKA_BOOTSTRAP=closed_port,
                       HCML_MODEL_DIR=str(tmp_path / "no-such-model-dir"))
    try:
        admin = server_token(srv, "admin")
        full = {}
        for _ in range(100):  # the publisher reports its broker error once it has tried (a hang guard)
            full = httpx.get(f"{srv.url}/readyz", headers={"Authorization": f"Bearer {admin}"}, timeout=30).json()
            if full["kafka"].get("last_error"):
                break
            import time

            time.sleep(0.2)
        admin_text = json.dumps(full)
        # the admin's view carries the detail (the test below is not vacuous)
        assert "127.0.0.1" in admin_text or "no-such-model-dir" in admin_text, admin_text
        for headers in ({}, {"Authorization": f"Bearer {server_token(srv, 'clinician')}"},
                        {"Authorization": "Bearer not-a-token"}):
            public = httpx.get(f"{srv.url}/readyz", headers=headers, timeout=30)
            assert public.status_code == 200
            body = public.json()
            _no_local_detail(public.text, tmp_path)
            assert "127.0.0.1" not in public.text and "no-such-model-dir" not in public.text
            assert body["ready"] is True and "kafka" in body
    finally:
        stop_server(srv)


def test_submission_answers_name_no_file_on_the_server(server, monkeypatch):
    """A submission record as the batch pipeline leaves it in the (local, file://) object store."""
    from hcml.storage import open_store
    from realtime import submissions as subs
    from tests.realtime.conftest import SERVICE_VARS

    for name in SERVICE_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HCML_DATA_DIR", str(server.data_dir))  # the server's own store
    store = open_store()
    sid = "0123456789abcdef0123456789abcdef"
    input_uri = store.put(f"submissions/{sid}/input.vcf", b"##fileformat=VCFv4.2\n")
    report = {"provenance": {"input_uri": input_uri, "bundle_sha256": "cd" * 32}, "variants": []}
    report_uri = store.put(f"reports/{sid}/report.json", json.dumps(report).encode())
    assert input_uri.startswith("file://") and report_uri.startswith("file://")  # the store this test needs
    subs.persist({"submission_id": sid, "status": "succeeded", "requester": "dev-clinician",
                  "input_uri": input_uri, "report_uri": report_uri, "provenance": {"input_uri": input_uri}})
    headers = {"Authorization": f"Bearer {server_token(server, 'clinician')}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as http:
        status = http.get(f"/v1/submissions/{sid}")
        prov = http.get(f"/v1/submissions/{sid}/provenance")
    assert status.status_code == 200 and prov.status_code == 200, (status.text, prov.text)
    assert status.json()["status"] == "succeeded" and status.json()["report"]["variants"] == []
    assert prov.json()["bundle_sha256"] == "cd" * 32
    for answer in (status, prov):
        _no_local_detail(answer.text, server.data_dir)
