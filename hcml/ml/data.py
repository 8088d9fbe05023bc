"""ClinVar labels and the gene-disjoint training set.

Label rule: Pathogenic / Likely pathogenic = 1, Benign / Likely benign = 0. A record whose
assertions mix the two sides, or include "Uncertain significance", or that ClinVar flags as conflicted,
is excluded; non-clinical tags ("risk factor", "drug response", "other"...) are ignored. Duplicates (the
same GRCh37 allele, or the same HGVS c. on the same gene) are collapsed; alleles whose duplicates disagree
are dropped. A later label source supersedes earlier ones for the alleles it contains.

Genes are assigned to train / validation / test by a salted hash of the gene symbol, not by the data, so
every model trained at any time, on any label release, is evaluated on the same held-out genes.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import polars as pl

from hcml.config import data_dir, default_sources

PATHOGENIC = frozenset({"Pathogenic", "Likely pathogenic"})
BENIGN = frozenset({"Benign", "Likely benign"})
UNCERTAIN = frozenset({"Uncertain significance", "conflicting data from submitters"})

SPLIT_SALT = "hcml-gene-split-v1"
TEST_FRACTION = 0.20
VALIDATION_FRACTION = 0.10

LABEL_COLUMNS = [
    "chrom",
    "pos",
    "ref",
    "alt",
    "symbol",
    "hgvs_c",
    "hgvs_p",
    "clinical_significance",
    "review_status",
    "label",
    "source",
]


def labels_dir() -> Path:
    """HCML_LABELS_DIR: extra curated label files (ClinVar TSV shape) that land after the shipped release."""
    return Path(os.environ.get("HCML_LABELS_DIR", data_dir() / "labels")).resolve()


def label_sources() -> list[Path]:
    """The shipped ClinVar release, then every `*.tsv` / `*.tsv.gz` in labels_dir() in the order they
    landed (modification time, then name): a later file supersedes earlier ones."""
    extra = labels_dir()
    files = [p for p in extra.glob("*.tsv*") if p.is_file()] if extra.is_dir() else []
    files.sort(key=lambda p: (p.stat().st_mtime_ns, p.name))
    return [default_sources()["clinvar"], *files]


def read_clinvar(path: Path) -> pl.DataFrame:
    return pl.read_csv(path, separator="\t", infer_schema_length=0, null_values=["-", ""])


def label_expr() -> pl.Expr:
    """1 / 0 / null (excluded) from `clinical_significance` and `conflicted`."""
    tokens = pl.col("clinical_significance").fill_null("").str.split(";")
    has_p = tokens.list.eval(pl.element().is_in(list(PATHOGENIC))).list.any()
    has_b = tokens.list.eval(pl.element().is_in(list(BENIGN))).list.any()
    has_u = tokens.list.eval(pl.element().is_in(list(UNCERTAIN))).list.any()
    conflicted = pl.col("conflicted").cast(pl.Int8, strict=False).fill_null(0) == 1
    return (
        pl.when(conflicted | has_u | (has_p & has_b))
        .then(None)
        .when(has_p)
        .then(1)
        .when(has_b)
        .then(0)
        .otherwise(None)
        .cast(pl.Int8)
    )


def clinvar_labels(sources: list[Path] | None = None) -> pl.DataFrame:
    """Labelled, de-duplicated ClinVar variants (columns LABEL_COLUMNS).

    Sources are read in order; for an allele present in several, only the latest source's records count
    (a curated re-classification supersedes the release, even when it makes the allele uncertain)."""
    frames = []
    for i, path in enumerate(sources or label_sources()):
        raw = read_clinvar(path)
        if "conflicted" not in raw.columns:
            raw = raw.with_columns(pl.lit("0").alias("conflicted"))
        frames.append(
            raw.with_columns(
                label_expr().alias("label"), pl.lit(path.name).alias("source"), pl.lit(i).alias("_source_index")
            ).select([*LABEL_COLUMNS, "_source_index"])
        )
    df = pl.concat(frames, how="vertical_relaxed")
    allele = ["chrom", "pos", "ref", "alt"]
    has_allele = pl.all_horizontal(pl.col(k).is_not_null() for k in allele)
    latest = pl.col("_source_index") == pl.col("_source_index").max().over(allele)
    df = df.filter(~has_allele | latest).filter(pl.col("label").is_not_null() & pl.col("symbol").is_not_null())
    # the same allele (GRCh37 key) or the same c. notation on the same gene: one row; drop if labels disagree
    for key in (allele, ["symbol", "hgvs_c"]):
        keyed = df.filter(pl.all_horizontal(pl.col(k).is_not_null() for k in key))
        unkeyed = df.filter(~pl.all_horizontal(pl.col(k).is_not_null() for k in key))
        agreeing = keyed.filter(pl.col("label").n_unique().over(key) == 1)
        keyed = agreeing.unique(subset=key, keep="last", maintain_order=True)
        df = pl.concat([keyed, unkeyed])
    return df.drop("_source_index").sort(["symbol", "chrom", "pos", "ref", "alt"], nulls_last=True)


def _split_of(symbol: str) -> str:
    h = int.from_bytes(hashlib.sha256(f"{SPLIT_SALT}:{symbol}".encode()).digest()[:8], "big") / 2**64
    if h < TEST_FRACTION:
        return "test"
    if h < TEST_FRACTION + VALIDATION_FRACTION:
        return "validation"
    return "train"


def assign_splits(labels: pl.DataFrame) -> pl.DataFrame:
    genes = labels.select(pl.col("symbol").unique().sort())
    genes = genes.with_columns(pl.Series("split", [_split_of(s) for s in genes["symbol"].to_list()], dtype=pl.Utf8))
    return labels.join(genes, on="symbol", how="left")


def frame_sha256(df: pl.DataFrame) -> str:
    """Content hash of a frame (its CSV text: independent of the polars version), for provenance."""
    return hashlib.sha256(df.write_csv().encode()).hexdigest()
