"""Hash chains over audit records: each record carries the SHA-256 of the one before it in its stream.

A stream is one writer's sequence of records (one realtime process's audit log, one outbox, the pipeline's
trail); its records carry `stream`, `seq` (0, 1, 2, ...) and `prev` (the SHA-256 of the previous record's
canonical JSON, GENESIS for seq 0). An edited record no longer hashes to what its successor recorded; a
deleted one leaves a gap in `seq`; an inserted one repeats a `seq` or breaks the link after it; a reordered
one links to a record that is not its neighbour. The last records of a stream have no successor: anchors
(`hcml.compliance.anchors`, the head hash + count + time in the object store) cover them, and let a stream
start past seq 0 when retention removed what an anchor vouches for.

`verify_stream` takes the records in the order a store holds them and names each break by position.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from hcml.provenance import canonical_json

GENESIS = "0" * 64
CHAIN_FIELDS = ("stream", "seq", "prev")


CHAIN_HEADERS = ("hcml_chain_stream", "hcml_chain_seq", "hcml_chain_prev")


def record_hash(record: dict[str, Any]) -> str:
    """SHA-256 of the record's canonical JSON (sorted keys, compact, UTF-8): what its successor carries."""
    return hashlib.sha256(canonical_json(record)).hexdigest()


class ChainHead:
    """The next link of one stream: `link(body)` stamps stream/seq/prev onto a record and advances."""

    __slots__ = ("hash", "seq", "stream")

    def __init__(self, stream: str, seq: int = 0, prev: str = GENESIS) -> None:
        self.stream = stream
        self.seq = seq  # the seq the next record gets
        self.hash = prev  # hash of the last record linked (GENESIS before the first)

    def link(self, body: dict[str, Any]) -> dict[str, Any]:
        record = {**body, "stream": self.stream, "seq": self.seq, "prev": self.hash}
        self.advance(record_hash(record))
        return record

    def link_encoded(self, body: dict[str, Any]) -> bytes:
        """`link` for a writer that stores the canonical JSON itself (one encoding, one hash per record)."""
        raw = canonical_json({**body, "stream": self.stream, "seq": self.seq, "prev": self.hash})
        self.advance(hashlib.sha256(raw).hexdigest())
        return raw

    def advance(self, digest: str) -> None:
        self.hash = digest
        self.seq += 1

    @property
    def count(self) -> int:
        return self.seq


@dataclass
class Located:
    """A record as read back, with where it was found (for the report)."""

    record: dict[str, Any]
    where: str  # "audit.jsonl line 17", "genetic-data-raw[0]@42", ...
    event_id: str | None = None  # ce_id of a Kafka event
    digest: str = ""

    def __post_init__(self) -> None:
        if not self.digest:
            self.digest = record_hash(self.record)

    @property
    def seq(self) -> int | None:
        seq = self.record.get("seq")
        return seq if isinstance(seq, int) and not isinstance(seq, bool) else None

    def name(self, index: int) -> str:
        ident = f", ce_id {self.event_id}" if self.event_id else ""
        return f"record {index} (seq {self.seq}{ident}, {self.where})"


@dataclass
class Problem:
    stream: str
    kind: str  # edited | inserted | deleted | reordered | truncated | unanchored
    index: int | None  # position among the stream's records as read (None: the stream as a whole)
    where: str | None
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"stream": self.stream, "kind": self.kind, "index": self.index, "where": self.where, "msg": self.message}


@dataclass
class StreamReport:
    stream: str
    records: int = 0
    anchors: int = 0
    anchored_seq: int | None = None  # the highest seq an anchor vouches for
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "stream": self.stream,
            "records": self.records,
            "anchors": self.anchors,
            "anchored_seq": self.anchored_seq,
            "ok": self.ok,
            "problems": [p.as_dict() for p in self.problems],
        }


def _diagnose(records: list[Located], i: int, hashes: dict[str, int], linked: set[str]) -> tuple[str, str]:
    """Why the link from record i-1 to record i does not hold: (kind, message). `hashes`: digest -> index;
    `linked`: every digest some record names as its `prev`."""
    cur, before = records[i], records[i - 1]
    seq, prev_seq = cur.seq, before.seq
    found = hashes.get(cur.record.get("prev", ""))
    if found is not None and found > i:
        return "reordered", (
            f"{cur.name(i)} follows {records[found].name(found)} in the chain but is stored before it: records reordered"
        )
    if i >= 2 and found == i - 2:
        if before.record.get("prev") == cur.record.get("prev") and before.digest in linked:
            return "inserted", f"{cur.name(i)} claims the place of {before.name(i - 1)} in the chain: inserted"
        if before.digest in linked:
            return "reordered", f"{before.name(i - 1)} is stored out of its place in the chain: records reordered"
        return (
            "inserted",
            f"{before.name(i - 1)} is not part of the chain (inserted): {cur.name(i)} links to record {i - 2}",
        )
    if found is not None and found < i - 2:
        return "reordered", f"{cur.name(i)} follows record {found} in the chain but is stored later: records reordered"
    if seq is None or cur.record.get("prev") is None:
        return "inserted", f"{cur.name(i)} carries no chain link (inserted)"
    if prev_seq is not None and seq > prev_seq + 1:
        return "deleted", (
            f"seq {prev_seq + 1}..{seq - 1} missing between {before.name(i - 1)} and {cur.name(i)}: records deleted"
        )
    if prev_seq is not None and seq <= prev_seq:
        return (
            "inserted",
            f"{cur.name(i)} repeats seq {seq} after {before.name(i - 1)}: a record inserted or duplicated",
        )
    return "edited", (
        f"{before.name(i - 1)} was altered (or the link of {cur.name(i)}): its hash no longer matches the "
        f"`prev` that record {i} recorded"
    )


