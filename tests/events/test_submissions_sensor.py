"""The Kafka submissions sensor against the real broker: run requests, replay, dead letters, cursor."""

from __future__ import annotations

import json

import dagster as dg
import pytest

from hcml.events import topics
from hcml.events.consumer import dump_cursor, end_offsets, parse_cursor, read_batch
from hcml.events.messages import SOURCE_REALTIME, make_submission, submission_event
from hcml.events.producer import DLQ_ORIGIN, DLQ_REASON, EventProducer
from resources import tags
from resources import StorageResource
from sensors.kafka_resource import KafkaResource
from sensors.kafka_submissions import kafka_submissions
from tests.events._support import read_store_uri, sample_vcfs, vcf_submission_events

pytestmark = pytest.mark.kafka


def _tick(instance, bootstrap, cursor, store_root):
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, sensor_name="kafka_submissions",
        resources={"kafka": KafkaResource(bootstrap=bootstrap, max_seconds_per_tick=15),
                   "storage": StorageResource(local_root=str(store_root))},
    )
    result = kafka_submissions(context)
    return result


def test_three_vcf_submissions_become_three_run_requests(kafka_env, tmp_path):
    bootstrap = kafka_env
    start = end_offsets(bootstrap, topics.RAW)
    subs = vcf_submission_events("s3")
    with EventProducer(bootstrap) as producer:
        delivered = producer.send_many(topics.RAW, [e for _, e in subs])
    expected_keys = {f"{topics.RAW}:{d.partition}:{d.offset}" for d in delivered}  # from the broker's acks

    with dg.instance_for_test() as instance:
        result = _tick(instance, bootstrap, dump_cursor(start), tmp_path / "store")
        assert isinstance(result, dg.SensorResult)
        requests = result.run_requests
        assert {r.run_key for r in requests} == expected_keys
        by_sub = {r.tags[tags.SUBMISSION_ID]: r for r in requests}
        assert set(by_sub) == {s.submission_id for s, _ in subs}
        originals = sample_vcfs()
        for i, (sub, _) in enumerate(subs):
            req = by_sub[sub.submission_id]
            assert req.partition_key == sub.submission_id
            assert req.tags[tags.DEPARTMENT] == ["genetics", "oncology", "genetics"][i]
            assert req.tags[tags.PROJECT] == f"proj-{i}"
            assert req.tags[tags.USER] == f"dr.{i}"
            assert req.tags[tags.ANALYSIS] == "sample_report"
            config = req.run_config["ops"]["sample_variants"]["config"]
            assert config["submission_id"] == sub.submission_id
            # the run carries a pointer, and the stored input is byte-identical to the real VCF
            name = sub.submission_id.removeprefix("s3-")
            assert read_store_uri(config["source_uri"]) == originals[name]
            assert "MRN" not in json.dumps(req.run_config) + json.dumps(req.tags)
        (add,) = result.dynamic_partitions_requests
        assert add.partitions_def_name == "samples"
        assert set(add.partition_keys) == set(by_sub)
        # the cursor moved exactly past the acknowledged offsets
        cursor = parse_cursor(result.cursor)
        for d in delivered:
            assert cursor[d.partition] >= d.offset + 1
        assert sum(cursor.values()) - sum(start.values()) == 3

        # a replayed tick (same cursor) asks for exactly the same run keys
        replay = _tick(instance, bootstrap, dump_cursor(start), tmp_path / "store")
        assert [r.run_key for r in replay.run_requests] == [r.run_key for r in requests]
        assert replay.cursor == result.cursor
        # and the next tick from the new cursor has nothing to do
        idle = _tick(instance, bootstrap, result.cursor, tmp_path / "store")
        assert not idle.run_requests and idle.cursor == result.cursor


def test_malformed_and_invalid_messages_go_to_the_dlq_and_do_not_block(kafka_env, tmp_path):
    bootstrap = kafka_env
    start = end_offsets(bootstrap, topics.RAW)
    dlq_start = end_offsets(bootstrap, topics.DLQ)
    good = make_submission(submission_id="dlq-next-valid", patient_id="MRN-9", requester="dr.z",
                           department="genetics", project="p", input_kind="vcf",
                           payload=sample_vcfs()["clinvar-app"])
    # all on one partition (same key), malformed ones first: the valid one must still be processed
    key = good.submission_id.encode()
    bad_json_headers = [("ce_id", b"1"), ("ce_source", b"/x"), ("ce_type", b"org.hcml.submission.v1"),
                        ("ce_specversion", b"1.0"), ("content-type", b"application/json")]
    valid_event = submission_event(good)
    with EventProducer(bootstrap) as producer:
        producer.send_raw(topics.RAW, key, b"this is not a cloudevent {", [])  # no CloudEvent at all
        producer.send_raw(topics.RAW, key, b'{"submission_id": "x"', bad_json_headers)  # broken JSON data
        producer.send_raw(topics.RAW, key, json.dumps({"submission_id": "no fields"}).encode(),
                          bad_json_headers)  # schema-invalid data
        realtime = make_submission(submission_id="dlq-audit-copy", patient_id="MRN-8", requester="r",
                                   department="d", project="p", input_kind="variants",
                                   payload="21-25891796-C-T", processing="realtime")
        producer.send(topics.RAW, submission_event(realtime, SOURCE_REALTIME))  # audit copy: skipped
        producer.send(topics.RAW, valid_event)

    with dg.instance_for_test() as instance:
        result = _tick(instance, bootstrap, dump_cursor(start), tmp_path / "store")
    assert [r.tags[tags.SUBMISSION_ID] for r in result.run_requests] == ["dlq-next-valid"]
    assert sum(parse_cursor(result.cursor).values()) - sum(start.values()) == 5  # nothing left behind

    dead = read_batch(bootstrap, topics.DLQ, "test-dlq-reader", dlq_start, max_seconds=15).records
    assert len(dead) == 3
    values = [r.value for r in dead]
    assert values[0] == b"this is not a cloudevent {"  # the original bytes, untouched
    reasons = [dict(r.headers)[DLQ_REASON].decode() for r in dead]
    assert "ce_id is missing" in reasons[0] or "not a CloudEvent" in reasons[0]
    assert "JSON" in reasons[1] or "not a CloudEvent" in reasons[1]
    assert reasons[2].startswith("data.")  # names the invalid field
    for r in dead:
        assert dict(r.headers)[DLQ_ORIGIN].decode().startswith(f"{topics.RAW}:")
    # original headers kept alongside the reason
    assert dict(dead[1].headers)["ce_type"] == b"org.hcml.submission.v1"


