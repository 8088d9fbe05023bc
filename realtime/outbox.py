"""The durable outbox: every event the service publishes is on local disk before it is answered for.

Why files under the data dir and not Blob: the outbox must work exactly when the network does not (a
broker outage is often a network one, and the object store sits behind the same network), and an append
plus `fdatasync` costs ~0.3 ms here against a round trip per event to a store. Why here and not in
`hcml.events`: the Dagster side publishes from runs, whose unit of retry is the run itself (recorded in
Dagster's event log); only the request path must answer before Kafka has the event.

Layout: `<dir>/<owner>/NNNNNNNNNNNN.seg`, append-only segment files (a new one at SEGMENT_BYTES), each record
framed as `MAGIC | length u32 | crc32 u32 | payload` so that a torn write at a crash, or a damaged byte, is
found, logged and skipped (the reader resynchronises on the next valid frame), never a crash. Beside each
segment `NNNNNNNNNNNN.ack` holds the byte offset below which every record is acknowledged by the broker;
a segment is deleted once it is no longer written to and every record in it is acknowledged. Durability:
`fsync="always"` (the default) answers a request only after `fdatasync` of its events, one sync per group
of concurrent requests; `"never"` answers after `write()` (a process crash loses nothing, a power cut may).

Each process holds an `flock` on its own `<owner>` directory; at start it takes over every directory
whose lock is free (a previous run, a worker that died) and replays it. A replica stopped with undelivered events hands them to the next one through Blob when it is configured
(`realtime/outbox_handoff.py`: the cluster's volume goes with the pod). Delivery is at-least-once: an
event whose acknowledgement was in flight when the process died (the `.ack` offset is written every
CHECKPOINT_SECONDS and at shutdown) is sent again; consumers deduplicate by the CloudEvent id (`ce_id`).

Audit chain: each process chains what it records into a stream of its own (`hcml.compliance.chain`): the
writer thread adds `hcml_chain_stream/seq/prev` headers to every event in the order it writes them, so a
resent event carries the same link, and an anchor thread writes the head to the object store.
"""

from __future__ import annotations

import fcntl
import logging
import os
import struct
import threading
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hcml.compliance.anchors import Anchorer, stream_id
from hcml.compliance.chain import ChainHead, chain_event
from hcml.events.outbox_format import (  # the frame format: one definition, read by `hcml audit verify` too
    FRAME,
    MAGIC,
    STAMP,
    Record,
    _segments,
    read_frame,
    resync,
)

log = logging.getLogger("hcml.realtime.outbox")

SEGMENT_BYTES = 8 << 20
CHECKPOINT_SECONDS = 0.5
WRITE_RETRY_SECONDS = 2.0

Message = tuple[str, bytes | None, bytes, list[tuple[str, bytes]]]  # topic, key, value, headers
Builder = Callable[[], Message]


class OutboxUnavailable(Exception):
    """The outbox cannot take events now (over its byte budget, or the disk refuses writes)."""


@dataclass(eq=False)
class Segment:
    seq: int
    path: Path
    size: int = 0  # bytes written and synced (the reader never reads past it)
    acked: int = 0  # every record below this offset is acknowledged
    acked_saved: int = 0
    active: bool = False
    sent: OrderedDict[int, list] = field(default_factory=OrderedDict)  # offset -> [end, acked]
    fd: int | None = None

    @property
    def ack_path(self) -> Path:
        return self.path.with_suffix(".ack")

    def read_fd(self) -> int:
        if self.fd is None:
            self.fd = os.open(self.path, os.O_RDONLY)
        return self.fd

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


@dataclass
class Pending:
    """A record handed to the producer: where it lives, so that its acknowledgement can be recorded."""

    segment: Segment
    offset: int
    end: int
    record: Record

    @property
    def size(self) -> int:
        return self.end - self.offset


