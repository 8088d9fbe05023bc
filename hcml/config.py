"""Locations shared by every part of the platform.

Everything is read from the environment when called (never at import time), with defaults that make
a fresh clone work with nothing to start: data under `<repo>/var`, the reference files under `<repo>/data`.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    """HCML_DATA_DIR: where the platform writes (bundle, parquet, reports, MLflow store). Default `<repo>/var`."""
    return Path(os.environ.get("HCML_DATA_DIR", REPO_ROOT / "var")).resolve()


def bundle_dir() -> Path:
    """HCML_BUNDLE_DIR: the compiled reference bundle. Default `$HCML_DATA_DIR/bundle`."""
    return Path(os.environ.get("HCML_BUNDLE_DIR", data_dir() / "bundle")).resolve()


def reference_data_dir() -> Path:
    """HCML_REFERENCE_DATA: the shipped real source files (GTF, FASTA, population, ClinVar). Default `<repo>/data`."""
    return Path(os.environ.get("HCML_REFERENCE_DATA", REPO_ROOT / "data")).resolve()


def clinvar_release_path(root: Path | None = None) -> Path:
    """HCML_CLINVAR: the ClinVar release file (GRCh38-lifted TSV; its date in the name is its release).
    Default: the shipped 2016-05-20 release under HCML_REFERENCE_DATA."""
    configured = os.environ.get("HCML_CLINVAR")
    if configured:
        return Path(configured).resolve()
    return (root or reference_data_dir()) / "clinvar" / "clinvar_2016-05-20.lifted_GRCh38.tsv.gz"


def default_sources() -> dict[str, Path]:
    """The real source files a fresh clone builds its reference bundle from."""
    root = reference_data_dir()
    return {
        "gtf": root / "reference" / "ensembl84_chr21_region.gtf.gz",
        "fasta": root / "reference" / "chr21_full_length_Nmasked.GRCh38.fa.gz",
        "known_variants": root / "population" / "known_variants_chr21_25-26Mb.tsv.gz",
        "clinvar": clinvar_release_path(root),
        "vep_cache_transcripts": root / "reference" / "vep84_cache_transcripts_chr21_25-26Mb.jsonl.gz",
    }