def test_non_vcf_batch_submission_is_dead_lettered_with_reason(kafka_env, tmp_path):
    bootstrap = kafka_env
    start, dlq_start = end_offsets(bootstrap, topics.RAW), end_offsets(bootstrap, topics.DLQ)
    sub = make_submission(submission_id="kind-variants", patient_id="MRN-7", requester="r", department="d",
                          project="p", input_kind="variants", payload="21-25891796-C-T")
    with EventProducer(bootstrap) as producer:
        producer.send(topics.RAW, submission_event(sub))
    with dg.instance_for_test() as instance:
        result = _tick(instance, bootstrap, dump_cursor(start), tmp_path / "store")
    assert not result.run_requests
    (dead,) = read_batch(bootstrap, topics.DLQ, "test-dlq-reader", dlq_start, max_seconds=15).records
    assert "data.input_kind" in dict(dead.headers)[DLQ_REASON].decode()


def test_sensor_skips_clearly_without_kafka(monkeypatch, tmp_path):
    monkeypatch.delenv("HCML_KAFKA_BOOTSTRAP", raising=False)
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance, resources={
            "kafka": KafkaResource(), "storage": StorageResource(local_root=str(tmp_path))})
        result = kafka_submissions(context)
    assert isinstance(result, dg.SkipReason)
    assert "HCML_KAFKA_BOOTSTRAP" in result.skip_message


def test_resubmission_under_the_same_id_keeps_each_runs_input(kafka_env, tmp_path):
    bootstrap = kafka_env
    start = end_offsets(bootstrap, topics.RAW)
    vcfs = sample_vcfs()
    first, second = (make_submission(submission_id="resubmitted", patient_id="MRN-5", requester="r",
                                     department="d", project="p", input_kind="vcf", payload=vcfs[name])
                     for name in ("hg00096-first40", "hg00096"))
    with EventProducer(bootstrap) as producer:
        producer.send_many(topics.RAW, [submission_event(first), submission_event(second)])
    with dg.instance_for_test() as instance:
        result = _tick(instance, bootstrap, dump_cursor(start), tmp_path / "store")
    uris = [r.run_config["ops"]["sample_variants"]["config"]["source_uri"] for r in result.run_requests]
    assert len(set(r.run_key for r in result.run_requests)) == 2 and len(set(uris)) == 2
    # same key -> same partition, in order: each run reads exactly the input it was submitted with
    assert [read_store_uri(u) for u in uris] == [vcfs["hg00096-first40"], vcfs["hg00096"]]


def test_lag_metric_counts_what_a_bounded_tick_left_behind(kafka_env, tmp_path):
    from hcml.events.submissions import poll_submissions
    from hcml.observability import KAFKA_CONSUMER_LAG
    from hcml.storage import LocalStore

    bootstrap = kafka_env
    start = end_offsets(bootstrap, topics.RAW)
    subs = [make_submission(submission_id=f"lag-{i}", patient_id="MRN-L", requester="r", department="d",
                            project="p", input_kind="vcf", payload=sample_vcfs()["clinvar-app"]) for i in range(7)]
    with EventProducer(bootstrap) as producer:
        producer.send_many(topics.RAW, [submission_event(s) for s in subs])
    poll = poll_submissions(bootstrap, start, max_records=3, store=LocalStore(tmp_path))
    assert len(poll.accepted) == 3 and poll.lag == 4
    gauge = sum(KAFKA_CONSUMER_LAG.labels(topics.RAW, str(p), topics.GROUP_SUBMISSIONS_SENSOR)._value.get()
                for p in start)
    assert gauge == 4


@pytest.mark.parametrize("name", ["record-before-chrom", "wrong-chrom-columns"])
def test_vcf_breaking_the_header_rule_is_dead_lettered_naming_the_line(kafka_env, tmp_path, name):
    """The header rule every route applies (tests/vcf_header_cases.py): refused before any run."""
    from tests.vcf_header_cases import BAD_HEADERS

    body, expected = BAD_HEADERS[name]
    bootstrap = kafka_env
    start, dlq_start = end_offsets(bootstrap, topics.RAW), end_offsets(bootstrap, topics.DLQ)
    sub = make_submission(submission_id=f"header-{name}", patient_id="MRN-8", requester="r", department="d",
                          project="p", input_kind="vcf", payload=body)
    with EventProducer(bootstrap) as producer:
        producer.send(topics.RAW, submission_event(sub))
    with dg.instance_for_test() as instance:
        result = _tick(instance, bootstrap, dump_cursor(start), tmp_path / "store")
    assert not result.run_requests
    (dead,) = read_batch(bootstrap, topics.DLQ, f"test-dlq-header-{name}", dlq_start, max_seconds=15).records
    reason = dict(dead.headers)[DLQ_REASON].decode()
    assert reason.startswith("data.payload: ") and expected in reason