def verify_stream(stream: str, records: list[Located], anchors: list[dict[str, Any]] | None = None) -> StreamReport:
    """Check one stream's records in stored order against each other and against its anchors."""
    anchors = sorted(anchors or [], key=lambda a: a.get("count", 0))
    report = StreamReport(stream, records=len(records), anchors=len(anchors))
    problems = report.problems
    hashes = {r.digest: i for i, r in enumerate(records)}
    by_seq = {r.seq: i for i, r in enumerate(records) if r.seq is not None}
    linked = {str(r.record.get("prev")) for r in records}
    for i, cur in enumerate(records):
        if cur.record.get("stream") != stream:
            problems.append(Problem(stream, "inserted", i, cur.where, f"{cur.name(i)} names another stream"))
            continue
        if i == 0:
            if cur.seq == 0 and cur.record.get("prev") == GENESIS:
                continue
            vouched = [a for a in anchors if a.get("count") == cur.seq and a.get("head") == cur.record.get("prev")]
            if cur.seq is not None and vouched:
                continue  # earlier records removed by retention, up to an anchor that vouches for them
            problems.append(
                Problem(
                    stream,
                    "truncated",
                    0,
                    cur.where,
                    f"the stream starts at {cur.name(0)}, not at seq 0 nor at an anchored point: records deleted before it",
                )
            )
            continue
        if cur.record.get("prev") == records[i - 1].digest and cur.seq == (records[i - 1].seq or 0) + 1:
            continue
        kind, message = _diagnose(records, i, hashes, linked)
        problems.append(Problem(stream, kind, i, cur.where, message))
    for anchor in anchors:
        count, head = anchor.get("count", 0), anchor.get("head")
        report.anchored_seq = max(report.anchored_seq or -1, count - 1) if count else report.anchored_seq
        if count == 0:
            continue
        at = by_seq.get(count - 1)
        if at is None:
            first = records[0].seq if records else None
            if first is not None and count - 1 < first:
                continue  # before the records kept (retention): vouched for by the start check
            problems.append(
                Problem(
                    stream,
                    "deleted",
                    None,
                    None,
                    f"anchor of {anchor.get('time')} counts {count} records, but seq {count - 1} is not among the "
                    f"records read (last seq read: {records[-1].seq if records else 'none'}): records deleted",
                )
            )
        elif records[at].digest != head:
            problems.append(
                Problem(
                    stream,
                    "edited",
                    at,
                    records[at].where,
                    f"{records[at].name(at)} does not hash to the head recorded by the anchor of {anchor.get('time')}: "
                    "record altered",
                )
            )
    return report


def event_record(
    topic: str, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]] | None
) -> dict[str, Any] | None:
    """The chained record of a Kafka event (as the outbox sends it): None when it carries no chain headers.
    The value and the other headers enter by their SHA-256 (headers length-prefixed, in order): a small JSON
    to encode per event on the hot path, and a shredded payload still verifies."""
    chain: dict[str, str] = {}
    digest = hashlib.sha256()
    for name, raw in headers or []:
        raw = raw if isinstance(raw, bytes) else str(raw).encode()
        if name in CHAIN_HEADERS:
            chain[name] = raw.decode("ascii", "replace")
            continue
        encoded = name.encode()
        digest.update(len(encoded).to_bytes(2, "big") + encoded + len(raw).to_bytes(4, "big") + raw)
    if "hcml_chain_stream" not in chain:
        return None
    try:
        seq: int | str = int(chain.get("hcml_chain_seq", ""))
    except ValueError:
        seq = chain.get("hcml_chain_seq", "")
    return {
        "stream": chain["hcml_chain_stream"],
        "seq": seq,
        "prev": chain.get("hcml_chain_prev"),
        "topic": topic,
        "key": key.hex() if key is not None else None,
        "headers_sha256": digest.hexdigest(),
        "value_sha256": hashlib.sha256(value or b"").hexdigest(),
    }


def chain_event(head: ChainHead, topic: str, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]]) -> list:
    """The event's headers with its link in `head`'s stream added (head advanced)."""
    linked = headers + [
        ("hcml_chain_stream", head.stream.encode()),
        ("hcml_chain_seq", str(head.seq).encode()),
        ("hcml_chain_prev", head.hash.encode()),
    ]
    record = event_record(topic, key, value, linked)
    head.advance(record_hash(record))  # type: ignore[arg-type]
    return linked
