"""Turn queued submissions on `genetic-data-raw` into batch work items (Dagster-free core of the sensor).

`poll_submissions` reads a bounded batch from the cursor's offsets, validates each message, stores an
inline payload in the object store (runs carry pointers, never payloads), and copies every malformed
or invalid message to the dead-letter topic with its reason (the delivery is confirmed before the
cursor moves past it, so nothing is lost and the partition is never blocked). Audit copies of
submissions the realtime service already answered (`processing: realtime`) are acknowledged and
skipped. The returned cursor covers exactly the records handled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hcml.events.consumer import advance, commit_positions, read_batch, record_lag
from hcml.events.messages import CloudEvent, InvalidMessage, Record, Submission, from_kafka, parse_submission
from hcml.events.producer import dead_letter_invalid
from hcml.events.topics import GROUP_SUBMISSIONS_SENSOR, RAW

BATCH_INPUT_KINDS = ("vcf",)  # what `sample_report_job` reads; other kinds go through the realtime path


@dataclass(frozen=True)
class Accepted:
    record: Record
    event: CloudEvent
    submission: Submission
    source_uri: str

    @property
    def run_key(self) -> str:
        return self.record.coordinates  # topic:partition:offset


@dataclass
class Poll:
    accepted: list[Accepted] = field(default_factory=list)
    dead_lettered: list[tuple[Record, str]] = field(default_factory=list)
    skipped: list[Record] = field(default_factory=list)
    offsets: dict[int, int] = field(default_factory=dict)  # the next cursor
    end_of_partitions: bool = False
    lag: int = 0  # messages still behind the new cursor


def _store_payload(submission: Submission, store: Any) -> str:
    if submission.payload_uri is not None:
        if not store.exists(submission.payload_uri):
            raise InvalidMessage(f"data.payload_uri: {submission.payload_uri!r} does not exist in the store")
        return submission.payload_uri
    # content-addressed: a replay rewrites the same object; a resubmission under the same id with other
    # content gets its own object, so a run still queued for the first one reads what it was asked to
    key = f"submissions/{submission.submission_id}/{submission.payload_sha256[:16]}.vcf"
    return store.put(key, submission.payload.encode("utf-8"))


def _check_vcf_header(payload: str) -> None:
    """The header rule every route applies (`hcml.genomics.vcf.vcf_header`), on an inline payload: a VCF that
    breaks it is dead-lettered with the line named, not run. A stored payload is checked by the run's reader."""
    from hcml.genomics.errors import InputError
    from hcml.genomics.vcf import vcf_text_header

    try:
        vcf_text_header(payload)
    except InputError as exc:
        raise InvalidMessage(f"data.payload: {exc}") from None


def classify(record: Record, store: Any) -> Accepted | str | None:
    """Accepted work, a dead-letter reason (str), or None for an audit copy to skip."""
    try:
        event = from_kafka(record.key, record.value, record.headers)
        submission = parse_submission(event)
        if submission.processing == "realtime":
            return None
        if submission.input_kind not in BATCH_INPUT_KINDS:
            raise InvalidMessage(
                f"data.input_kind: {submission.input_kind!r} is not run in batch "
                f"(batch reads {', '.join(BATCH_INPUT_KINDS)}); submit it to the realtime API"
            )
        if submission.payload is not None:
            _check_vcf_header(submission.payload)
        return Accepted(record, event, submission, _store_payload(submission, store))
    except InvalidMessage as exc:
        return exc.reason


def poll_submissions(
    bootstrap: str,
    offsets: dict[int, int],
    *,
    max_records: int = 200,
    max_seconds: float = 10.0,
    store: Any | None = None,
    group: str = GROUP_SUBMISSIONS_SENSOR,
    topic: str = RAW,
) -> Poll:
    if store is None:
        from hcml.storage import open_store

        store = open_store()
    batch = read_batch(bootstrap, topic, group, offsets, max_records=max_records, max_seconds=max_seconds)
    poll = Poll(offsets=dict(offsets), end_of_partitions=batch.end_of_partitions)
    if not batch.records:
        record_lag(topic, group, batch, offsets)
        return poll
    kept, poll.dead_lettered = dead_letter_invalid(bootstrap, batch.records, lambda r: classify(r, store), group)
    for record, outcome in kept:
        if outcome is None:
            poll.skipped.append(record)
        else:
            poll.accepted.append(outcome)
    poll.offsets = advance(offsets, batch.records)
    poll.lag = record_lag(topic, group, batch, poll.offsets)
    _count(topic, group, poll)
    commit_positions(bootstrap, topic, group, poll.offsets)
    return poll


def _count(topic: str, group: str, poll: Poll) -> None:
    from hcml.observability import KAFKA_MESSAGES_CONSUMED

    KAFKA_MESSAGES_CONSUMED.labels(topic, group, "processed").inc(len(poll.accepted))
    KAFKA_MESSAGES_CONSUMED.labels(topic, group, "dead_lettered").inc(len(poll.dead_lettered))
    KAFKA_MESSAGES_CONSUMED.labels(topic, group, "skipped").inc(len(poll.skipped))
