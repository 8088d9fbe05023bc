"""Consumer helpers: bounded reads from explicit offsets (the Dagster sensors' pattern) and tailing.

`read_batch` creates a consumer, `assign`s it at the offsets of a cursor (partition -> next offset;
partitions not in the cursor start at the beginning), reads until every partition is at its end, a
message budget or a time budget is reached, and always closes the consumer. The caller advances its
cursor only for the records it has handled (`advance`), so a failure replays them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from hcml.events.kafka_config import client_config, watched
from hcml.events.messages import Record
from hcml.events.topics import GROUP_CLI_TAIL as GROUP_PROBE


def consumer_config(bootstrap: str, group: str, **overrides: Any) -> dict[str, Any]:
    """The consumers' settings on top of `client_config` (bootstrap + security from the environment)."""
    return client_config(
        bootstrap,
        **{
            "group.id": group,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "enable.partition.eof": True,
            "isolation.level": "read_committed",
            "client.id": group,
            **overrides,
        },
    )


def parse_cursor(cursor: str | None) -> dict[int, int]:
    """A sensor cursor (JSON {"partition": next_offset}) as {partition: offset}; empty when None."""
    if not cursor:
        return {}
    raw = json.loads(cursor)
    return {int(p): int(o) for p, o in raw.items()}


def dump_cursor(offsets: dict[int, int]) -> str:
    return json.dumps({str(p): o for p, o in sorted(offsets.items())}, separators=(",", ":"))


@dataclass
class Batch:
    records: list[Record] = field(default_factory=list)
    start: dict[int, int] = field(default_factory=dict)  # the offsets the read started from
    end_of_partitions: bool = False  # every assigned partition was read to its end
    high: dict[int, int] = field(default_factory=dict)  # high watermarks seen by the last fetches


def _to_record(msg: Any) -> Record:
    return Record(
        topic=msg.topic(),
        partition=msg.partition(),
        offset=msg.offset(),
        key=msg.key(),
        value=msg.value(),
        headers=tuple((k, v if v is not None else b"") for k, v in (msg.headers() or [])),
        timestamp_ms=msg.timestamp()[1],
    )


def read_batch(
    bootstrap: str,
    topic: str,
    group: str,
    offsets: dict[int, int],
    max_records: int = 500,
    max_seconds: float = 10.0,
    **config: Any,
) -> Batch:
    """Read up to `max_records` from `offsets` within `max_seconds`; the consumer is always closed."""
    # Short fetch waits: a tick that finds nothing new answers in tens of ms, not the default 0.5 s.
    conf, watch = watched(consumer_config(bootstrap, group, **{"fetch.wait.max.ms": 10, **config}))
    consumer = Consumer(conf)
    try:
        with watch.failures(f"reading {topic}", serve=lambda: consumer.poll(0)):
            metadata = consumer.list_topics(topic, timeout=min(max_seconds, 10.0)).topics.get(topic)
        if metadata is None or metadata.error is not None:
            raise KafkaException(metadata.error if metadata else KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART))
        partitions = sorted(metadata.partitions)
        start = {}
        for p in partitions:
            if p in offsets:
                start[p] = offsets[p]
            else:  # explicit low watermark: a logical OFFSET_BEGINNING costs a 0.5 s lookup back-off
                low, _ = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=min(max_seconds, 10.0))
                start[p] = low if low >= 0 else OFFSET_BEGINNING
        consumer.assign([TopicPartition(topic, p, o) for p, o in start.items()])
        batch = Batch(start={p: o for p, o in start.items() if o >= 0})
        at_end: set[int] = set()
        deadline = time.monotonic() + max_seconds
        while len(batch.records) < max_records and len(at_end) < len(partitions):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            for msg in consumer.consume(
                num_messages=min(100, max_records - len(batch.records)), timeout=min(left, 0.05)
            ):
                err = msg.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        at_end.add(msg.partition())
                        continue
                    if err.fatal() or not err.retriable():
                        raise KafkaException(err)
                    continue
                at_end.discard(msg.partition())
                batch.records.append(_to_record(msg))
        batch.end_of_partitions = len(at_end) == len(partitions)
        for p in partitions:  # from the last fetch when there was one, else asked (for the lag metric)
            high = consumer.get_watermark_offsets(TopicPartition(topic, p), cached=True)[1]
            if high < 0:
                try:
                    high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=2.0, cached=False)[1]
                except KafkaException:
                    continue
            if high >= 0:
                batch.high[p] = high
        batch.records.sort(key=lambda r: (r.partition, r.offset))  # deterministic: a replay sees the same order
        return batch
    finally:
        consumer.close()


