"""Idempotent, acks=all Kafka producer whose every delivery report is checked.

A failed delivery is an exception the caller sees (`DeliveryError`), never a log line: a submission the
broker did not acknowledge must not be reported to the clinician as queued.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from confluent_kafka import KafkaError, Producer

from hcml.events.kafka_config import AuthWatch, KafkaAuthenticationError, client_config
from hcml.events.messages import CloudEvent, Record, to_kafka
from hcml.events.topics import MAX_MESSAGE_BYTES


class DeliveryError(RuntimeError):
    """The broker did not acknowledge a message (after the producer's own retries)."""


class AuthenticationFailed(DeliveryError, KafkaAuthenticationError):
    """Nothing was delivered because the broker refused the producer's credentials or TLS handshake."""


class KafkaDisabled(RuntimeError):
    """HCML_KAFKA_BOOTSTRAP is not set."""


def bootstrap_from_env() -> str | None:
    """HCML_KAFKA_BOOTSTRAP (host:port[,host:port]), read now; None when Kafka is not configured."""
    value = os.environ.get("HCML_KAFKA_BOOTSTRAP", "").strip()
    return value or None


def producer_config(bootstrap: str, **overrides: Any) -> dict[str, Any]:
    """The producer's settings on top of `client_config` (bootstrap + security from the environment)."""
    return client_config(
        bootstrap,
        **{
            "enable.idempotence": True,  # no duplicates or reordering from the producer's own retries
            "acks": "all",
            "message.max.bytes": MAX_MESSAGE_BYTES,
            "linger.ms": 2,
            "compression.type": "lz4",
            "delivery.timeout.ms": 60_000,  # after this a message is reported failed (DeliveryError)
            "client.id": "hcml-producer",
            **overrides,
        },
    )


@dataclass(frozen=True)
class Delivered:
    topic: str
    partition: int
    offset: int
    key: bytes | None = None


class EventProducer:
    """Produce CloudEvents (binary mode) or raw records; `send*` return only after the broker acked."""

    def __init__(self, bootstrap: str | None = None, **config: Any):
        bootstrap = bootstrap or bootstrap_from_env()
        if not bootstrap:
            raise KafkaDisabled("HCML_KAFKA_BOOTSTRAP is not set: Kafka is disabled")
        self._auth = AuthWatch(config.pop("error_cb", None))
        self._producer = Producer(producer_config(bootstrap, error_cb=self._auth, **config))

    def __enter__(self) -> EventProducer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _produce(self, topic: str, key: bytes | None, value: bytes | None, headers: list, reports: list) -> None:
        def on_delivery(err: KafkaError | None, msg: Any) -> None:
            reports.append((err, topic, msg))

        while True:
            try:
                self._producer.produce(topic, value=value, key=key, headers=headers, on_delivery=on_delivery)
                return
            except BufferError:  # local queue full: serve delivery reports, then retry
                self._producer.poll(0.1)

    def _settle(self, reports: list, expected: int, timeout: float) -> list[Delivered]:
        from hcml.observability import KAFKA_MESSAGES_PRODUCED

        deadline = time.monotonic() + timeout
        while True:  # in slices: a refused login ends the wait at once instead of at the timeout
            remaining = self._producer.flush(max(min(0.5, deadline - time.monotonic()), 0))
            if self._auth.error is not None and (remaining or len(reports) < expected):
                undelivered = expected - sum(1 for err, _, _ in reports if err is None)
                self._producer.purge()  # nothing queued may go out later under another login
                self._producer.flush(0)
                raise AuthenticationFailed(
                    f"{undelivered} message(s) not delivered: Kafka refused the producer: {self._auth.error}"
                )
            if not remaining or time.monotonic() >= deadline:
                break
        if remaining or len(reports) < expected:
            raise DeliveryError(f"{expected - len(reports)} message(s) not acknowledged within {timeout:.0f} s")
        delivered, errors = [], []
        for err, topic, msg in reports:
            if err is not None:
                KAFKA_MESSAGES_PRODUCED.labels(topic, "failed").inc()
                errors.append(f"{topic}: {err.str()}")
            else:
                KAFKA_MESSAGES_PRODUCED.labels(topic, "delivered").inc()
                delivered.append(Delivered(msg.topic(), msg.partition(), msg.offset(), msg.key()))
        if errors:
            raise DeliveryError(f"{len(errors)} of {expected} message(s) failed: {errors[0]}")
        return delivered

    def send(self, topic: str, event: CloudEvent, timeout: float = 60.0) -> Delivered:
        """Produce one event and wait for its acknowledgement."""
        return self.send_many(topic, [event], timeout)[0]

    def send_many(self, topic: str, events: Iterable[CloudEvent], timeout: float = 60.0) -> list[Delivered]:
        """Produce events and wait until every one is acknowledged; raises DeliveryError otherwise.

        The answer is in delivery order (per partition the order of production), each with its key."""
        reports: list = []
        n = 0
        for event in events:
            key, value, headers = to_kafka(event)
            self._produce(topic, key, value, headers, reports)
            n += 1
        return self._settle(reports, n, timeout)

    def send_raw(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: list[tuple[str, bytes]],
        timeout: float = 60.0,
    ) -> Delivered:
        """Produce bytes as they are (dead-letter copies of a message); waits for the acknowledgement."""
        reports: list = []
        self._produce(topic, key, value, headers, reports)
        return self._settle(reports, 1, timeout)[0]

    def close(self, timeout: float = 30.0) -> None:
        if self._auth.error is not None:
            self._producer.purge()
            timeout = 0
        self._producer.flush(timeout)


DLQ_REASON = "hcml_dlq_reason"
DLQ_ORIGIN = "hcml_dlq_origin"  # topic:partition:offset of the original
DLQ_GROUP = "hcml_dlq_consumer_group"


def dead_letter(producer: EventProducer, record: Record, reason: str, consumer_group: str) -> Delivered:
    """Copy `record` (original key, bytes and headers) to the dead-letter topic with the reason."""
    from hcml.events.topics import DLQ
    from hcml.observability import KAFKA_DEAD_LETTERS

    headers = list(record.headers) + [
        (DLQ_REASON, reason[:1000].encode("utf-8")),
        (DLQ_ORIGIN, record.coordinates.encode("utf-8")),
        (DLQ_GROUP, consumer_group.encode("utf-8")),
    ]
    delivered = producer.send_raw(DLQ, record.key, record.value, headers)
    KAFKA_DEAD_LETTERS.labels(record.topic, reason.split(":", 1)[0][:40]).inc()
    return delivered


T = TypeVar("T")


def dead_letter_invalid(
    bootstrap: str, records: Iterable[Record], classify: Callable[[Record], T | str], consumer_group: str
) -> tuple[list[tuple[Record, T]], list[tuple[Record, str]]]:
    """Classify each record; those answered with a reason (str) are dead-lettered (each delivery confirmed,
    so the caller may advance its cursor past them). Returns (kept, dead_lettered), both in record order."""
    kept: list[tuple[Record, T]] = []
    dead: list[tuple[Record, str]] = []
    producer: EventProducer | None = None
    try:
        for record in records:
            outcome = classify(record)
            if isinstance(outcome, str):
                producer = producer or EventProducer(bootstrap)
                dead_letter(producer, record, outcome, consumer_group)  # raises if not acknowledged: tick replays
                dead.append((record, outcome))
            else:
                kept.append((record, outcome))
    finally:
        if producer is not None:
            producer.close()
    return kept, dead
