"""The first hop of a submission's trace, through the real realtime app and the real broker: the caller's
W3C `traceparent` -> the API's server span -> the CloudEvent on genetic-data-raw (`ce_traceparent`)."""

from __future__ import annotations

import time

import pytest

from hcml.config import REPO_ROOT
from tests.realtime.conftest import SERVICE_VARS, auth

pytestmark = pytest.mark.kafka

VCF = (REPO_ROOT / "data" / "samples" / "HG00096_chr21_region.vcf").read_text()
CALLER_TRACE = "0af7651916cd43dd8448eb211c80319c"
CALLER = f"00-{CALLER_TRACE}-b7ad6b7169203331-01"


def _until(what, check, seconds=60.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def app_client(kafka_bootstrap, bundle_dir, tmp_path_factory):
    from fastapi.testclient import TestClient

    from realtime.app import create_app
    from realtime.auth import mint_dev_token
    from realtime.settings import load_settings

    with pytest.MonkeyPatch.context() as mp:
        for key in SERVICE_VARS:
            mp.delenv(key, raising=False)
        mp.setenv("HCML_DATA_DIR", str(tmp_path_factory.mktemp("trace-realtime")))
        mp.setenv("HCML_BUNDLE_DIR", str(bundle_dir))
        mp.setenv("HCML_PSEUDONYM_KEY", "trace-test-key")
        mp.setenv("HCML_KAFKA_BOOTSTRAP", kafka_bootstrap)
        token = mint_dev_token(load_settings(), "clinician", subject="trace-clinician")
        with TestClient(create_app()) as client:
            _until("the publisher to reach the broker", lambda: client.get("/readyz").json()["kafka"]["broker_up"])
            yield client, token


def test_queued_submission_event_continues_the_callers_trace(app_client, kafka_bootstrap):
    from hcml.events import topics
    from hcml.events.consumer import read_batch
    from hcml.events.messages import from_kafka

    client, token = app_client
    response = client.post("/v1/submissions", json={"vcf": VCF, "department": "genetics"},
                           headers={**auth(token), "traceparent": CALLER})
    assert response.status_code == 202, response.text
    assert response.headers["traceparent"].split("-")[1] == CALLER_TRACE
    submission_id = response.json()["submission_id"]

    def event():
        batch = read_batch(kafka_bootstrap, topics.RAW, "hcml-test-trace-reader", {}, max_records=100_000,
                           max_seconds=5)
        for record in batch.records:
            if record.key == submission_id.encode():
                return record
        return None

    record = _until("the submission event on genetic-data-raw", event)
    headers = dict(record.headers)
    assert headers["ce_traceparent"].decode().split("-")[1] == CALLER_TRACE
    # the event's parent span is the API's server span, not the caller's span
    assert headers["ce_traceparent"].decode().split("-")[2] != CALLER.split("-")[2]
    event_attributes = from_kafka(record.key, record.value, list(record.headers)).get_attributes()
    assert event_attributes["traceparent"] == headers["ce_traceparent"].decode()