class Outbox:
    """Append-only segment files; `append` (group commit, any thread) and `read`/`ack`/`nack` (one reader)."""

    def __init__(
        self,
        directory: Path,
        max_bytes: int,
        fsync: bool = True,
        segment_bytes: int = SEGMENT_BYTES,
        handoff: Any = None,
    ) -> None:
        self.root = Path(directory)
        self.handoff = handoff  # realtime.outbox_handoff.BlobHandoff: what a stopped replica leaves, via Blob
        self.max_bytes = max_bytes
        self.fsync = fsync
        # the segment being written is never deleted: a small share of the budget, so that a drained
        # outbox always falls back under it
        self.segment_bytes = max(4096, min(segment_bytes, max_bytes // 8))
        self.segments: list[Segment] = []
        self._lock = threading.Lock()
        self._data = threading.Condition(self._lock)  # the reader waits here for new records
        self._cursor = 0  # index into segments of the reader
        self._offset = 0
        self._retries: deque[tuple[Segment, int]] = deque()
        self.records = 0  # pending: appended, not yet acknowledged
        self.total_bytes = 0  # on disk, every live segment (read without the lock: one int)
        self.appended = 0
        self.acknowledged = 0
        self.write_error: str | None = None
        self._write_error_at = 0.0
        self.corrupt_bytes = 0
        self._jobs: list[tuple[list[Message | Builder], Future]] = []
        self._jobs_cv = threading.Condition()
        self._writer: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock_fds: list[int] = []
        self._degraded_logged = False
        self.directory: Path | None = None
        self._active_fd: int | None = None
        self.chain = ChainHead(stream_id("outbox"))  # this process's audit hash chain over what it records
        self._chain_lock = threading.Lock()
        self._anchorer: Anchorer | None = None

    # ------------------------------------------------------------------------------- opening
    def open(self) -> None:
        """Claim a directory, take over every unclaimed one (replayed), start the writer thread."""
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        own: Path | None = None
        orphans: list[Path] = []
        for path in sorted(p for p in self.root.iterdir() if p.is_dir()):
            if self._claim(path):
                if own is None:
                    own = path
                else:
                    orphans.append(path)
        if own is None:
            own = self.root / uuid.uuid4().hex[:12]
            own.mkdir(mode=0o700)
            if not self._claim(own):
                raise OutboxUnavailable("could not lock a fresh outbox directory")
        self.directory = own
        existing = _segments(own)
        next_seq = int(existing[-1].stem) + 1 if existing else 1
        for orphan in orphans:  # a previous process's events: moved in, in their order, then replayed
            for seg_path in _segments(orphan):
                target = own / f"{next_seq:012d}.seg"
                ack = seg_path.with_suffix(".ack")
                if ack.exists():
                    os.replace(ack, target.with_suffix(".ack"))
                os.replace(seg_path, target)
                next_seq += 1
            for leftover in orphan.iterdir():
                leftover.unlink()
            orphan.rmdir()
        if self.handoff is not None:
            try:
                next_seq = self.handoff.adopt(own, next_seq)
            except Exception as exc:  # Blob away: this replica starts anyway; the segments wait there
                log.error(
                    "outbox: segments handed over by stopped replicas could not be taken (%s)", type(exc).__name__
                )
        for seg_path in _segments(own):
            self._load_segment(seg_path)
        if self.records:
            log.warning("outbox: %d events (%d bytes) of a previous run to deliver", self.records, self.bytes_on_disk())
        self._roll(next_seq)  # above every segment number in the directory
        self._anchorer = Anchorer(self.chain, self._chain_lock)
        self._writer = threading.Thread(target=self._write_loop, name="hcml-outbox-writer", daemon=True)
        self._writer.start()

    def _claim(self, path: Path) -> bool:
        try:
            fd = os.open(path / "LOCK", os.O_RDWR | os.O_CREAT, 0o600)
        except FileNotFoundError:  # another process took it over and removed it meanwhile
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._lock_fds.append(fd)
        return True

    def _load_segment(self, path: Path) -> None:
        seg = Segment(int(path.stem), path, size=path.stat().st_size)
        if seg.size == 0:  # the segment a previous run was writing when it stopped, empty
            path.unlink()
            seg.ack_path.unlink(missing_ok=True)
            return
        try:
            seg.acked = seg.acked_saved = min(int(seg.ack_path.read_text().strip() or 0), seg.size)
        except (OSError, ValueError):
            seg.acked = seg.acked_saved = 0  # no checkpoint: every record is sent again
        fd = seg.read_fd()
        offset, n = seg.acked, 0
        while offset < seg.size:
            status, nxt, _ = read_frame(fd, offset, seg.size)
            if status == "ok":
                n, offset = n + 1, nxt
            else:
                offset = self._skip_damage(seg, offset, status)
        self.segments.append(seg)
        self.records += n
        self.total_bytes += seg.size
        if seg.acked >= seg.size:
            self._maybe_delete(seg)

    def _skip_damage(self, seg: Segment, offset: int, status: str) -> int:
        """Log and skip a torn tail or a damaged frame; the offset to continue from."""
        resume = seg.size if status == "torn" else resync(seg.read_fd(), offset, seg.size)
        self.corrupt_bytes += resume - offset
        log.warning(
            "outbox: %d unreadable bytes skipped at byte %d of segment %d (%s)",
            resume - offset,
            offset,
            seg.seq,
            "a torn write at the end" if status == "torn" else "a damaged record",
        )
        return resume

    # ------------------------------------------------------------------------------- writing
    def _roll(self, seq: int) -> None:
        assert self.directory is not None
        if self._active_fd is not None:
            os.close(self._active_fd)
        path = self.directory / f"{seq:012d}.seg"
        self._active_fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        seg = Segment(seq, path, active=True)
        with self._lock:
            if self.segments:
                self.segments[-1].active = False
            self.segments.append(seg)
            if len(self.segments) >= 2:
                self._maybe_delete(self.segments[-2])

    def bytes_on_disk(self) -> int:
        return self.total_bytes

    @property
    def degraded(self) -> bool:
        """Over the byte budget, or the last write failed (said once in the log when it starts)."""
        degraded = self.write_error is not None or self.total_bytes >= self.max_bytes
        if degraded:
            self._note_degraded()
        return degraded

    def _refuses(self) -> bool:
        """Over the budget; or the disk failed a write less than WRITE_RETRY_SECONDS ago (then one group
        is let through to find out whether it writes again)."""
        if self.total_bytes >= self.max_bytes:
            return True
        return self.write_error is not None and time.monotonic() - self._write_error_at < WRITE_RETRY_SECONDS

    def append(self, items: list[Message | Builder]) -> Future:
        """Durably record `items` (messages, or callables building one on the writer thread); the Future
        completes when they are on disk, or fails with OutboxUnavailable."""
        future: Future = Future()
        if self._writer is None or self._stop.is_set():
            future.set_exception(OutboxUnavailable("the outbox is closed"))
            return future
        if self._refuses():
            self._note_degraded()
            future.set_exception(OutboxUnavailable(self._degraded_reason()))
            return future
        with self._jobs_cv:
            self._jobs.append((items, future))
            self._jobs_cv.notify()
        return future

    def _degraded_reason(self) -> str:
        if self.write_error is not None:
            return f"the outbox cannot be written ({self.write_error})"
        return f"the outbox holds {self.bytes_on_disk()} bytes, over its {self.max_bytes}-byte budget"

    def _note_degraded(self) -> None:
        if not self._degraded_logged:
            self._degraded_logged = True
            log.error(
                "audit trail degraded: synchronous answers refused until the outbox drains "
                "(%d events, %d bytes, budget %d bytes%s)",
                self.records,
                self.bytes_on_disk(),
                self.max_bytes,
                f"; write error: {self.write_error}" if self.write_error else "",
            )

    def _write_loop(self) -> None:
        while True:
            with self._jobs_cv:
                while not self._jobs and not self._stop.is_set():
                    self._jobs_cv.wait(0.5)
                jobs, self._jobs = self._jobs, []
            if not jobs:
                if self._stop.is_set():
                    return
                continue
            try:
                self._write_group(jobs)
            except Exception as exc:  # never a request left waiting, never the writer dead
                log.exception("outbox writer failed a group of events")
                self.write_error = type(exc).__name__
                self._write_error_at = time.monotonic()
                for _, future in jobs:
                    if not future.done():
                        future.set_exception(OutboxUnavailable(self._degraded_reason()))

    def _write_group(self, jobs: list[tuple[list[Message | Builder], Future]]) -> None:
        frames: list[bytes] = []
        done: list[tuple[Future, int]] = []
        now = int(time.time() * 1000)
        chain = self.chain
        with self._chain_lock:
            chain_before = (chain.seq, chain.hash)
            for items, future in jobs:
                if not future.set_running_or_notify_cancel():
                    continue  # its request gave up waiting (and answered 503): nothing to record
                try:
                    built = [item() if callable(item) else item for item in items]
                except Exception as exc:  # an event that cannot be built is a bug: the request fails, loudly
                    log.error("event could not be built for the outbox (%s)", type(exc).__name__)
                    future.set_exception(exc)
                    continue
                encoded = [
                    Record(topic, key, value, chain_event(chain, topic, key, value, list(headers)), now).encode()
                    for topic, key, value, headers in built
                ]
                frames.extend(encoded)
                done.append((future, len(encoded)))
        if not frames:
            return
        data = b"".join(frames)
        seg = self.segments[-1]
        assert self._active_fd is not None
        try:
            written = os.write(self._active_fd, data)
            if written != len(data):
                raise OSError(f"short write ({written} of {len(data)} bytes)")
            if self.fsync:
                os.fdatasync(self._active_fd)
        except OSError as exc:
            try:
                os.ftruncate(self._active_fd, seg.size)  # no half-written group left behind
            except OSError:
                pass
            with self._chain_lock:  # the group is not recorded: neither are its links
                chain.seq, chain.hash = chain_before
            self.write_error = exc.strerror or type(exc).__name__
            self._write_error_at = time.monotonic()
            self._note_degraded()
            for future, _ in done:
                future.set_exception(OutboxUnavailable(self._degraded_reason()))
            return
        with self._data:
            seg.size += len(data)
            self.total_bytes += len(data)
            self.records += len(frames)
            self.appended += len(frames)
            self.write_error = None
            self._data.notify_all()
        for future, _ in done:
            future.set_result(True)
        if self._degraded_logged and not self.degraded:
            self._degraded_logged = False
            log.warning(
                "audit trail recovered: the outbox accepts events again (%d events, %d bytes)",
                self.records,
                self.bytes_on_disk(),
            )
        if seg.size >= self.segment_bytes:
            self._roll(seg.seq + 1)

    # ------------------------------------------------------------------------------- reading
    def wait_for_records(self, timeout: float) -> None:
        with self._data:
            if not self._retries and not self._unread_locked():
                self._data.wait(timeout)

    def _unread_locked(self) -> bool:
        for seg in self.segments[self._cursor :]:
            start = self._offset if seg is self.segments[self._cursor] else seg.acked
            if start < seg.size:
                return True
        return False

    def read(self, max_records: int, max_bytes: int) -> list[Pending]:
        """The next records to send: retries first, then in order from the reader's position."""
        out: list[Pending] = []
        taken = 0
        with self._lock:
            while self._retries and len(out) < max_records and taken < max_bytes:
                seg, offset = self._retries.popleft()
                entry = seg.sent.get(offset)
                if entry is None or entry[1]:
                    continue
                status, end, payload = read_frame(seg.read_fd(), offset, seg.size)
                if status == "ok" and payload is not None:
                    out.append(Pending(seg, offset, end, Record.decode(payload)))
                    taken += end - offset
            while len(out) < max_records and taken < max_bytes and self._cursor < len(self.segments):
                seg = self.segments[self._cursor]
                if self._offset < seg.acked:
                    self._offset = seg.acked
                if self._offset >= seg.size:
                    if seg.active:
                        break
                    self._cursor += 1
                    self._offset = 0
                    self._maybe_delete(seg)
                    continue
                status, end, payload = read_frame(seg.read_fd(), self._offset, seg.size)
                if status != "ok" or payload is None:
                    self._offset = self._skip_damage(seg, self._offset, status)
                    self._advance_watermark(seg)
                    continue
                try:
                    record = Record.decode(payload)
                except (struct.error, UnicodeDecodeError):  # a frame that checks out but does not parse
                    log.error("outbox: undecodable record skipped at byte %d of segment %d", self._offset, seg.seq)
                    self._offset = end
                    self.records -= 1
                    continue
                seg.sent[self._offset] = [end, False]
                out.append(Pending(seg, self._offset, end, record))
                taken += end - self._offset
                self._offset = end
        return out

    def ack(self, pending: Pending) -> None:
        """The broker has it: the record may go."""
        with self._lock:
            entry = pending.segment.sent.get(pending.offset)
            if entry is None or entry[1]:
                return
            entry[1] = True
            self.records -= 1
            self.acknowledged += 1
            self._advance_watermark(pending.segment)

    def nack(self, pending: Pending) -> None:
        """Not delivered (yet): send it again."""
        with self._lock:
            self._retries.append((pending.segment, pending.offset))

    def _advance_watermark(self, seg: Segment) -> None:
        while seg.sent:
            offset, (end, acked) = next(iter(seg.sent.items()))
            if not acked:
                seg.acked = max(seg.acked, offset)
                break
            seg.sent.popitem(last=False)
            seg.acked = max(seg.acked, end)
        else:  # nothing outstanding: everything the reader has passed is done
            seg.acked = max(seg.acked, self._reader_offset(seg))
        self._maybe_delete(seg)

    def _reader_offset(self, seg: Segment) -> int:
        """How far the reader has gone in `seg` (its size once the reader is past it, 0 before)."""
        index = self.segments.index(seg)
        if index < self._cursor:
            return seg.size
        return self._offset if index == self._cursor else 0

    def _maybe_delete(self, seg: Segment) -> None:
        """Remove a segment nobody writes to any more once every record in it is acknowledged."""
        if seg.active or seg.sent or seg.acked < seg.size or seg not in self.segments:
            return
        index = self.segments.index(seg)
        if index >= self._cursor and not (index == self._cursor and self._offset >= seg.size):
            return
        seg.close()
        for path in (seg.path, seg.ack_path):
            try:
                path.unlink()
            except FileNotFoundError:
                pass
        self.segments.pop(index)
        self.total_bytes -= seg.size
        if index < self._cursor:
            self._cursor -= 1
        elif index == self._cursor:
            self._offset = 0

    def checkpoint(self) -> None:
        """Write the acknowledged offset of every segment that moved (a lost checkpoint only resends)."""
        with self._lock:
            moved = [(s, s.acked) for s in self.segments if s.acked != s.acked_saved]
        for seg, acked in moved:
            tmp = seg.ack_path.with_suffix(".ack.tmp")
            try:
                tmp.write_text(str(acked))
                os.replace(tmp, seg.ack_path)
                seg.acked_saved = acked
            except FileNotFoundError:
                pass  # the segment was deleted meanwhile

    # ------------------------------------------------------------------------------- state
    def oldest_age_seconds(self) -> float:
        """Age of the oldest event not yet acknowledged (0 when none)."""
        with self._lock:
            for seg in self.segments:
                unacked = [o for o, (_, acked) in seg.sent.items() if not acked]
                reader = max(self._reader_offset(seg), seg.acked)
                offset = unacked[0] if unacked else (reader if reader < seg.size else None)
                if offset is None:
                    continue
                head = os.pread(seg.read_fd(), FRAME.size + STAMP.size, offset)
                if len(head) == FRAME.size + STAMP.size and head[:4] == MAGIC:
                    return max(0.0, time.time() - STAMP.unpack_from(head, FRAME.size)[0] / 1000)
        return 0.0

    def dead_letter(self, pending: Pending, reason: str) -> None:
        """A record the broker refuses for good (too large, invalid): kept in `dead-letters.seg` beside the
        outbox directories, logged, and taken out of the outbox so that the rest flows."""
        frame = pending.record.encode()
        fd = os.open(self.root / "dead-letters.seg", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, frame)
            os.fsync(fd)
        finally:
            os.close(fd)
        log.error(
            "outbox: event %s for %s refused by the broker (%s), kept in the dead-letter file",
            pending.record.event_id,
            pending.record.topic,
            reason,
        )
        self.ack(pending)

    def status(self) -> dict:
        return {
            "records": self.records,
            "bytes": self.bytes_on_disk(),
            "max_bytes": self.max_bytes,
            "oldest_age_seconds": round(self.oldest_age_seconds(), 3),
            "degraded": self.degraded,
            "fsync": "always" if self.fsync else "never",
        }

    def _hand_over(self) -> None:
        pieces = [(seg.path, seg.acked) for seg in self.segments if seg.acked < seg.size]
        try:
            _, sent = self.handoff.hand_over(pieces)
        except Exception as exc:
            log.error(
                "outbox: %d undelivered events could not be handed over to the object store (%s); they "
                "stay on this replica's volume",
                self.records,
                type(exc).__name__,
            )
            return
        log.warning(
            "outbox: %d undelivered events (%d bytes) handed over to the object store for the next replica to start",
            self.records,
            sent,
        )
        self.records = 0
        self.total_bytes = 0

    def close(self) -> None:
        """Finish pending writes, save the acknowledged offsets, release the directory."""
        self._stop.set()
        with self._jobs_cv:
            self._jobs_cv.notify_all()
        if self._writer is not None:
            self._writer.join(timeout=10)
            self._writer = None
        self.checkpoint()
        with self._lock:
            for seg in list(self.segments):
                if not seg.active:
                    self._maybe_delete(seg)
            for seg in self.segments:
                seg.close()
        if self._active_fd is not None:
            os.close(self._active_fd)
            self._active_fd = None
        if self._anchorer is not None:
            self._anchorer.close()
            self._anchorer = None
        if self.handoff is not None and self.records:
            self._hand_over()
        for fd in self._lock_fds:
            os.close(fd)
        self._lock_fds = []
