"""The realtime service against a real Kafka broker: queued submissions, audit copies, pushed results, the
results worker, and a broker outage (the sync path still answers, events are flushed when it is back)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from hcml.config import REPO_ROOT

from .conftest import auth, service_env

pytestmark = pytest.mark.kafka

HG00096 = (REPO_ROOT / "data" / "samples" / "HG00096_chr21_region.vcf").read_text()


def _wait(predicate, what: str, seconds: float = 60.0):
    """Wait for an asynchronous effect (a synchronisation guard, not a performance assertion)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _read_topic(bootstrap: str, topic: str) -> list:
    """Every record of `topic` from the beginning (an independent consumer, nothing committed)."""
    from hcml.events.consumer import read_batch

    return read_batch(bootstrap, topic, "hcml-test-reader", {}, max_records=100_000, max_seconds=20).records


def _events(bootstrap: str, topic: str, key: str) -> list:
    from hcml.events.messages import from_kafka

    return [from_kafka(r.key, r.value, r.headers) for r in _read_topic(bootstrap, topic)
            if r.key == key.encode()]


@pytest.fixture(scope="module")
def kafka_client(kafka_bootstrap, rt_env):
    from fastapi.testclient import TestClient

    from realtime.app import create_app

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HCML_KAFKA_BOOTSTRAP", kafka_bootstrap)
        with TestClient(create_app()) as c:
            _wait(lambda: c.get("/readyz").json()["kafka"]["broker_up"], "the publisher to reach the broker")
            rt = c.app.state.runtime
            _wait(lambda: rt.listener.assigned.is_set(), "the results listener's assignment")
            yield c


def test_queued_submission_is_stored_and_announced(kafka_client, kafka_bootstrap, tokens):
    from hcml.events import topics
    from hcml.events.messages import parse_submission
    from hcml.events.pseudonym import pseudonymise
    from hcml.storage import open_store, read_uri

    r = kafka_client.post("/v1/submissions", headers=auth(tokens["clinician"]), json={
        "vcf": HG00096, "patient_id": "MRN-0012345", "department": "genetics", "project": "cardio-panel"})
    assert r.status_code == 202, r.text
    sid = r.json()["submission_id"]
    stored = open_store().uri_for(f"submissions/{sid}/input.vcf")
    assert read_uri(stored).decode() == HG00096
    assert "file://" not in r.text  # the local store's paths are not the caller's business
    events = _wait(lambda: _events(kafka_bootstrap, topics.RAW, sid), "the submission event")
    sub = parse_submission(events[0])
    assert sub.processing == "batch" and sub.input_kind == "vcf"
    assert sub.requester == "test-clinician" and sub.department == "genetics"
    assert sub.patient_pseudonym == pseudonymise("MRN-0012345")
    assert sub.payload is None and read_uri(sub.payload_uri).decode() == HG00096
    assert sub.payload_sha256 == hashlib.sha256(HG00096.encode()).hexdigest()
    raw = [x for x in _read_topic(kafka_bootstrap, topics.RAW) if x.key == sid.encode()][0]
    assert b"MRN-0012345" not in raw.value and all(b"MRN-0012345" not in v for _, v in raw.headers)
    status = kafka_client.get(f"/v1/submissions/{sid}", headers=auth(tokens["clinician"])).json()
    assert status["status"] == "queued"
    # another clinician does not see it; an admin does
    from realtime.auth import mint_dev_token
    from realtime.settings import load_settings

    other = mint_dev_token(load_settings(), "clinician", subject="someone-else")
    assert kafka_client.get(f"/v1/submissions/{sid}", headers=auth(other)).status_code == 404
    assert kafka_client.get(f"/v1/submissions/{sid}", headers=auth(tokens["admin"])).status_code == 200


def test_sync_answers_leave_an_audit_copy_and_a_result_on_kafka(kafka_client, kafka_bootstrap, tokens):
    from hcml.events import topics
    from hcml.events.messages import SOURCE_REALTIME, parse_result, parse_submission

    r = kafka_client.post("/v1/annotate", json={"variants": ["21-25891796-C-T"]}, headers=auth(tokens["clinician"]))
    assert r.status_code == 200
    rid = r.json()["result_id"]
    copy = parse_submission(_wait(lambda: _events(kafka_bootstrap, topics.RAW, rid), "the audit copy")[0])
    assert copy.processing == "realtime" and copy.input_kind == "variants" and copy.payload == "21-25891796-C-T"
    result_event = _wait(lambda: _events(kafka_bootstrap, topics.ANNOTATED, rid), "the result event")[0]
    assert result_event.get_source() == SOURCE_REALTIME
    result = parse_result(result_event)
    assert result.status == "succeeded" and result.summary["n_variants"] == 1
    assert result.provenance["bundle"]["bundle_sha256"] == r.json()["bundle_sha256"]


