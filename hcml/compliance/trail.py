"""Hash-chained JSON-lines audit trails: the realtime audit log's lines and the pipeline's records.

Each line is the record's canonical JSON (sorted keys, compact), so its SHA-256 is the hash the next line
carries. Two writers:
- `ProcessChain`: one process's stream in memory (the realtime audit log: several worker processes may
  append to one file, each chains its own stream, anchored by a background thread);
- `append_pipeline_record`: the pipeline's trail (`HCML_AUDIT_PIPELINE_LOG`, default
  `$HCML_DATA_DIR/audit/pipeline.jsonl`), one stream shared by every run process: the file is locked, the
  last line read back, the record linked and appended, and an anchor written when one is due.
Records here never hold patient identifiers: a patient appears only as its keyed pseudonym.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hcml.compliance.anchors import Anchorer, anchor_records, anchor_seconds, stream_id, write_anchor
from hcml.compliance.chain import GENESIS, ChainHead, Located
from hcml.config import data_dir

PIPELINE_STREAM = "pipeline"


class ProcessChain:
    """This process's stream of a JSON-lines log: `encode(body)` -> the line to write (thread-safe)."""

    def __init__(self, kind: str, source: str | None = None) -> None:
        self.lock = threading.Lock()
        self.head = ChainHead(stream_id(kind))
        self.anchorer = Anchorer(self.head, self.lock, source)

    def encode(self, body: dict[str, Any]) -> bytes:
        """Call with the writer's ordering lock held: the line order in the file is the chain order."""
        with self.lock:
            return self.head.link_encoded(body)

    def close(self) -> None:
        self.anchorer.close()


def pipeline_log() -> Path:
    return Path(os.environ.get("HCML_AUDIT_PIPELINE_LOG") or data_dir() / "audit" / "pipeline.jsonl")


def _last_line(fd: int) -> bytes | None:
    end = os.lseek(fd, 0, os.SEEK_END)
    if end == 0:
        return None
    size = min(end, 1 << 16)
    while True:
        tail = os.pread(fd, size, end - size)
        lines = tail.rstrip(b"\n").split(b"\n")
        if len(lines) > 1 or size == end:
            return lines[-1]
        size = min(end, size * 4)


def append_pipeline_record(event: str, **fields: Any) -> dict[str, Any]:
    """Append one record (`event` + PHI-free fields) to the pipeline's trail; the record as written."""
    path = pipeline_log()
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"event": event, "ts": datetime.now(UTC).isoformat(timespec="milliseconds"), **fields}
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o640)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        last = _last_line(fd)
        if last:
            previous = json.loads(last)
            head = ChainHead(PIPELINE_STREAM, int(previous["seq"]) + 1, hashlib.sha256(last).hexdigest())
        else:
            head = ChainHead(PIPELINE_STREAM, 0, GENESIS)
        raw = head.link_encoded(body)
        os.write(fd, raw + b"\n")
        os.fsync(fd)
        _anchor_if_due(path, head)
    finally:
        os.close(fd)  # releases the lock
    return json.loads(raw)


def _anchor_if_due(path: Path, head: ChainHead) -> None:
    """Anchor the pipeline stream when the last anchor (time and count kept beside the log) is old enough."""
    state = path.with_name(path.name + ".anchored")
    try:
        last_time, last_count = (float(x) for x in state.read_text().split())
    except (OSError, ValueError):
        last_time, last_count = 0.0, -1.0
    if time.time() - last_time < anchor_seconds() and head.count - last_count < anchor_records():
        return
    write_anchor(head.stream, head.count, head.hash, source=path.name)
    state.write_text(f"{time.time()} {head.count}")


def anchor_pipeline() -> None:
    """Anchor the pipeline trail now (at erasure, and from `hcml audit anchor`)."""
    path = pipeline_log()
    if not path.exists():
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        last = _last_line(fd)
    finally:
        os.close(fd)
    if last:
        write_anchor(
            PIPELINE_STREAM, int(json.loads(last)["seq"]) + 1, hashlib.sha256(last).hexdigest(), source=path.name
        )
        pipeline_log().with_name(path.name + ".anchored").write_text(f"{time.time()} {json.loads(last)['seq'] + 1}")


def read_jsonl(path: Path) -> tuple[dict[str, list[Located]], list[str]]:
    """The chained records of a JSON-lines file by stream (in file order), and the lines that are not records."""
    streams: dict[str, list[Located]] = {}
    damaged: list[str] = []
    with open(path, "rb") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                damaged.append(f"{path.name} line {number}: not JSON")
                continue
            if not isinstance(record, dict) or "stream" not in record:
                damaged.append(f"{path.name} line {number}: no chain fields")
                continue
            streams.setdefault(str(record["stream"]), []).append(Located(record, f"{path.name} line {number}"))
    return streams, damaged


def report_issued(partition: str, report: dict[str, Any], run_id: str) -> dict[str, Any]:
    """The pipeline's audit record of a clinical report: which partition (pseudonymised: a partition key can
    carry a sample name), its content and provenance hashes, the run."""
    from hcml.events.pseudonym import pseudonymise

    integrity = report.get("integrity", {})
    return append_pipeline_record(
        "report_issued",
        partition_pseudonym=pseudonymise(partition),
        content_sha256=integrity.get("content_sha256"),
        provenance_sha256=integrity.get("provenance_sha256"),
        run_id=run_id,
    )
