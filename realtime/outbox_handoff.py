"""Handing undelivered outbox segments to another replica through Blob Storage.

In the cluster a replica's outbox lives on an `emptyDir`, which outlives a container restart but not the
pod. A replica stopped (SIGTERM: Knative scaling down, a rollout) while Kafka is away would take its
undelivered events with it; instead it uploads what is left of each segment (from its acknowledged offset:
records are self-framed, so the rest of a segment is a segment) under `outbox-handoff/` in the object
store, and removes the local copy once uploaded. A starting replica takes each handed-over segment under a
blob lease (so that two replicas starting together do not both replay it), writes it into its own outbox
directory (fsync), deletes the blob, and replays it with its own events.

Only with Azure Blob configured (`HCML_AZURE_STORAGE_*`): with the local store the outbox already is on the
disk the next start reads.
"""

from __future__ import annotations

import logging
import os
import uuid
from pathlib import Path
from typing import Any

log = logging.getLogger("hcml.realtime.outbox")

FOLDER = "outbox-handoff"
LEASE_SECONDS = 60


class BlobHandoff:
    def __init__(self, store: Any) -> None:
        self.store = store  # hcml.storage.AzureBlobStore

    @classmethod
    def from_environment(cls) -> BlobHandoff | None:
        from hcml.storage import AzureBlobStore, azure_configured, open_store

        if not azure_configured():
            return None
        store = open_store()
        return cls(store) if isinstance(store, AzureBlobStore) else None

    def hand_over(self, pieces: list[tuple[Path, int]]) -> tuple[int, int]:
        """Upload each (segment, from offset) and delete the local segment once uploaded: (pieces, bytes)."""
        batch = uuid.uuid4().hex[:12]
        done = sent = 0
        for path, offset in pieces:
            with open(path, "rb") as fh:
                fh.seek(offset)
                data = fh.read()
            if data:
                self.store.put(f"{FOLDER}/{batch}-{path.stem}.seg", data)
                sent += len(data)
            path.unlink()
            path.with_suffix(".ack").unlink(missing_ok=True)
            done += 1
        return done, sent

    def adopt(self, directory: Path, next_seq: int) -> int:
        """Take every handed-over segment into `directory` as the next segment files; the next free number."""
        from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

        client = self.store._container_client()
        prefix = self.store.blob_name(FOLDER) + "/"
        for item in sorted(client.list_blobs(name_starts_with=prefix), key=lambda b: b.name):
            blob = client.get_blob_client(item.name)
            try:
                lease = blob.acquire_lease(lease_duration=LEASE_SECONDS)
            except (HttpResponseError, ResourceNotFoundError):
                continue  # another replica is taking it
            try:
                data = blob.download_blob(lease=lease).readall()
                target = directory / f"{next_seq:012d}.seg"
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                try:
                    os.write(fd, data)
                    os.fsync(fd)
                finally:
                    os.close(fd)
                next_seq += 1
                blob.delete_blob(lease=lease)
            except ResourceNotFoundError:
                continue
            log.warning("outbox: took over %d bytes of events handed over by a stopped replica", len(data))
        return next_seq
