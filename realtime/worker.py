"""The results worker: keeps every queued submission's status record in the object store.

    python -m realtime.worker          (Deployment `hcml-results-worker`, scaled by KEDA on its Kafka lag)

It consumes, in the consumer group `hcml.events.topics.GROUP_RESULTS_WORKER`:
- `genetic-data-raw`: each batch submission (whoever produced it: the API, `hcml kafka produce`, another
  system) gets a `queued` record `submissions/<id>/status.json` naming its requester, so that
  `GET /v1/submissions/{id}` answers on any replica;
- `genetic-data-annotated`: each result of a Dagster run updates that record (status, report URI, summary,
  provenance). Results of the synchronous path (source `/hcml/realtime`) are not submissions and are skipped.
Offsets are committed only after the record is written (at least once; writing a record twice is harmless).
Invalid messages are skipped here: the Dagster sensor, which owns the raw topic's processing, dead-letters them.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from typing import Any

log = logging.getLogger("hcml.realtime.worker")


def worker_topics() -> list[str]:
    from hcml.events import topics

    return [topics.CONSUMER_GROUPS[topics.GROUP_RESULTS_WORKER], topics.ANNOTATED]


def handle(topic: str, value: bytes | None, headers: Any) -> str:
    """Apply one message to the status records; returns what was done (for counting and tests)."""
    from hcml.events import messages, topics
    from realtime import submissions as subs

    try:
        event = messages.from_kafka(None, value, headers)
        if topic == topics.RAW:
            sub = messages.parse_submission(event)
            if sub.processing != "batch":
                return "skipped"
            record = subs.load_persisted(sub.submission_id) or {"submission_id": sub.submission_id, "status": "queued"}
            record.setdefault("requester", sub.requester)
            record.setdefault("submitted_at", sub.submitted_at.isoformat())
            record.setdefault("input_uri", sub.payload_uri)
            record.setdefault("updated_at", subs._now())
            subs.persist(record)
            return "queued"
        if event.get_type() != messages.RESULT_TYPE or event.get_source() == messages.SOURCE_REALTIME:
            return "skipped"
        result = messages.parse_result(event).model_dump(mode="json")
    except messages.InvalidMessage:
        return "invalid"
    record = subs.load_persisted(result["submission_id"]) or {"submission_id": result["submission_id"]}
    subs.persist(subs.merge_result(record, result))
    return result["status"]


def run(bootstrap: str, stop: threading.Event, *, max_idle_seconds: float | None = None) -> dict[str, int]:
    """Consume until `stop` is set (or, with `max_idle_seconds`, until nothing arrived for that long)."""
    from confluent_kafka import Consumer

    from hcml.events import topics
    from hcml.events.consumer import consumer_config
    from hcml.observability import KAFKA_MESSAGES_CONSUMED, record_consumer_lag

    group = topics.GROUP_RESULTS_WORKER
    consumer = Consumer(
        consumer_config(bootstrap, group, **{"enable.partition.eof": False, "enable.auto.offset.store": True})
    )
    counts: dict[str, int] = {}
    last_message = time.monotonic()
    last_lag = 0.0
    try:
        consumer.subscribe(worker_topics())
        while not stop.is_set():
            msg = consumer.poll(0.5)
            now = time.monotonic()
            if now - last_lag > 15:
                last_lag = now
                try:
                    record_consumer_lag(consumer, group)
                except Exception:
                    pass
            if msg is None:
                if max_idle_seconds is not None and now - last_message > max_idle_seconds:
                    break
                continue
            if msg.error():
                continue
            last_message = now
            outcome = handle(msg.topic() or "", msg.value(), msg.headers())  # a message polled has its topic
            counts[outcome] = counts.get(outcome, 0) + 1
            KAFKA_MESSAGES_CONSUMED.labels(msg.topic(), group, "processed" if outcome != "invalid" else "skipped").inc()
            consumer.commit(message=msg, asynchronous=False)
    finally:
        consumer.close()
    return counts


def main() -> None:
    from hcml.events.producer import bootstrap_from_env
    from hcml.observability import configure_logging, start_metrics_server

    configure_logging("results-worker")
    bootstrap = bootstrap_from_env()
    if not bootstrap:
        raise SystemExit("HCML_KAFKA_BOOTSTRAP is not set: the results worker has nothing to consume")
    start_metrics_server()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    counts = run(bootstrap, stop)
    log.info("results worker stopped", extra={"counts": counts})


if __name__ == "__main__":
    main()
