"""Message schemas, pseudonyms and the CloudEvents Kafka binding (no broker needed)."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from hcml.events.messages import (
    INLINE_PAYLOAD_LIMIT, RESULT_TYPE, SOURCE_DAGSTER, SUBMISSION_TYPE, InvalidMessage, Result, from_kafka,
    make_submission, parse_result, parse_submission, result_event, submission_event, to_kafka,
)
from hcml.events.pseudonym import pseudonymise
from hcml.events.topics import MAX_MESSAGE_BYTES
from hcml.storage import LocalStore
from tests.events._support import sample_vcfs


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv("HCML_PSEUDONYM_KEY", "unit-test-key")


def test_pseudonym_is_the_keyed_hmac_and_depends_on_the_key(monkeypatch):
    expected = hmac.new(b"unit-test-key", b"MRN-123", hashlib.sha256).hexdigest()  # RFC 2104 via the stdlib
    assert pseudonymise("MRN-123") == expected
    assert pseudonymise("MRN-124") != expected
    monkeypatch.setenv("HCML_PSEUDONYM_KEY", "another-key")
    assert pseudonymise("MRN-123") != expected
    with pytest.raises(ValueError):
        pseudonymise("  ")


def test_submission_round_trip_in_binary_mode_carries_trace_context():
    vcf = sample_vcfs()["clinvar-app"]
    sub = make_submission(submission_id="abc-1", patient_id="MRN-123", requester="dr.a", department="genetics",
                          project="p", input_kind="vcf", payload=vcf, sample=None)
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    key, value, headers = to_kafka(submission_event(sub, trace={"traceparent": traceparent}))
    hdrs = dict(headers)
    assert key == b"abc-1"
    assert hdrs["ce_type"] == SUBMISSION_TYPE.encode() and hdrs["ce_specversion"] == b"1.0"
    assert hdrs["ce_traceparent"] == traceparent.encode()
    assert hdrs["content-type"] == b"application/json"
    assert b"MRN-123" not in value and all(b"MRN-123" not in v for v in hdrs.values())
    back = parse_submission(from_kafka(key, value, headers))
    assert back == sub
    assert back.payload.encode() == vcf
    assert back.payload_sha256 == hashlib.sha256(vcf).hexdigest()


def test_large_payload_is_stored_and_referenced(tmp_path):
    store = LocalStore(tmp_path)
    big = ("##fileformat=VCFv4.2\n" + "21\t25891796\t.\tC\tT\t.\t.\t.\n" * 20000).encode()
    assert len(big) > INLINE_PAYLOAD_LIMIT
    sub = make_submission(submission_id="big-1", patient_id="P", requester="r", department="d", project="p",
                          input_kind="vcf", payload=big, store=store)
    assert sub.payload is None and store.get(sub.payload_uri) == big
    key, value, headers = to_kafka(submission_event(sub, trace={}))
    assert len(value) < 2000


def test_event_over_one_mebibyte_is_refused():
    result = Result(submission_id="x", status="succeeded", summary={"blob": "A" * MAX_MESSAGE_BYTES},
                    completed_at="2026-01-01T00:00:00Z")
    with pytest.raises(InvalidMessage, match="over the"):
        to_kafka(result_event(result, SOURCE_DAGSTER, trace={}))


@pytest.mark.parametrize("mutate, field", [
    (lambda d: d.pop("department"), "data.department"),
    (lambda d: d.update(patient_pseudonym="MRN-123"), "data.patient_pseudonym"),
    (lambda d: d.update(input_kind="bam"), "data.input_kind"),
    (lambda d: d.update(payload="tampered"), "payload_sha256"),
    (lambda d: d.update(extra_field=1), "data.extra_field"),
    (lambda d: d.update(schema_version=2), "data.schema_version"),
])
def test_invalid_submission_data_names_the_field(mutate, field):
    sub = make_submission(submission_id="v-1", patient_id="P", requester="r", department="d", project="p",
                          input_kind="variants", payload="21-25891796-C-T")
    key, value, headers = to_kafka(submission_event(sub, trace={}))
    data = json.loads(value)
    mutate(data)
    with pytest.raises(InvalidMessage) as err:
        parse_submission(from_kafka(key, json.dumps(data).encode(), headers))
    assert field in err.value.reason


def test_wrong_event_type_and_missing_headers_are_invalid():
    res = Result(submission_id="r-1", status="failed", error="boom", completed_at="2026-01-01T00:00:00Z")
    key, value, headers = to_kafka(result_event(res, SOURCE_DAGSTER, event_id="run-1:result", trace={}))
    event = from_kafka(key, value, headers)
    assert event.get_type() == RESULT_TYPE and event.get_id() == "run-1:result"
    assert parse_result(event).status == "failed"
    with pytest.raises(InvalidMessage, match="ce_type"):
        parse_submission(event)
    with pytest.raises(InvalidMessage, match="ce_source"):
        from_kafka(key, value, [(k, v) for k, v in headers if k != "ce_source"])
    with pytest.raises(InvalidMessage):
        from_kafka(None, None, headers)


def test_development_key_is_created_once_and_kept(monkeypatch, tmp_path):
    monkeypatch.delenv("HCML_PSEUDONYM_KEY")
    monkeypatch.setenv("HCML_DATA_DIR", str(tmp_path))
    with pytest.warns(UserWarning, match="HCML_PSEUDONYM_KEY is not set"):
        first = pseudonymise("MRN-1")
    key_file = tmp_path / "secrets" / "pseudonym.key"
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    key = key_file.read_text().strip()
    assert first == hmac.new(key.encode(), b"MRN-1", hashlib.sha256).hexdigest()
    assert pseudonymise("MRN-1") == first  # stable across calls


def test_structured_mode_events_are_read_too():
    from cloudevents.core.bindings import kafka as ce_kafka
    from cloudevents.core.formats.json import JSONFormat

    sub = make_submission(submission_id="s-1", patient_id="P", requester="r", department="d", project="p",
                          input_kind="variants", payload="21-25891796-C-T")
    message = ce_kafka.to_structured(submission_event(sub, trace={}), JSONFormat())
    assert message.headers["content-type"] == b"application/cloudevents+json"
    assert parse_submission(from_kafka(None, message.value, message.headers)) == sub
