"""Kafka on the side of the request path: a bounded, non-blocking publisher and a results listener.

The synchronous path never waits on Kafka. Events go into a bounded in-memory buffer; one background thread
hands them to an idempotent `acks=all` producer and checks every delivery report. When the broker is away
the events stay in the buffer (up to `HCML_REALTIME_EVENT_BUFFER`) and are flushed when it is back; an event
that fails delivery goes back to the head of the buffer. `accepting()` tells the queue endpoint whether it
can take work (Kafka configured, broker reachable, buffer not nearly full): otherwise it answers 503.

The results listener reads `genetic-data-annotated` from the end (its own consumer group per process,
nothing committed) and hands every result to a callback: the app pushes it to the WebSocket clients waiting
for that submission. The durable record of results is written by `realtime/worker.py`.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("hcml.realtime.events")


@dataclass
class PendingEvent:
    topic: str
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]] | None = None
    attempts: int = 0
    build: Callable[[], tuple[bytes | None, bytes, list[tuple[str, bytes]]]] | None = None

    def materialise(self) -> None:
        """Build the message off the request path (CloudEvent validation, storing large payloads)."""
        if self.build is not None:
            self.key, self.value, self.headers = self.build()
            self.build = None


def producer_config(bootstrap: str) -> dict[str, Any]:
    from hcml.events.kafka_config import client_config  # bootstrap + TLS/SASL from the environment

    return client_config(bootstrap, **{
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "message.timeout.ms": 15_000,
        "socket.connection.setup.timeout.ms": 5_000,
        "reconnect.backoff.ms": 200,
        "reconnect.backoff.max.ms": 2_000,
        "client.id": f"hcml-realtime-{uuid.uuid4().hex[:8]}",
    })


class EventPublisher:
    """Bounded buffer in front of a Kafka producer; `offer` never blocks."""

    PROBE_SECONDS = 2.0

    def __init__(self, bootstrap: str | None, capacity: int = 10_000, high_water: float = 0.9) -> None:
        self.bootstrap = bootstrap
        self.capacity = max(1, capacity)
        self.high_water = high_water
        self._buffer: deque[PendingEvent] = deque()
        self._cv = threading.Condition()
        self._inflight = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.broker_up = False
        self.delivered = 0
        self.failed_attempts = 0
        self.dropped = 0
        self.last_error: str | None = None
        self._last_probe = 0.0

    # ---------------------------------------------------------------------------- request side
    @property
    def enabled(self) -> bool:
        return bool(self.bootstrap)

    def depth(self) -> int:
        with self._cv:
            return len(self._buffer) + self._inflight

    def accepting(self) -> bool:
        """Can the queue endpoint take work now?"""
        return self.enabled and self.broker_up and self.depth() < self.capacity * self.high_water

    def offer(self, topic: str, value: bytes, key: str | bytes | None = None,
              headers: list[tuple[str, bytes]] | None = None) -> bool:
        """Buffer one event; False (and counted as dropped) when Kafka is not configured or the buffer is full."""
        if not self.enabled:
            return False
        if isinstance(key, str):
            key = key.encode()
        with self._cv:
            if len(self._buffer) + self._inflight >= self.capacity:
                self.dropped += 1
                return False
            self._buffer.append(PendingEvent(topic, key, value, headers))
            self._cv.notify()
        return True

    def offer_lazy(self, topic: str, build: Callable[[], tuple[bytes | None, bytes, list[tuple[str, bytes]]]]) -> bool:
        """Buffer an event that the flusher thread builds (`build() -> (key, value, headers)`)."""
        if not self.enabled:
            return False
        with self._cv:
            if len(self._buffer) + self._inflight >= self.capacity:
                self.dropped += 1
                return False
            self._buffer.append(PendingEvent(topic, None, None, build=build))
            self._cv.notify()
        return True

    def status(self) -> dict[str, Any]:
        return {
            "configured": self.enabled,
            "broker_up": self.broker_up,
            "buffered": self.depth(),
            "capacity": self.capacity,
            "delivered": self.delivered,
            "dropped": self.dropped,
            "last_error": self.last_error,
        }

    # --------------------------------------------------------------------------- flusher side
    def start(self) -> None:
        if not self.enabled or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="hcml-event-publisher", daemon=True)
        self._thread.start()

    def stop(self, flush_seconds: float = 5.0) -> None:
        """Stop the flusher, giving buffered events `flush_seconds` to reach the broker."""
        if self._thread is None:
            return
        deadline = time.monotonic() + flush_seconds
        while self.broker_up and self.depth() and time.monotonic() < deadline:
            time.sleep(0.02)
        self._stop.set()
        with self._cv:
            self._cv.notify_all()
        self._thread.join(timeout=flush_seconds + 5)
        self._thread = None

    def _error_cb(self, err: Any) -> None:
        from confluent_kafka import KafkaError

        self.last_error = str(err)
        if err.code() in (KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT, KafkaError._RESOLVE):
            self.broker_up = False

    def _on_delivery(self, event: PendingEvent) -> Callable[[Any, Any], None]:
        def callback(err: Any, _msg: Any) -> None:
            from hcml.observability import KAFKA_MESSAGES_PRODUCED

            with self._cv:
                self._inflight -= 1
                if err is None:
                    self.delivered += 1
                    self.broker_up = True
                else:
                    self.failed_attempts += 1
                    event.attempts += 1
                    self._buffer.appendleft(event)  # nothing is lost: retried when the broker is back
                    self.last_error = str(err)
                    self.broker_up = False
            KAFKA_MESSAGES_PRODUCED.labels(event.topic, "delivered" if err is None else "failed").inc()

        return callback

    def _probe(self, producer: Any) -> None:
        now = time.monotonic()
        if now - self._last_probe < self.PROBE_SECONDS:
            return
        self._last_probe = now
        try:
            producer.list_topics(timeout=1.0)
            self.broker_up = True
        except Exception as exc:
            self.broker_up = False
            self.last_error = str(exc)

    def _new_producer(self) -> Any:
        from confluent_kafka import Producer

        return Producer({**producer_config(self.bootstrap or ""), "error_cb": self._error_cb})

    def _run(self) -> None:
        producer = self._new_producer()
        try:
            while not self._stop.is_set():
                if not self.broker_up:
                    self._probe(producer)
                    if not self.broker_up:
                        producer.poll(0)
                        self._stop.wait(0.1)
                        continue
                batch: list[PendingEvent] = []
                with self._cv:
                    if not self._buffer and not self._inflight:
                        self._cv.wait(timeout=0.5)
                    while self._buffer and len(batch) < 500:
                        batch.append(self._buffer.popleft())
                    self._inflight += len(batch)
                for i, event in enumerate(batch):
                    try:
                        event.materialise()
                    except Exception as exc:  # a bug in building the event: count it, keep the rest going
                        log.error("event could not be built", extra={"error": type(exc).__name__})
                        with self._cv:
                            self._inflight -= 1
                            self.dropped += 1
                        continue
                    try:
                        producer.produce(event.topic, value=event.value, key=event.key, headers=event.headers,
                                         on_delivery=self._on_delivery(event))
                    except BufferError:
                        with self._cv:  # librdkafka's own queue is full: keep the rest for later
                            self._inflight -= len(batch) - i
                            self._buffer.extendleft(reversed(batch[i:]))
                        break
                    except Exception as exc:  # e.g. a fatal idempotence error: new producer, retry
                        with self._cv:
                            self._inflight -= len(batch) - i
                            self._buffer.extendleft(reversed(batch[i:]))
                        self.last_error = str(exc)
                        producer = self._new_producer()
                        break
                producer.poll(0.05 if self._inflight else 0)
            producer.flush(2.0)
        except Exception:  # never let the thread die silently
            log.exception("event publisher stopped")
            raise


class ResultsListener:
    """Reads `genetic-data-annotated` from its end and calls `on_result(event_dict)` for each message."""

    def __init__(self, bootstrap: str | None, topic: str, group_id: str,
                 on_result: Callable[[dict[str, Any]], None], parse: Callable[[bytes, Any], dict[str, Any] | None]) -> None:
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

        consumer = Consumer(client_config(self.bootstrap, **{
            "group.id": self.group_id,  # manual assignment: no rebalancing, nothing committed
            "enable.auto.commit": False,
            "topic.metadata.refresh.interval.ms": 5_000,
            "allow.auto.create.topics": False,
        }))
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
