"""Fingerprints of raw inputs (files, folders, object-store listings, topic offsets) used as data versions.

A fingerprint changes exactly when the content changes: a file's SHA-256, a folder's SHA-256 over the sorted
(name, SHA-256) of its files, a blob listing's SHA-256 over (name, MD5 or etag), a topic's end offsets.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from hcml.provenance import sha256_file

MISSING = "missing"


def file_fingerprint(path: str | Path) -> str:
    """The file's SHA-256; `missing` when there is no such file (observed as such, not an error)."""
    p = Path(path)
    return sha256_file(p) if p.is_file() else MISSING


def listing_fingerprint(entries: Iterable[tuple[str, str]]) -> str:
    """SHA-256 over sorted (name, version) pairs: one value for a folder or container listing."""
    digest = hashlib.sha256()
    for name, version in sorted(entries):
        digest.update(f"{name}\0{version}\n".encode())
    return digest.hexdigest()


def folder_fingerprint(directory: str | Path, suffixes: tuple[str, ...] | None = None) -> tuple[str, int]:
    """(fingerprint, number of files) of the regular, non-hidden files directly in `directory`."""
    d = Path(directory)
    if not d.is_dir():
        return MISSING, 0
    files = [
        p
        for p in d.iterdir()
        if p.is_file() and not p.name.startswith(".") and (suffixes is None or p.name.lower().endswith(suffixes))
    ]
    return listing_fingerprint((p.name, sha256_file(p)) for p in files), len(files)


def offsets_fingerprint(topic: str, end_offsets: dict[int, int]) -> str:
    """A topic's data version: its end offset per partition (`topic:p=offset,...`)."""
    return f"{topic}:" + ",".join(f"{p}={o}" for p, o in sorted(end_offsets.items()))