def test_result_of_a_run_is_pushed_to_the_websocket_and_recorded(kafka_client, kafka_bootstrap, tokens):
    """As the batch pipeline does: a stored report and a result event on genetic-data-annotated."""
    from datetime import UTC, datetime

    from hcml.events import topics
    from hcml.events.messages import SOURCE_DAGSTER, Result, result_event
    from hcml.events.producer import EventProducer
    from hcml.storage import open_store

    from realtime.worker import run as run_worker

    with kafka_client.websocket_connect("/v1/ws") as ws:
        ws.send_json({"type": "auth", "token": tokens["clinician"]})
        assert ws.receive_json()["type"] == "ready"
        ws.send_json({"type": "submit", "ref": "big", "vcf": HG00096, "patient_id": "MRN-7"})
        queued = ws.receive_json()
        assert queued["type"] == "queued" and queued["ref"] == "big", queued
        sid = queued["submission_id"]
        report = {"submission_id": sid, "variants": [{"variant_id": "rs1", "most_severe_consequence": "missense_variant"}],
                  "provenance": {"provenance_sha256": "ab" * 32, "bundle_sha256": "cd" * 32}}
        report_uri = open_store().put(f"reports/{sid}/report.json", json.dumps(report).encode())
        result = Result(submission_id=sid, status="succeeded", summary={"n_variants": 132}, report_uri=report_uri,
                        provenance={"provenance_sha256": "ab" * 32}, run_id="run-123",
                        completed_at=datetime.now(UTC))
        with EventProducer(kafka_bootstrap) as producer:
            producer.send(topics.ANNOTATED, result_event(result, SOURCE_DAGSTER, event_id="run-123:result"))
        pushed = ws.receive_json()
    assert pushed["type"] == "result" and pushed["submission_id"] == sid and pushed["status"] == "succeeded"
    assert pushed["report"] == report and pushed["run_id"] == "run-123"
    status = kafka_client.get(f"/v1/submissions/{sid}", headers=auth(tokens["clinician"])).json()
    assert status["status"] == "succeeded" and status["report"] == report
    prov = kafka_client.get(f"/v1/submissions/{sid}/provenance", headers=auth(tokens["clinician"])).json()
    assert prov["provenance_sha256"] == "ab" * 32 and prov["bundle_sha256"] == "cd" * 32

    # the results worker writes the same record from the topics alone (what another replica reads)
    from realtime import submissions as subs

    record_path = Path(open_store().uri_for(subs.status_key(sid)).removeprefix("file://"))
    record_path.unlink()
    counts = run_worker(kafka_bootstrap, threading.Event(), max_idle_seconds=20)  # ends the run: not a timing check
    assert counts.get("queued", 0) >= 1 and counts.get("succeeded", 0) >= 1, counts
    record = subs.load_persisted(sid)
    assert record["status"] == "succeeded" and record["requester"] == "test-clinician"
    assert record["report_uri"] == report_uri and record["run_id"] == "run-123"


@pytest.fixture
def own_broker(tmp_path: Path):
    """A broker of this test alone, so that it can be stopped and restarted on the same port."""
    from hcml.events.admin import ensure_topics

    script = REPO_ROOT / "scripts" / "kafka.sh"
    directory = tmp_path / "kafka"

    def up() -> str:
        out = subprocess.run(["bash", str(script), "up", str(directory)], capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr[-2000:]
        return out.stdout.strip().splitlines()[-1]

    def down() -> None:
        subprocess.run(["bash", str(script), "down", str(directory)], capture_output=True, timeout=120)

    bootstrap = up()
    ensure_topics(bootstrap)
    try:
        yield bootstrap, up, down
    finally:
        down()


@pytest.mark.slow
def test_broker_outage_sync_path_answers_queue_503_events_flushed_later(own_broker, rt_env, tokens):
    from fastapi.testclient import TestClient

    from hcml.events import topics

    from realtime.app import create_app

    bootstrap, up, down = own_broker
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HCML_KAFKA_BOOTSTRAP", bootstrap)
        with TestClient(create_app()) as c:
            publisher = c.app.state.runtime.publisher
            _wait(lambda: publisher.broker_up, "the publisher to reach the broker")
            down()
            _wait(lambda: not publisher.broker_up, "the publisher to notice the broker is gone")
            result_ids = []
            for _ in range(3):
                r = c.post("/v1/annotate", json={"variants": ["21-25891796-C-T"]}, headers=auth(tokens["clinician"]))
                assert r.status_code == 200
                result_ids.append(r.json()["result_id"])
            assert publisher.depth() >= 6  # 3 audit copies + 3 results, held in the buffer
            q = c.post("/v1/submissions", json={"vcf": HG00096}, headers=auth(tokens["clinician"]))
            assert q.status_code == 503 and int(q.headers["retry-after"]) > 0
            assert c.get("/readyz").status_code == 200  # the service stays ready for the sync path
            assert up() == bootstrap  # same port: the producer reconnects by itself
            _wait(lambda: publisher.depth() == 0 and publisher.broker_up, "the buffered events to be flushed", 120)
            assert publisher.dead_lettered == 0
            for rid in result_ids:
                assert len(_events(bootstrap, topics.ANNOTATED, rid)) == 1
                assert len(_events(bootstrap, topics.RAW, rid)) == 1
            q = c.post("/v1/submissions", json={"vcf": HG00096}, headers=auth(tokens["clinician"]))
            assert q.status_code == 202
