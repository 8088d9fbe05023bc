"""Producer, consumer and topic administration against the real broker (tests/fixtures/kafka.py)."""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka.admin import AdminClient

from hcml.events import topics
from hcml.events.admin import describe_topics, ensure_topics
from hcml.events.consumer import advance, end_offsets, read_batch
from hcml.events.messages import (
    SOURCE_CLI, from_kafka, make_submission, parse_submission, submission_event,
)
from hcml.events.producer import DeliveryError, EventProducer, KafkaDisabled
from hcml.events.topics import TopicSpec

pytestmark = pytest.mark.kafka


def test_topics_created_with_their_settings_and_creation_is_idempotent(kafka_bootstrap):
    described = describe_topics(kafka_bootstrap)
    assert set(described) == {topics.RAW, topics.ANNOTATED, topics.DLQ, topics.LABELS, topics.REPORTS_CHANGED}
    for name, spec in topics.TOPICS.items():
        assert described[name]["partitions"] == spec.partitions
        assert described[name]["replication_factor"] == 1  # capped at the single broker
    # a second run changes nothing
    assert set(ensure_topics(kafka_bootstrap).values()) == {"exists"}
    # a topic with fewer partitions than its spec is grown
    name = f"test-grow-{uuid.uuid4().hex[:8]}"
    assert ensure_topics(kafka_bootstrap, [TopicSpec(name, 1, 1)]) == {name: "created"}
    assert ensure_topics(kafka_bootstrap, [TopicSpec(name, 3, 1)]) == {name: "grown"}
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    assert len(admin.list_topics(name, timeout=10).topics[name].partitions) == 3


def test_topic_config_is_applied(kafka_bootstrap):
    from confluent_kafka.admin import ConfigResource

    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    res = ConfigResource(ConfigResource.Type.TOPIC, topics.RAW)
    config = admin.describe_configs([res])[res].result(10)
    assert config["max.message.bytes"].value == "1048576"
    assert config["retention.ms"].value == str(7 * 24 * 3600 * 1000)


def test_events_round_trip_in_order_per_submission(kafka_env):
    bootstrap = kafka_env
    start = end_offsets(bootstrap, topics.RAW)
    subs = [make_submission(patient_id=f"MRN-{i}", requester="dr.a", department="genetics", project="p1",
                            input_kind="variants", payload=f"21-2589179{i}-C-T") for i in range(20)]
    with EventProducer(bootstrap) as producer:
        delivered = producer.send_many(topics.RAW, [submission_event(s, SOURCE_CLI) for s in subs])
    assert len(delivered) == 20 and all(d.offset >= 0 for d in delivered)
    batch = read_batch(bootstrap, topics.RAW, topics.GROUP_SUBMISSIONS_SENSOR, start, max_seconds=20)
    assert batch.end_of_partitions
    got = [parse_submission(from_kafka(r.key, r.value, r.headers)) for r in batch.records]
    assert sorted(s.submission_id for s in got) == sorted(s.submission_id for s in subs)
    # the key is the submission id: the partition of a record is the one its delivery report named
    by_id = {d.key.decode(): d for d in delivered}
    assert set(by_id) == {s.submission_id for s in subs}
    for r in batch.records:
        d = by_id[r.key.decode()]
        assert (d.partition, d.offset) == (r.partition, r.offset)
        assert b"MRN-" not in r.value  # the raw patient identifier never reaches Kafka
    # the cursor after the batch reads nothing more
    again = read_batch(bootstrap, topics.RAW, topics.GROUP_SUBMISSIONS_SENSOR, advance(start, batch.records),
                       max_seconds=10)
    assert again.records == [] and again.end_of_partitions


def test_failed_delivery_is_an_error_the_caller_sees(kafka_bootstrap):
    # A topic that does not exist (auto-creation is off on our brokers): the broker never acks.
    with EventProducer(kafka_bootstrap, **{"delivery.timeout.ms": 3000, "message.timeout.ms": 3000}) as producer:
        sub = make_submission(patient_id="X", requester="r", department="d", project="p",
                              input_kind="variants", payload="21-25891796-C-T")
        with pytest.raises(DeliveryError):
            producer.send(f"no-such-topic-{uuid.uuid4().hex[:6]}", submission_event(sub), timeout=20)


def test_producer_without_bootstrap_is_disabled(monkeypatch):
    monkeypatch.delenv("HCML_KAFKA_BOOTSTRAP", raising=False)
    with pytest.raises(KafkaDisabled):
        EventProducer()
