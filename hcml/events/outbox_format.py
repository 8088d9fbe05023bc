"""The realtime outbox's on-disk format: frames (magic, length, CRC-32) holding encoded event records, in
numbered segment files per owner plus a dead-letter file.

Written by `realtime.outbox`; read there and by `hcml audit verify` (`hcml.compliance.verify`), which must not
import the service: one definition of the format for both.
"""

from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

MAGIC = b"HCOB"
FRAME = struct.Struct(">4sII")  # magic, payload length, crc32 of the payload
STAMP = struct.Struct(">Q")  # created at, ms since the epoch (first field of the payload)
MAX_RECORD_BYTES = 64 << 20  # a length above this is damage, not a record


# ------------------------------------------------------------------------------------------ records
@dataclass
class Record:
    topic: str
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]
    created_ms: int

    @property
    def event_id(self) -> str | None:
        for name, value in self.headers:
            if name == "ce_id":
                return value.decode("utf-8", "replace")
        return None

    def encode(self) -> bytes:
        topic = self.topic.encode()
        parts = [STAMP.pack(self.created_ms), struct.pack(">H", len(topic)), topic]
        parts.append(struct.pack(">i", -1 if self.key is None else len(self.key)))
        if self.key is not None:
            parts.append(self.key)
        parts.append(struct.pack(">H", len(self.headers)))
        for name, value in self.headers:
            raw = name.encode()
            parts += [struct.pack(">H", len(raw)), raw, struct.pack(">I", len(value)), value]
        parts.append(self.value)
        payload = b"".join(parts)
        return FRAME.pack(MAGIC, len(payload), zlib.crc32(payload)) + payload

    @classmethod
    def decode(cls, payload: bytes) -> Record:
        view = memoryview(payload)
        (created_ms,) = STAMP.unpack_from(view, 0)
        pos = STAMP.size
        (n,) = struct.unpack_from(">H", view, pos)
        topic = bytes(view[pos + 2 : pos + 2 + n]).decode()
        pos += 2 + n
        (n,) = struct.unpack_from(">i", view, pos)
        pos += 4
        key = None if n < 0 else bytes(view[pos : pos + n])
        pos += max(n, 0)
        (count,) = struct.unpack_from(">H", view, pos)
        pos += 2
        headers = []
        for _ in range(count):
            (n,) = struct.unpack_from(">H", view, pos)
            name = bytes(view[pos + 2 : pos + 2 + n]).decode()
            pos += 2 + n
            (n,) = struct.unpack_from(">I", view, pos)
            headers.append((name, bytes(view[pos + 4 : pos + 4 + n])))
            pos += 4 + n
        return cls(topic, key, bytes(view[pos:]), headers, created_ms)


def read_frame(fd: int, offset: int, end: int) -> tuple[str, int, bytes | None]:
    """('ok', next offset, payload) | ('torn', end, None) for an incomplete frame at the end |
    ('bad', offset, None) for a frame that does not check out."""
    if end - offset < FRAME.size:
        return "torn", end, None
    magic, length, crc = FRAME.unpack(os.pread(fd, FRAME.size, offset))
    if magic != MAGIC or length > MAX_RECORD_BYTES:
        return "bad", offset, None
    if offset + FRAME.size + length > end:
        return "torn", end, None
    payload = os.pread(fd, length, offset + FRAME.size)
    if len(payload) != length or zlib.crc32(payload) != crc:
        return "bad", offset, None
    return "ok", offset + FRAME.size + length, payload


def resync(fd: int, offset: int, end: int) -> int:
    """The offset of the next frame that checks out after a damaged one (`end` if none)."""
    pos = offset + 1
    while pos < end:
        chunk = os.pread(fd, min(1 << 20, end - pos), pos)
        found = chunk.find(MAGIC)
        while found >= 0:
            status, _, _ = read_frame(fd, pos + found, end)
            if status == "ok":
                return pos + found
            found = chunk.find(MAGIC, found + 1)
        pos += max(1, len(chunk) - len(MAGIC) + 1)
    return end


def stored_records(root: Path) -> list[tuple[str, Record]]:
    """Every readable record kept under an outbox root (each owner's segments, then the dead letters), with
    where it is ("<owner>/<segment>@<byte>"): what `hcml audit verify` reads beside Kafka."""
    out: list[tuple[str, Record]] = []
    files = [s for d in sorted(p for p in Path(root).iterdir() if p.is_dir()) for s in _segments(d)]
    files += [p for p in [Path(root) / "dead-letters.seg"] if p.exists()]
    for path in files:
        fd = os.open(path, os.O_RDONLY)
        try:
            end, offset = os.fstat(fd).st_size, 0
            while offset < end:
                status, nxt, payload = read_frame(fd, offset, end)
                if status == "ok" and payload is not None:
                    out.append((f"{path.parent.name}/{path.name}@{offset}", Record.decode(payload)))
                    offset = nxt
                else:
                    offset = end if status == "torn" else resync(fd, offset, end)
        finally:
            os.close(fd)
    return out


# ----------------------------------------------------------------------------------------- segments
def _segments(directory: Path) -> list[Path]:
    """The segment files of a directory in order (other files are not the outbox's and are left alone)."""
    return sorted(p for p in directory.glob("*.seg") if p.stem.isdigit())
