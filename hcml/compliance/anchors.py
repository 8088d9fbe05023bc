"""Anchors: a stream's head hash + record count + time, written to the object store now and then.

Why: the last records of a chain have no successor to vouch for them, and a whole stream can be deleted;
an anchor kept apart from the records (Blob, ideally a container with an immutability policy) pins
what existed at its time. Anchors are written off the request path (`Anchorer`, a background thread),
at a stream's start (count 0, so that deleting a whole stream shows) and at its close.

Keys: `audit/anchors/<stream>/<count, 12 digits>.json` in `hcml.storage.open_store()`.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from datetime import UTC, datetime
from typing import Any

from hcml.compliance.chain import ChainHead
from hcml.storage import AzureBlobStore, LocalStore, open_store

log = logging.getLogger("hcml.compliance.anchors")

PREFIX = "audit/anchors"


def anchor_seconds() -> float:
    """HCML_AUDIT_ANCHOR_SECONDS: the longest a stream's new records go without an anchor."""
    return float(os.environ.get("HCML_AUDIT_ANCHOR_SECONDS", "60"))


def anchor_records() -> int:
    """HCML_AUDIT_ANCHOR_RECORDS: an anchor at least every this many records (sooner than the interval)."""
    return int(os.environ.get("HCML_AUDIT_ANCHOR_RECORDS", "10000"))


def anchor_body(stream: str, count: int, head: str, source: str | None = None) -> dict[str, Any]:
    body = {
        "stream": stream,
        "count": count,
        "head": head,
        "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
    }
    if source:
        body["source"] = source  # where the records are kept (a file's name), to tell a deleted stream
    return body


def write_anchor(stream: str, count: int, head: str, store: Any = None, source: str | None = None) -> str:
    """Put one anchor; its URI."""
    store = store or open_store()
    body = anchor_body(stream, count, head, source)
    return store.put(f"{PREFIX}/{stream}/{count:012d}.json", json.dumps(body, sort_keys=True).encode())


def read_anchors(store: Any = None) -> dict[str, list[dict[str, Any]]]:
    """Every anchor in the store, by stream."""
    store = store or open_store()
    out: dict[str, list[dict[str, Any]]] = {}
    for raw in _anchor_objects(store):
        try:
            anchor = json.loads(raw)
        except ValueError:
            log.error("an unreadable anchor object was skipped")
            continue
        out.setdefault(str(anchor.get("stream")), []).append(anchor)
    for anchors in out.values():
        anchors.sort(key=lambda a: a.get("count", 0))
    return out


def _anchor_objects(store: Any) -> list[bytes]:
    if isinstance(store, LocalStore):
        root = store.root / PREFIX
        return [p.read_bytes() for p in sorted(root.glob("*/*.json"))] if root.is_dir() else []
    if isinstance(store, AzureBlobStore):
        from azure.core.exceptions import ResourceNotFoundError

        container = store.service.get_container_client(store.container)
        try:
            names = [b.name for b in container.list_blobs(name_starts_with=store.blob_name(PREFIX) + "/")]
        except ResourceNotFoundError:
            return []
        return [container.download_blob(name).readall() for name in sorted(names) if name.endswith(".json")]
    raise TypeError(f"anchors cannot be listed in {store!r}")


def delete_anchors(stream: str, store: Any = None) -> None:
    """For tests and the retention job: remove a stream's anchors."""
    store = store or open_store()
    if isinstance(store, LocalStore):
        for path in (store.root / PREFIX / stream).glob("*.json"):
            path.unlink()


class Anchorer:
    """Anchors one in-memory `ChainHead` from a background thread: at start, every `anchor_seconds()` or
    `anchor_records()` records while it moves, and at `close()`. Store failures are logged and retried on
    the next tick, never raised to the writer."""

    def __init__(self, head: ChainHead, lock: threading.Lock, source: str | None = None) -> None:
        self.head = head
        self.source = source
        self.lock = lock  # the writer's lock: a consistent (count, hash) pair is read under it
        self.anchored = -1
        self.last_at = 0.0
        self.interval = anchor_seconds()
        self.every = anchor_records()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hcml-audit-anchor", daemon=True)
        self._thread.start()

    def moved(self) -> None:
        """Called by the writer after each group: wakes the thread early when `every` records are due."""
        if self.head.seq - self.anchored >= self.every:
            self._wake.set()

    def _due(self) -> bool:
        if self.anchored < 0:
            return True
        if self.head.seq == self.anchored:
            return False
        return self.head.seq - self.anchored >= self.every or time.monotonic() - self.last_at >= self.interval

    def anchor_now(self) -> None:
        with self.lock:
            count, head = self.head.seq, self.head.hash
        if count == self.anchored:
            return
        try:
            write_anchor(self.head.stream, count, head, source=self.source)
        except Exception as exc:
            log.error("audit anchor of stream %s not written (%s); retried", self.head.stream, type(exc).__name__)
            return
        self.anchored, self.last_at = count, time.monotonic()

    def _run(self) -> None:
        tick = max(0.05, min(1.0, self.interval))
        while not self._stop.is_set():
            if self._due():
                self.anchor_now()
            self._wake.wait(tick)
            self._wake.clear()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=10)
        self.anchor_now()


def stream_id(kind: str) -> str:
    """A fresh stream name: kind, host and a random part (each process chains its own stream)."""
    import socket
    import uuid

    host = "".join(c if c.isalnum() or c == "-" else "-" for c in socket.gethostname())[:40]
    return f"{kind}-{host}-{uuid.uuid4().hex[:12]}"