def advance(offsets: dict[int, int], records: list[Record]) -> dict[int, int]:
    """The cursor after handling `records` (next offset per partition)."""
    out = dict(offsets)
    for r in records:
        out[r.partition] = max(out.get(r.partition, 0), r.offset + 1)
    return out


def record_lag(topic: str, group: str, batch: Batch, offsets: dict[int, int]) -> int:
    """Set `hcml_kafka_consumer_lag` per partition (high watermark - cursor); returns the total."""
    from hcml.observability import KAFKA_CONSUMER_LAG

    total = 0
    for p, high in batch.high.items():
        lag = max(high - offsets.get(p, batch.start.get(p, 0)), 0)
        KAFKA_CONSUMER_LAG.labels(topic, str(p), group).set(lag)
        total += lag
    return total


def commit_positions(bootstrap: str, topic: str, group: str, offsets: dict[int, int]) -> None:
    """Record `offsets` as the group's committed positions (for lag metrics and KEDA; the cursor rules)."""
    if not offsets:
        return
    conf, watch = watched(consumer_config(bootstrap, group))
    consumer = Consumer(conf)
    try:
        with watch.failures(f"committing {group}", serve=lambda: consumer.poll(0)):
            consumer.commit(offsets=[TopicPartition(topic, p, o) for p, o in offsets.items()], asynchronous=False)
    finally:
        consumer.close()


def tail(
    bootstrap: str,
    topic: str,
    group: str,
    from_beginning: bool = True,
    idle_seconds: float = 5.0,
    max_records: int | None = None,
) -> Iterator[Record]:
    """Yield records of every partition of a topic until idle for `idle_seconds`.

    Partitions are `assign`ed (no group membership, nothing committed), so several tails side by side each
    see every message."""
    conf, watch = watched(consumer_config(bootstrap, group, **{"enable.partition.eof": False}))
    consumer = Consumer(conf)
    try:
        with watch.failures(f"reading {topic}", serve=lambda: consumer.poll(0)):
            metadata = consumer.list_topics(topic, timeout=10).topics[topic]
        if metadata.error is not None:
            raise KafkaException(metadata.error)
        assignment = []
        for p in sorted(metadata.partitions):
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            assignment.append(TopicPartition(topic, p, low if from_beginning else high))
        consumer.assign(assignment)
        n = 0
        idle_since = time.monotonic()
        while time.monotonic() - idle_since < idle_seconds:
            msg = consumer.poll(0.2)
            if msg is None:
                continue
            if msg.error():
                if msg.error().fatal():
                    raise KafkaException(msg.error())
                continue
            idle_since = time.monotonic()
            yield _to_record(msg)
            n += 1
            if max_records is not None and n >= max_records:
                return
    finally:
        consumer.close()


def end_offsets(bootstrap: str, topic: str, timeout: float = 10.0) -> dict[int, int]:
    """{partition: high watermark} of a topic: a cursor that starts after everything already there."""
    conf, watch = watched(consumer_config(bootstrap, GROUP_PROBE))
    consumer = Consumer(conf)
    try:
        with watch.failures(f"reading {topic}", serve=lambda: consumer.poll(0)):
            metadata = consumer.list_topics(topic, timeout=timeout).topics[topic]
        deadline = time.monotonic() + timeout
        out = {}
        for p in sorted(metadata.partitions):
            while True:
                try:
                    out[p] = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout, cached=False)[1]
                    break
                except KafkaException as exc:  # NOT_LEADER just after creation or during a leader change
                    if exc.args[0].fatal() or time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
        return out
    finally:
        consumer.close()
