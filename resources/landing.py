"""Where the landing zone is and what counts as a landed VCF: a folder, and the Azure Blob form (VCF blobs
under a container/prefix, settled, with a version).

Dagster-free helpers used by the landing sensor (`sensors/landing.py`) and the `vcf_landing` source asset:

- `landing_dir()` / `landed_files(directory, settle_seconds)`: HCML_LANDING_DIR (default
  `$HCML_DATA_DIR/landing`) and the VCFs in it (hidden names skipped) last modified at least
  `settle_seconds` ago.

- `landing_container()` / `landing_prefix()`: HCML_LANDING_CONTAINER (unset: no Blob landing) and
  HCML_LANDING_PREFIX (default empty: the container's top level), read at call time.
- `landed_blobs(store, container, prefix, suffixes, settle_seconds)`: the VCF blobs directly under the
  prefix (hidden names and sub-"folders" skipped, like the local form) last modified at least
  `settle_seconds` ago.
- `blob_version(blob)`: what the cursor keeps per blob: `md5:<hex>` of the content when the service has
  one (the same content re-uploaded keeps it), else `etag:<etag>` (changes on every write).
- `read_header(store, blob)`: the VCF header up to and including its `#CHROM` line (decompressed when the
  blob is gzip/bgzip), read with ranged GETs that grow until the header is complete: enough for
  `plan_partitions`, without downloading a whole-genome VCF on every tick. The read is conditional on the
  listed etag: a blob rewritten in between raises `BlobChanged` and is left for the next tick.
"""

from __future__ import annotations

import os
import time
import zlib
from datetime import UTC, datetime
from pathlib import Path

from hcml.config import data_dir
from hcml.storage import AzureBlobStore, BlobInfo

FIRST_READ_BYTES = 64 * 1024
SUFFIXES = (".vcf", ".vcf.gz", ".vcf.bgz")


def landing_dir() -> Path:
    return Path(os.environ.get("HCML_LANDING_DIR") or data_dir() / "landing").resolve()


def landed_files(directory: Path, settle_seconds: float) -> list[Path]:
    if not directory.is_dir():
        return []
    now = time.time()
    return sorted(
        p
        for p in directory.iterdir()
        if p.is_file()
        and not p.name.startswith(".")
        and p.name.lower().endswith(SUFFIXES)
        and now - p.stat().st_mtime >= settle_seconds
    )


class BlobChanged(Exception):
    """The blob was rewritten between listing and reading."""


def landing_container() -> str | None:
    return os.environ.get("HCML_LANDING_CONTAINER", "").strip() or None


def landing_prefix() -> str:
    return os.environ.get("HCML_LANDING_PREFIX", "").strip("/ ")


def landed_blobs(
    store: AzureBlobStore,
    container: str,
    prefix: str,
    suffixes: tuple[str, ...],
    settle_seconds: float,
    now: datetime | None = None,
) -> list[BlobInfo]:
    now = now or datetime.now(UTC)
    found = []
    for blob in store.list_blobs(container, prefix):
        base = blob.name.rsplit("/", 1)[-1]
        if base.startswith(".") or not base.lower().endswith(suffixes):
            continue
        if (now - blob.last_modified).total_seconds() < settle_seconds:
            continue
        found.append(blob)
    return found


def blob_version(blob: BlobInfo) -> str:
    return f"md5:{blob.content_md5}" if blob.content_md5 else f"etag:{blob.etag}"


def _gunzip_prefix(raw: bytes) -> bytes:
    """As much of a (multi-member: bgzip) gzip stream as the bytes at hand decompress to."""
    out = []
    data = raw
    while data:
        d = zlib.decompressobj(wbits=31)
        try:
            out.append(d.decompress(data))
        except zlib.error:
            break
        if not d.eof:
            break
        data = d.unused_data
    return b"".join(out)


def header_end(text: bytes) -> int | None:
    """Offset just past the `#CHROM` line (or where records start without one); None if not there yet."""
    pos = 0
    while True:
        nl = text.find(b"\n", pos)
        if nl < 0:
            return None
        line = text[pos:nl]
        if line.startswith(b"#CHROM"):
            return nl + 1
        if line.strip() and not line.startswith(b"#"):
            return pos
        pos = nl + 1


def read_header(store: AzureBlobStore, blob: BlobInfo, first: int = FIRST_READ_BYTES) -> bytes:
    """The plain-text VCF header of `blob` (see the module docstring)."""
    from azure.core import MatchConditions
    from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError

    if blob.size == 0:
        return b""
    client = store.service.get_blob_client(blob.container, blob.name)
    length = max(1, first)
    while True:
        length = min(length, blob.size)
        try:
            raw = client.download_blob(
                offset=0,
                length=length,
                etag=f'"{blob.etag}"',  # If-Match takes it quoted
                match_condition=MatchConditions.IfNotModified,
            ).readall()
        except (ResourceModifiedError, ResourceNotFoundError):
            raise BlobChanged(blob.uri) from None
        text = _gunzip_prefix(raw) if raw[:2] == b"\x1f\x8b" else raw
        end = header_end(text)
        if end is not None:
            return text[:end]
        if length >= blob.size:
            return text
        length *= 4
