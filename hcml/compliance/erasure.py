"""Erasure of one patient (hospital policy, GDPR Art. 17), the Dagster-free part.

What a patient leaves, and how each goes:
- objects in the store (`open_store()`: local directory or Azure Blob): the submitted input and status
  (`submissions/<id>/`), the report (`reports/<partition>/`), the rejects and every asset output of the
  partition (`rejects/<partition>.parquet`, `assets/<asset>/<partition>.*`), its runs' step outputs
  (`runs/<run id>/`): deleted;
- input files the runs read (a landing folder's VCF under the data dir): deleted;
- append-only places (Kafka topics, backups): the submission's payload and sample were sealed with the
  patient's data key (`hcml.compliance.crypto`); the key is shredded, so what remains is unreadable;
- Dagster's partitions, runs and event log: `hcml_dagster.erasure` (the orchestrator's side) calls this.
Then a tombstone (pseudonym, time, what was erased: counts and kinds, never names) is appended to the
pipeline's hash-chained trail and anchored, so the chain still verifies.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Set as AbstractSet
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from hcml.compliance import crypto
from hcml.compliance.trail import anchor_pipeline, append_pipeline_record
from hcml.config import data_dir
from hcml.events.pseudonym import pseudonymise
from hcml.storage import AzureBlobStore, LocalStore, open_store

log = logging.getLogger("hcml.compliance.erasure")


@dataclass
class ErasureReport:
    patient_pseudonym: str
    submissions: int = 0
    partitions: int = 0
    objects_deleted: int = 0
    input_files_deleted: int = 0
    key_shredded: bool = False
    orchestrator: dict[str, int] = field(default_factory=dict)  # runs / partitions / events removed
    tombstone_seq: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def patient_submissions(pseudonym: str, bootstrap: str | None) -> set[str]:
    """The submission ids of a patient, read back from the submissions topic (pseudonym and id are clear
    text there; the payload is sealed)."""
    if not bootstrap:
        return set()
    from hcml.events.consumer import advance, read_batch
    from hcml.events.topics import GROUP_CLI_TAIL, RAW

    found: set[str] = set()
    offsets: dict[int, int] = {}
    while True:
        batch = read_batch(bootstrap, RAW, GROUP_CLI_TAIL, offsets, max_records=5000, max_seconds=10.0)
        for rec in batch.records:
            try:
                data = json.loads(rec.value or b"")
            except ValueError:
                continue
            if isinstance(data, dict) and data.get("patient_pseudonym") == pseudonym and data.get("submission_id"):
                found.add(str(data["submission_id"]))
        offsets = advance(offsets or batch.start, batch.records)
        if batch.end_of_partitions or not batch.records:
            return found


def _partition_objects(
    name: str, partitions: set[str], submissions: set[str], runs: AbstractSet[str] = frozenset()
) -> bool:
    """Is the store key `name` one of these partitions', submissions' or runs' objects?"""
    parts = name.split("/")
    if len(parts) < 2:
        return False
    if parts[0] == "runs":  # a run's intermediate step outputs (e.g. one chromosome's annotations)
        return parts[1] in runs
    if parts[0] == "submissions":
        return parts[1] in submissions
    if parts[0] == "reports":
        return parts[1] in partitions
    if parts[0] in ("rejects", "assets"):
        return any(parts[-1] in (f"{p}.parquet", f"{p}.json") for p in partitions)
    return False


def delete_objects(
    store: Any, partitions: set[str], submissions: set[str], runs: AbstractSet[str] = frozenset()
) -> int:
    """Delete the partitions' and submissions' objects from a store; how many."""
    deleted = 0
    if isinstance(store, LocalStore):
        for top in ("submissions", "reports", "rejects", "assets", "runs"):
            root = store.root / top
            if not root.is_dir():
                continue
            for path in sorted(root.rglob("*"), reverse=True):
                name = path.relative_to(store.root).as_posix()
                if path.is_file() and _partition_objects(name, partitions, submissions, runs):
                    path.unlink()
                    deleted += 1
                elif path.is_dir() and not any(path.iterdir()):
                    path.rmdir()
        return deleted
    if isinstance(store, AzureBlobStore):
        from azure.core.exceptions import ResourceNotFoundError

        container = store.service.get_container_client(store.container)
        prefix = f"{store.prefix}/" if store.prefix else ""
        try:
            names = [b.name for b in container.list_blobs(name_starts_with=prefix or None)]
        except ResourceNotFoundError:
            return 0
        for name in names:
            if _partition_objects(name[len(prefix) :], partitions, submissions, runs):
                container.delete_blob(name, delete_snapshots="include")
                deleted += 1
        return deleted
    raise TypeError(f"cannot delete from {store!r}")


def delete_inputs(source_uris: set[str]) -> int:
    """Delete the input files runs read, where they are the platform's copies (under the data dir);
    Blob inputs go with their store; files elsewhere are the hospital's and are only reported."""
    deleted = 0
    root = Path(data_dir()).resolve()
    for uri in source_uris:
        parsed = urlparse(uri)
        if parsed.scheme == "azure":
            container, _, name = parsed.netloc, None, unquote(parsed.path.lstrip("/"))
            store = open_store()
            if isinstance(store, AzureBlobStore):
                blob = store.service.get_blob_client(container, name)
                if blob.exists():
                    blob.delete_blob(delete_snapshots="include")
                    deleted += 1
            continue
        path = Path(unquote(parsed.path) if parsed.scheme == "file" else uri).resolve()
        if path.is_file() and root in path.parents:
            path.unlink()
            deleted += 1
        elif path.is_file():
            log.warning("an input outside the data dir was not deleted (the hospital's copy): erase it at its source")
    return deleted


def erase_patient(
    patient_id: str,
    *,
    partitions: set[str] | None = None,
    submissions: set[str] | None = None,
    source_uris: set[str] | None = None,
    runs: set[str] | None = None,
    orchestrator: dict[str, int] | None = None,
    store: Any = None,
) -> ErasureReport:
    """Delete what the platform holds of a patient, shred its data key, and leave a tombstone."""
    pseudonym = pseudonymise(patient_id)
    submissions = set(submissions or ())
    partitions = set(partitions or ()) | submissions  # a submission's partition is its id
    report = ErasureReport(pseudonym, submissions=len(submissions), partitions=len(partitions))
    report.objects_deleted = delete_objects(store or open_store(), partitions, submissions, set(runs or ()))
    report.input_files_deleted = delete_inputs(set(source_uris or ()))
    report.key_shredded = crypto.shred(pseudonym)
    report.orchestrator = dict(orchestrator or {})
    tombstone = append_pipeline_record(
        "patient_erased",
        patient_pseudonym=pseudonym,
        partition_pseudonyms=sorted(pseudonymise(p) for p in partitions),
        erased={k: v for k, v in report.as_dict().items() if k not in ("patient_pseudonym", "tombstone_seq")},
    )
    anchor_pipeline()
    report.tombstone_seq = tombstone["seq"]
    return report
