"""Retention per data class, enforced by a scheduled job (`hcml_dagster.compliance.retention_job`).

| class | what | variable (days, read at call time) | default |
|---|---|---|---|
| inputs | submitted inputs and status in the store (`submissions/`), landing-folder files | `HCML_RETENTION_INPUTS_DAYS` | 30 |
| reports | reports, rejects and per-partition asset outputs (`reports/`, `rejects/`, `assets/*/<partition>`) | `HCML_RETENTION_REPORTS_DAYS` | 3650 |
| events | Kafka payloads sealed under day keys (no named patient): the day keys are shredded | `HCML_RETENTION_EVENTS_DAYS` | 30 |

Age is the object's last modification. A run appends one `retention_enforced` record (counts per class,
never names) to the pipeline trail. Kafka's own `retention.ms` (hcml.events.topics) removes the sealed
records themselves; shredding makes them unreadable from the day the policy says.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hcml.compliance import crypto
from hcml.compliance.trail import append_pipeline_record
from hcml.config import data_dir
from hcml.storage import AzureBlobStore, LocalStore, open_store

DEFAULT_DAYS = {"inputs": 30, "reports": 3650, "events": 30}
VARIABLES = {
    "inputs": "HCML_RETENTION_INPUTS_DAYS",
    "reports": "HCML_RETENTION_REPORTS_DAYS",
    "events": "HCML_RETENTION_EVENTS_DAYS",
}
CLASS_PREFIXES = {"inputs": ("submissions/",), "reports": ("reports/", "rejects/", "assets/")}


def retention_days(data_class: str) -> float:
    return float(os.environ.get(VARIABLES[data_class]) or DEFAULT_DAYS[data_class])


@dataclass
class RetentionReport:
    inputs: int = 0
    reports: int = 0
    landing_files: int = 0
    day_keys_shredded: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def _expired_objects(store: Any, prefixes: tuple[str, ...], before: datetime) -> list[Any]:
    if isinstance(store, LocalStore):
        out = []
        for prefix in prefixes:
            root = store.root / prefix.rstrip("/")
            if root.is_dir():
                out += [
                    p
                    for p in root.rglob("*")
                    if p.is_file() and datetime.fromtimestamp(p.stat().st_mtime, UTC) < before
                ]
        return out
    if isinstance(store, AzureBlobStore):
        container = store.service.get_container_client(store.container)
        base = f"{store.prefix}/" if store.prefix else ""
        return [
            b.name
            for prefix in prefixes
            for b in container.list_blobs(name_starts_with=base + prefix)
            if b.last_modified < before
        ]
    raise TypeError(f"retention cannot list {store!r}")


def _delete(store: Any, items: list[Any]) -> int:
    if isinstance(store, LocalStore):
        for path in items:
            Path(path).unlink(missing_ok=True)
    else:
        container = store.service.get_container_client(store.container)
        for name in items:
            container.delete_blob(name, delete_snapshots="include")
    return len(items)


def enforce_retention(now: datetime | None = None, store: Any = None) -> RetentionReport:
    """Delete what is past its class's retention; shred the day keys past the events retention."""
    now = now or datetime.now(UTC)
    store = store or open_store()
    report = RetentionReport()
    for data_class, prefixes in CLASS_PREFIXES.items():
        expired = _expired_objects(store, prefixes, now - timedelta(days=retention_days(data_class)))
        setattr(report, data_class, _delete(store, expired))
    landing = Path(os.environ.get("HCML_LANDING_DIR") or data_dir() / "landing")
    if landing.is_dir():
        cutoff = (now - timedelta(days=retention_days("inputs"))).timestamp()
        for path in landing.rglob("*"):
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink()
                report.landing_files += 1
    oldest_day = (now - timedelta(days=retention_days("events"))).strftime("%Y-%m-%d")
    for key_id in crypto.key_ids():
        if key_id.startswith("day-") and key_id[4:] < oldest_day:
            report.day_keys_shredded += crypto.shred(key_id)
    append_pipeline_record("retention_enforced", **report.as_dict())
    return report
