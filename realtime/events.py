"""Kafka on the side of the request path: a publisher that drains the durable outbox, and a results listener.

Every event is first written to the outbox (`realtime/outbox.py`): a synchronous answer is given only once
its audit copy and result are on disk, and a queued submission only once its event is. One background
thread reads the outbox in order, hands the records to an idempotent `acks=all` producer and, per delivery
report, acknowledges a record (the outbox may delete it) or puts it back for another try. At most
INFLIGHT_RECORDS / INFLIGHT_BYTES are with the producer at once: a broker outage of any length costs
disk, bounded by `HCML_REALTIME_OUTBOX_MAX_BYTES`, never memory. Over that budget the outbox refuses new
events and the routes answer 503 + Retry-After. `accepting()` tells the queue endpoint whether it can take
work (Kafka configured, broker reachable, outbox under budget).

The results listener reads `genetic-data-annotated` from the end (its own consumer group per process,
nothing committed) and hands every result to a callback: the app pushes it to the WebSocket clients waiting
for that submission. The durable record of results is written by `realtime/worker.py`.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from realtime.outbox import CHECKPOINT_SECONDS, Builder, Message, Outbox, OutboxUnavailable, Pending

log = logging.getLogger("hcml.realtime.events")

INFLIGHT_RECORDS = 5_000
INFLIGHT_BYTES = 16 << 20
OFFER_TIMEOUT_SECONDS = 30.0


def producer_config(bootstrap: str) -> dict[str, Any]:
    from hcml.events.kafka_config import client_config  # bootstrap + TLS/SASL from the environment

    return client_config(
        bootstrap,
        **{
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "message.timeout.ms": 15_000,
            "socket.connection.setup.timeout.ms": 5_000,
            "reconnect.backoff.ms": 200,
            "reconnect.backoff.max.ms": 2_000,
            "client.id": f"hcml-realtime-{uuid.uuid4().hex[:8]}",
        },
    )


def permanent_failure(err: Any) -> bool:
    """A delivery error that no retry will cure (the record goes to the dead-letter file)."""
    from confluent_kafka import KafkaError

    return err.code() in (
        KafkaError.MSG_SIZE_TOO_LARGE,
        KafkaError._MSG_SIZE_TOO_LARGE,
        KafkaError.INVALID_RECORD,
        KafkaError.CORRUPT_MESSAGE,
        KafkaError._INVALID_ARG,
    )


class EventPublisher:
    """The outbox in front of a Kafka producer: `record`/`offer` return once the events are on disk."""

    PROBE_SECONDS = 2.0

    def __init__(
        self, bootstrap: str | None, outbox_dir: Path | None = None, max_bytes: int = 256 << 20, fsync: bool = True
    ) -> None:
        from hcml.config import data_dir

        self.bootstrap = bootstrap
        from realtime.outbox_handoff import BlobHandoff

        self.outbox = Outbox(
            outbox_dir or data_dir() / "realtime" / "outbox",
            max_bytes,
            fsync=fsync,
            handoff=BlobHandoff.from_environment() if bootstrap else None,
        )
        self._inflight: dict[int, Pending] = {}
        self._inflight_bytes = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.broker_up = False
        self.delivered = 0
        self.failed_attempts = 0
        self.dead_lettered = 0
        self.last_error: str | None = None
        self._last_probe = 0.0
        self._told_down = False

    # ---------------------------------------------------------------------------- request side
    @property
    def enabled(self) -> bool:
        return bool(self.bootstrap)

    @property
    def degraded(self) -> bool:
        """The audit trail cannot take events: synchronous answers are refused (503)."""
        return self.enabled and self.outbox.degraded

    def depth(self) -> int:
        """Events recorded and not yet acknowledged by the broker."""
        return self.outbox.records

    def accepting(self) -> bool:
        """Can the queue endpoint take work now?"""
        return self.enabled and self.broker_up and not self.outbox.degraded

    def record(self, items: list[Message | Builder]) -> Future:
        """Durably record events (messages, or callables that build one off the request path); the Future
        completes once they are on disk and fails with OutboxUnavailable when the outbox refuses them."""
        if not self.enabled:
            future: Future = Future()
            future.set_result(False)
            return future
        return self.outbox.append(items)

    def offer(
        self, topic: str, value: bytes, key: str | bytes | None = None, headers: list[tuple[str, bytes]] | None = None
    ) -> bool:
        """Record one event and wait until it is on disk; False when it is not recorded."""
        if isinstance(key, str):
            key = key.encode()
        try:
            return bool(self.record([(topic, key, value, list(headers or []))]).result(OFFER_TIMEOUT_SECONDS))
        except (OutboxUnavailable, TimeoutError):
            return False

    def status(self) -> dict[str, Any]:
        """For /readyz: no path, no broker address."""
        out = {
            "configured": self.enabled,
            "broker_up": self.broker_up,
            "buffered": self.depth(),
            "delivered": self.delivered,
            "dead_lettered": self.dead_lettered,
        }
        if self.enabled:
            out["outbox"] = {k: v for k, v in self.outbox.status().items() if k != "max_bytes"}
        return out

    def update_metrics(self) -> None:
        from hcml.observability import (
            REALTIME_OUTBOX_BYTES,
            REALTIME_OUTBOX_DEGRADED,
            REALTIME_OUTBOX_OLDEST_AGE,
            REALTIME_OUTBOX_RECORDS,
        )

        if not self.enabled:
            return
        REALTIME_OUTBOX_BYTES.set(self.outbox.bytes_on_disk())
        REALTIME_OUTBOX_RECORDS.set(self.outbox.records)
        REALTIME_OUTBOX_OLDEST_AGE.set(self.outbox.oldest_age_seconds())
        REALTIME_OUTBOX_DEGRADED.set(1 if self.outbox.degraded else 0)

    # --------------------------------------------------------------------------- flusher side
    def start(self) -> None:
        """Open the outbox (replaying what a previous run left) and start the flusher."""
        if not self.enabled or self._thread is not None:
            return
        self.outbox.open()
        self._thread = threading.Thread(target=self._run, name="hcml-event-publisher", daemon=True)
        self._thread.start()

    def stop(self, flush_seconds: float = 5.0) -> None:
        """Give recorded events `flush_seconds` to reach the broker, then stop; what is left stays on disk
        for the next start (and is said so in the log)."""
        if self._thread is None:
            return
        deadline = time.monotonic() + flush_seconds
        while self.broker_up and self.depth() and time.monotonic() < deadline:
            time.sleep(0.02)
        self._stop.set()
        self._thread.join(timeout=flush_seconds + 10)
        self._thread = None
        self.outbox.close()
        if self.outbox.records:
            log.warning(
                "%d events (%d bytes) not yet delivered are kept in the outbox for the next start",
                self.outbox.records,
                self.outbox.bytes_on_disk(),
            )

    def _error_cb(self, err: Any) -> None:
        from confluent_kafka import KafkaError

        self.last_error = str(err)
        if err.code() in (KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT, KafkaError._RESOLVE):
            self._set_broker(False)

    def _set_broker(self, up: bool) -> None:
        self.broker_up = up
        if not up and not self._told_down:
            self._told_down = True
            log.warning(
                "Kafka unreachable: events are kept in the outbox until it is back (%d now)", self.outbox.records
            )
        elif up and self._told_down:
            self._told_down = False
            log.info("Kafka reachable again: delivering the outbox (%d events)", self.outbox.records)

    def _on_delivery(self, pending: Pending) -> Callable[[Any, Any], None]:
        def callback(err: Any, _msg: Any) -> None:
            from hcml.observability import KAFKA_MESSAGES_PRODUCED

            with self._lock:
                self._inflight.pop(id(pending), None)
                self._inflight_bytes -= pending.size
            if err is None:
                self.outbox.ack(pending)
                self.delivered += 1
                self._set_broker(True)
                outcome = "delivered"
            elif permanent_failure(err):
                self.outbox.dead_letter(pending, err.name())
                self.dead_lettered += 1
                outcome = "failed"
            else:
                self.failed_attempts += 1
                self.last_error = str(err)
                self.outbox.nack(pending)  # nothing is lost: sent again when the broker is back
                self._set_broker(False)
                outcome = "failed"
            KAFKA_MESSAGES_PRODUCED.labels(pending.record.topic, outcome).inc()

        return callback

    def _probe(self, producer: Any) -> None:
        now = time.monotonic()
        if now - self._last_probe < self.PROBE_SECONDS:
            return
        self._last_probe = now
        try:
            producer.list_topics(timeout=1.0)
            self._set_broker(True)
        except Exception as exc:
            self._set_broker(False)
            self.last_error = str(exc)

    def _new_producer(self) -> Any:
        from confluent_kafka import Producer

        return Producer({**producer_config(self.bootstrap or ""), "error_cb": self._error_cb})

    def _run(self) -> None:
        producer = self._new_producer()
        last_checkpoint = time.monotonic()
        try:
            while not self._stop.is_set():
                if time.monotonic() - last_checkpoint >= CHECKPOINT_SECONDS:
                    self.outbox.checkpoint()
                    last_checkpoint = time.monotonic()
                if not self.broker_up:
                    self._probe(producer)
                    if not self.broker_up:
                        producer.poll(0.1)
                        continue
                with self._lock:
                    room = INFLIGHT_RECORDS - len(self._inflight), INFLIGHT_BYTES - self._inflight_bytes
                if room[0] <= 0 or room[1] <= 0:
                    producer.poll(0.05)
                    continue
                batch = self.outbox.read(min(room[0], 500), room[1])
                if not batch:
                    producer.poll(0)
                    if not self._inflight:
                        self.outbox.wait_for_records(0.2)
                    else:
                        producer.poll(0.02)
                    continue
                for i, pending in enumerate(batch):
                    with self._lock:
                        self._inflight[id(pending)] = pending
                        self._inflight_bytes += pending.size
                    record = pending.record
                    try:
                        producer.produce(
                            record.topic,
                            value=record.value,
                            key=record.key,
                            headers=record.headers,
                            on_delivery=self._on_delivery(pending),
                        )
                    except Exception as exc:  # librdkafka's queue is full, or a fatal producer error
                        for rest in batch[i:]:
                            with self._lock:
                                if self._inflight.pop(id(rest), None) is not None:
                                    self._inflight_bytes -= rest.size
                            self.outbox.nack(rest)
                        if not isinstance(exc, BufferError):
                            self.last_error = str(exc)
                            with self._lock:  # the old producer's reports will not come: send them again
                                orphaned = list(self._inflight.values())
                                self._inflight.clear()
                                self._inflight_bytes = 0
                            for rest in orphaned:
                                self.outbox.nack(rest)
                            producer = self._new_producer()
                        break
                producer.poll(0)
            producer.flush(2.0)
            with self._lock:
                left = list(self._inflight.values())
                self._inflight.clear()
                self._inflight_bytes = 0
            for pending in left:  # no delivery report in time: stays in the outbox (sent again next start)
                self.outbox.nack(pending)
        except Exception:  # never let the thread die silently
            log.exception("event publisher stopped")
            raise


class ResultsListener:
    """Reads `genetic-data-annotated` from its end and calls `on_result(event_dict)` for each message."""

    def __init__(
        self,
        bootstrap: str | None,
        topic: str,
        group_id: str,
        on_result: Callable[[dict[str, Any]], None],
        parse: Callable[[bytes, Any], dict[str, Any] | None],
    ) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.group_id = group_id
        self.on_result = on_result
        self.parse = parse
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.received = 0
        self.assigned = threading.Event()

    def start(self) -> None:
        if not self.bootstrap or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="hcml-results-listener", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _assign_all(self, consumer: Any) -> bool:
        """Assign every partition of the topic at its end (fan-out: each replica sees every result)."""
        from confluent_kafka import OFFSET_END, TopicPartition

        try:
            meta = consumer.list_topics(self.topic, timeout=2.0)
        except Exception:
            return False
        topic = meta.topics.get(self.topic)
        if topic is None or topic.error is not None or not topic.partitions:
            return False
        consumer.assign([TopicPartition(self.topic, p, OFFSET_END) for p in sorted(topic.partitions)])
        self.assigned.set()
        return True

    def _run(self) -> None:
        from confluent_kafka import Consumer

        from hcml.events.kafka_config import client_config

        consumer = Consumer(
            client_config(
                self.bootstrap,
                **{
                    "group.id": self.group_id,  # manual assignment: no rebalancing, nothing committed
                    "enable.auto.commit": False,
                    "topic.metadata.refresh.interval.ms": 5_000,
                    "allow.auto.create.topics": False,
                },
            )
        )
        try:
            while not self._stop.is_set() and not self._assign_all(consumer):
                self._stop.wait(1.0)
            while not self._stop.is_set():
                msg = consumer.poll(0.2)
                if msg is None or msg.error():
                    continue
                self.received += 1
                try:
                    event = self.parse(msg.value(), msg.headers())
                except Exception as exc:  # a malformed result is the producer's bug; never crash the app
                    log.warning("unreadable result event skipped", extra={"reason": type(exc).__name__})
                    continue
                if event is not None:
                    try:
                        self.on_result(event)
                    except Exception as exc:
                        log.warning("result event not applied", extra={"reason": type(exc).__name__})
        finally:
            consumer.close()
