"""`hcml audit verify`: read every audit record where it is kept and check each stream's chain and anchors.

Sources: JSON-lines trails (the realtime audit log, the pipeline's trail: file order is chain order), the
chained events on Kafka (read back from the start of each topic) and those still in outbox segments
(not yet delivered, or dead-lettered). Kafka holds a stream's events across topics and partitions, and
resends after an outage, so an event stream is put in `seq` order (the order its writer linked) and exact
duplicates (the same event delivered twice: same ce_id, same hash) are counted once; two different events
claiming one `seq` are reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hcml.compliance.anchors import read_anchors
from hcml.compliance.chain import Located, StreamReport, event_record, verify_stream
from hcml.compliance.trail import read_jsonl

EVENT_STREAM_KINDS = ("outbox-",)


@dataclass
class AuditVerification:
    streams: list[StreamReport] = field(default_factory=list)
    damaged: list[str] = field(default_factory=list)  # lines/records that are not chain records at all
    sources: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.damaged and all(s.ok for s in self.streams)

    def problems(self) -> list[dict[str, Any]]:
        return [p.as_dict() for s in self.streams for p in s.problems]

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "sources": self.sources,
            "damaged": self.damaged,
            "streams": [s.as_dict() for s in self.streams],
        }


def kafka_events(bootstrap: str, topic_names: list[str]) -> list[Located]:
    """Every chained event on the topics, read from the start to the current end."""
    from hcml.events.consumer import advance, read_batch
    from hcml.events.topics import GROUP_CLI_TAIL

    out: list[Located] = []
    for topic in topic_names:
        offsets: dict[int, int] = {}
        while True:
            batch = read_batch(bootstrap, topic, GROUP_CLI_TAIL, offsets, max_records=5000, max_seconds=10.0)
            for rec in batch.records:
                record = event_record(rec.topic, rec.key, rec.value, list(rec.headers))
                if record is not None:
                    ce_id = dict(rec.headers).get("ce_id", b"").decode("utf-8", "replace") or None
                    out.append(Located(record, f"{rec.topic}[{rec.partition}]@{rec.offset}", event_id=ce_id))
            offsets = advance(offsets or batch.start, batch.records)
            if batch.end_of_partitions or not batch.records:
                break
    return out


def outbox_events(root: Path) -> list[Located]:
    from hcml.events.outbox_format import stored_records  # the outbox's frame format has one reader

    out = []
    for where, rec in stored_records(root):
        record = event_record(rec.topic, rec.key, rec.value, rec.headers)
        if record is not None:
            out.append(Located(record, f"outbox {where}", event_id=rec.event_id))
    return out


def in_seq_order(events: list[Located]) -> list[Located]:
    """An event stream in link order, each distinct event once (a redelivered event is the same record);
    of two events claiming one seq, the one its successor links to comes last (next to it)."""
    seen: set[str] = set()
    unique = []
    for event in events:
        if event.digest not in seen:
            seen.add(event.digest)
            unique.append(event)
    linked_to = {e.record.get("prev") for e in unique}
    return sorted(unique, key=lambda e: (e.seq if e.seq is not None else float("inf"), e.digest in linked_to, e.where))


def verify_audit(
    files: list[Path],
    outbox_root: Path | None = None,
    kafka_bootstrap: str | None = None,
    kafka_topics: list[str] | None = None,
    store: Any = None,
) -> AuditVerification:
    result = AuditVerification()
    streams: dict[str, list[Located]] = {}
    for path in files:
        by_stream, damaged = read_jsonl(path)
        result.sources.append(str(path))
        result.damaged += damaged
        for name, records in by_stream.items():
            streams.setdefault(name, []).extend(records)
    events: list[Located] = []
    if outbox_root is not None and outbox_root.is_dir():
        result.sources.append(f"outbox {outbox_root}")
        events += outbox_events(outbox_root)
    if kafka_bootstrap:
        names = kafka_topics or _event_topics()
        result.sources.append("kafka " + ",".join(names))
        events += kafka_events(kafka_bootstrap, names)
    by_event_stream: dict[str, list[Located]] = {}
    for event in events:
        by_event_stream.setdefault(str(event.record.get("stream")), []).append(event)
    for name, stream_events in by_event_stream.items():
        streams[name] = in_seq_order(stream_events)
    anchors = read_anchors(store)
    result.sources.append("anchors")
    for name in sorted(set(streams) | set(anchors)):
        records = streams.get(name, [])
        if not records and not _read_kind(name, anchors.get(name, []), files, kafka_bootstrap):
            continue  # its records live in a source not asked for
        result.streams.append(verify_stream(name, records, anchors.get(name)))
    return result


def _event_topics() -> list[str]:
    from hcml.events import topics

    return [topics.RAW, topics.ANNOTATED]


def _read_kind(stream: str, anchors: list[dict[str, Any]], files: list[Path], kafka_bootstrap: str | None) -> bool:
    """Were the records of this stream's kind read (so that none found means they were deleted)?"""
    if stream.startswith(EVENT_STREAM_KINDS):
        return bool(kafka_bootstrap)
    sources = {a.get("source") for a in anchors} - {None}
    return bool(sources & {Path(f).name for f in files})
