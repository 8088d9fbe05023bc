"""What the realtime routes share: the `Runtime` (created in the app's lifespan), the in-memory submission
registry and the push hub that hands results to WebSocket clients.

Its own module so that the route modules (`submissions`, `ws`) can name it without importing the app.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from realtime.audit import AuditLog
from realtime.auth import TokenVerifier
from realtime.events import EventPublisher, ResultsListener
from realtime.model_watcher import ModelWatcher
from realtime.service import ServiceState
from realtime.settings import Settings


class SubmissionRegistry:
    def __init__(self) -> None:
        self._records: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def put(self, record: dict[str, Any]) -> None:
        with self._lock:
            self._records[record["submission_id"]] = record

    def get(self, submission_id: str) -> dict[str, Any] | None:
        with self._lock:
            rec = self._records.get(submission_id)
            return dict(rec) if rec else None

    def update(self, submission_id: str, **fields: Any) -> dict[str, Any]:
        with self._lock:
            rec = self._records.setdefault(submission_id, {"submission_id": submission_id})
            rec.update(fields)
            return dict(rec)


class PushHub:
    """Submission id -> WebSocket queues; safe to publish from any thread."""

    def __init__(self) -> None:
        self._subscribers: dict[str, set[asyncio.Queue]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self.connections = 0

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def subscribe(self, submission_id: str, queue: asyncio.Queue) -> None:
        self._subscribers.setdefault(submission_id, set()).add(queue)

    def unsubscribe_all(self, queue: asyncio.Queue) -> None:
        for subs in self._subscribers.values():
            subs.discard(queue)
        for sid in [s for s, q in self._subscribers.items() if not q]:
            del self._subscribers[sid]

    def _deliver(self, submission_id: str, message: dict[str, Any]) -> None:
        for queue in list(self._subscribers.get(submission_id, ())):
            queue.put_nowait(message)

    def publish(self, submission_id: str, message: dict[str, Any]) -> None:
        if self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._deliver, submission_id, message)


class Runtime:
    """Everything the routes share, created in the lifespan (never at import time)."""

    def __init__(self, settings: Settings, state: ServiceState) -> None:
        self.settings = settings
        self.state = state
        self.verifier = TokenVerifier(settings)
        self.audit = AuditLog(settings.audit_log)
        self.publisher = EventPublisher(
            settings.kafka_bootstrap, settings.outbox_dir, settings.outbox_max_bytes, fsync=settings.outbox_fsync
        )
        self.registry = SubmissionRegistry()
        self.hub = PushHub()
        self.listener: ResultsListener | None = None
        self.model_watcher: ModelWatcher | None = None
        self.started_at = time.time()
