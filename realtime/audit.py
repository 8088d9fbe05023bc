"""The audit log: one JSON line per request (who, role, what, when, submission id, outcome).

Only fixed, non-clinical fields are written: never a request body, a variant, a sequence, a VCF line or a
patient identifier. `AuditLog.write` accepts just the keys of `FIELDS`, so a caller cannot slip one in.
Each line is hash-chained (`stream`, `seq`, `prev`: `hcml.compliance.trail.ProcessChain`, one stream per
process), so `hcml audit verify` finds an edited, inserted, deleted or reordered line.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hcml.compliance.trail import ProcessChain

FIELDS = (
    "ts",  # when (UTC, ISO 8601, ms)
    "request_id",
    "subject",  # who: the token's `sub` (a staff identity, not a patient), or null when unauthenticated
    "role",
    "action",  # what: method + route template, or a WebSocket message type
    "submission_id",
    "result_id",
    "outcome",  # "ok" | "rejected" | "denied" | "unauthenticated" | "error" | "unavailable"
    "status",  # HTTP status (or the equivalent for a WebSocket message)
    "n_variants",
    "n_rejects",
    "duration_ms",
    "client",
)


def outcome_for(status: int) -> str:
    if status < 400:
        return "ok"
    if status == 401:
        return "unauthenticated"
    if status == 403:
        return "denied"
    if status == 503:
        return "unavailable"
    if status >= 500:
        return "error"
    return "rejected"


class AuditLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.chain = ProcessChain("realtime-audit", source=path.name)  # this process's chained stream in the log
        self._lock = threading.Lock()
        self.to_stdout = str(path) == "-"  # in a cluster: JSON lines on stdout for the log pipeline
        if self.to_stdout:
            self._fh = sys.stdout
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            # who did what to which submission: for the service's user (and its group, e.g. the log shipper)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
            os.fchmod(fd, stat.S_IMODE(os.fstat(fd).st_mode) & 0o640)  # an older, looser file is tightened
            # line-buffered: each record lands at once; open for the service's life and closed by close()
            self._fh = open(fd, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - kept open across requests

    def write(self, **fields: Any) -> None:
        unknown = set(fields) - set(FIELDS)
        if unknown:
            raise ValueError(f"audit log fields not allowed: {sorted(unknown)}")
        record = {"ts": datetime.now(UTC).isoformat(timespec="milliseconds")}
        record.update({k: v for k, v in fields.items() if v is not None})
        with self._lock:  # one lock for the link and the write: the file's order is the chain's
            line = self.chain.encode(record).decode("utf-8")
            self._fh.write(line + "\n")
            if self.to_stdout:
                self._fh.flush()

    def tail(self, n: int = 100) -> list[dict[str, Any]]:
        if self.to_stdout:
            return []
        with self._lock:
            self._fh.flush()
        lines = self.path.read_text(encoding="utf-8").splitlines()[-n:]
        return [json.loads(x) for x in lines if x.strip()]

    def close(self) -> None:
        self.chain.close()
        with self._lock:
            if self.to_stdout:
                self._fh.flush()
            else:
                self._fh.close()


class Timer:
    def __init__(self) -> None:
        self.start = time.perf_counter()

    @property
    def ms(self) -> float:
        return round((time.perf_counter() - self.start) * 1000, 3)
