"""Ensembl GTF: the transcript, exon, CDS and stop-codon rows with their attributes."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from .feature_lines import _read_feature_lines

_ATTRS = [
    "gene_id",
    "gene_version",
    "gene_name",
    "gene_biotype",
    "transcript_id",
    "transcript_version",
    "transcript_name",
    "transcript_biotype",
    "transcript_source",
    "transcript_support_level",
    "exon_number",
    "ccds_id",
    "protein_id",
    "protein_version",
]


# GTF rows the gene model is compiled from (gene, UTR, start_codon rows carry nothing the bundle keeps)
_GTF_FEATURES = ["transcript", "exon", "CDS", "stop_codon", "Selenocysteine"]


def _read_gtf(gtf: Path) -> tuple[pl.DataFrame, list[dict]]:
    """A GTF (Ensembl or GENCODE) as the long frame of `_gene_models`, plus the transcripts left out: exon /
    CDS rows whose transcript has no `transcript` row (VEP's GTF reader ties rows by transcript_id too, and
    warns about parents it does not find). Biotypes as VEP's GTF.pm `_record_get_biotype` takes them."""
    extra = ["transcript_type", "gene_type", "biotype"]  # GENCODE's names

    def extract(df: pl.DataFrame) -> pl.DataFrame:
        """A chunk's attributes: transcript and gene attributes from transcript rows only (exon / CDS rows
        repeat them), the transcript id, protein id and tags from every row."""
        df = df.filter(pl.col("feature").is_in(_GTF_FEATURES))
        on_tx = pl.col("feature") == "transcript"
        every_row = {"transcript_id", "protein_id", "protein_version", "source"}
        return (
            df.with_columns(
                [
                    pl.col("attributes").str.extract(rf'(?:^|; ){a} "([^"]*)"', 1).alias(a)
                    if a in every_row
                    else pl.when(on_tx).then(pl.col("attributes").str.extract(rf'(?:^|; ){a} "([^"]*)"', 1)).alias(a)
                    for a in _ATTRS + extra
                ]
                + [
                    pl.col("attributes")
                    .str.extract_all(r'tag "[^"]*"')
                    .list.eval(pl.element().str.slice(5).str.strip_chars('"'))
                    .alias("tags"),
                ]
            )
            .with_columns(
                transcript_biotype=pl.coalesce("transcript_biotype", "transcript_type", "biotype", "source"),
                gene_biotype=pl.coalesce("gene_biotype", "gene_type"),
            )
            .drop(extra, "attributes")
        )

    df = _read_feature_lines(gtf, "GTF", extract)
    # some GTFs list several transcripts on one exon/CDS row ("ENST1,ENST1_1"): the row belongs to each
    df = df.with_columns(pl.col("transcript_id").str.split(",")).explode("transcript_id")
    has_row = df.filter(pl.col("feature") == "transcript")["transcript_id"].implode()
    orphans = (
        df.filter(pl.col("feature").is_in(["exon", "CDS", "stop_codon"]) & ~pl.col("transcript_id").is_in(has_row))
        .group_by("transcript_id", maintain_order=True)
        .agg(pl.col("line").first())
    )
    skipped = [
        {"transcript_id": tid, "line": line, "reason": "exon / CDS rows but no transcript row"}
        for tid, line in orphans.iter_rows()
    ]
    return df, skipped
