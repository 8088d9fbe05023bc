"""hcml_kafka_consumer_lag measured from outside a group, on the real broker."""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from hcml import observability as obs
from hcml.events import topics
from hcml.events.consumer import end_offsets

pytestmark = pytest.mark.kafka


def test_lag_counts_the_messages_a_group_has_not_committed(kafka_bootstrap):
    group = f"hcml-test-lag-{uuid.uuid4().hex[:8]}"
    topic = topics.LABELS  # one partition, nothing else of the suite's traffic on it at this moment
    start = end_offsets(kafka_bootstrap, topic)
    committer = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": group, "enable.auto.commit": False})
    committer.commit(offsets=[TopicPartition(topic, p, o) for p, o in start.items()], asynchronous=False)
    committer.close()

    producer = Producer({"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True})
    for i in range(5):
        producer.produce(topic, value=f"lag-probe-{i}".encode())
    assert producer.flush(30) == 0
    produced = sum(end_offsets(kafka_bootstrap, topic).values()) - sum(start.values())
    assert produced >= 5

    assert obs.record_group_lag(kafka_bootstrap, group, (topic,)) == {topic: produced}
    gauge = sum(obs.KAFKA_CONSUMER_LAG.labels(topic, str(p), group)._value.get() for p in start)
    assert gauge == produced

    # the probe never joined nor committed: the group's position is unchanged
    assert obs.record_group_lag(kafka_bootstrap, group, (topic,)) == {topic: produced}


def test_unknown_group_counts_from_the_beginning(kafka_bootstrap):
    group = f"hcml-test-new-{uuid.uuid4().hex[:8]}"
    consumer = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": "hcml-test-probe"})
    try:
        partitions = consumer.list_topics(topics.DLQ, timeout=10).topics[topics.DLQ].partitions
        expected = sum(high - low for low, high in
                       (consumer.get_watermark_offsets(TopicPartition(topics.DLQ, p), timeout=10) for p in partitions))
    finally:
        consumer.close()
    assert obs.record_group_lag(kafka_bootstrap, group, (topics.DLQ,)) == {topics.DLQ: expected}
