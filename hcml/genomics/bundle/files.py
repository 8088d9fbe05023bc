"""The bundle's format constants, its error type and the source-file helpers (hash, open, version, contig)."""

from __future__ import annotations

import gzip
import hashlib
import re
from pathlib import Path

BUNDLE_FORMAT = 1
POPULATIONS_1KG = ["AFR", "AMR", "EAS", "EUR", "SAS"]
GNOMADE_POPS = ["AFR", "AMR", "ASJ", "EAS", "FIN", "MID", "NFE", "REMAINING", "SAS"]


class BundleError(ValueError):
    """A source file is missing or cannot be compiled; the message names the file and the problem."""


# --------------------------------------------------------------------------------------------- helpers
def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _open_text(path: Path):
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rt")
    return open(path)


def _guess_version(kind: str, path: Path) -> str:
    name = path.name
    if kind == "gtf":
        m = re.search(r"ensembl[_-]?(\d+)", name, re.I)
        return f"Ensembl {m.group(1)}" if m else "unknown"
    if kind == "fasta":
        m = re.search(r"(GRCh\d+|hg\d+)", name, re.I)
        return m.group(1) if m else "unknown"
    if kind == "clinvar":
        m = re.search(r"(\d{4}-\d{2}-\d{2})", name)
        return f"ClinVar {m.group(1)}" if m else "unknown"
    if kind == "known_variants":
        return "Ensembl VEP cache 84 (dbSNP, 1000 Genomes, gnomAD exomes)"
    return "unknown"


def normalise_contig(name: str) -> str:
    """'chr21' / 'CHR21' / '21' -> '21'; 'chrM' -> 'MT'."""
    n = name.strip()
    if n.lower().startswith("chr"):
        n = n[3:]
    if n in ("M", "m"):
        n = "MT"
    return n
