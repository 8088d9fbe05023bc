"""One row per variant from the annotation rows: what the ML model and the ACMG rules read."""

from __future__ import annotations

import polars as pl

from hcml.genomics.consequences import SEVERITY_RANK, TERMS
from hcml.small_inputs import small_input_max, use_small_path

from .tables import FREQ_COLUMNS

# summarise's output columns and the annotation column each one is (`_canon`: CANONICAL == "YES")
SUMMARY_FROM: list[tuple[str, str]] = [
    ("row", "row"),
    ("variant_id", "Uploaded_variation"),
    ("chrom", "chrom"),
    ("pos", "pos"),
    ("ref", "ref"),
    ("alt", "alt"),
    ("most_severe_consequence", "most_severe_consequence"),
    ("impact", "IMPACT"),
    ("gene_id", "Gene"),
    ("gene_symbol", "SYMBOL"),
    ("transcript_id", "Feature"),
    ("biotype", "BIOTYPE"),
    ("canonical", "_canon"),
    ("hgvsc", "HGVSc"),
    ("hgvsp", "HGVSp"),
    ("hgvsg", "HGVSg"),
    ("cdna_position", "cDNA_position"),
    ("cds_position", "CDS_position"),
    ("protein_position", "Protein_position"),
    ("amino_acids", "Amino_acids"),
    ("codons", "Codons"),
    ("exon", "EXON"),
    ("intron", "INTRON"),
    ("existing_variation", "Existing_variation"),
    *[(c.lower(), c) for c in FREQ_COLUMNS],
    ("clin_sig", "CLIN_SIG"),
    ("consequence_terms", "Consequence"),  # the picked feature's SO terms (hcml.acmg's splice-region status)
]


def summarise(annotations: pl.DataFrame) -> pl.DataFrame:
    """One row per variant: the picked consequence (most severe; ties -> canonical, then protein-coding,
    then transcript id), with the variant's known-variant data."""
    if _few_variants(annotations):
        return _summarise_small(annotations)
    a = annotations.with_columns(
        _rank=pl.col("Consequence").str.split(",").list.first().replace_strict(SEVERITY_RANK, default=len(TERMS)),
        _canon=(pl.col("CANONICAL") == "YES").fill_null(False),
        _pc=(pl.col("BIOTYPE") == "protein_coding").fill_null(False),
    ).sort(["row", "_rank", "_canon", "_pc", "Feature"], descending=[False, False, True, True, False], nulls_last=True)
    first = a.filter(pl.col("row").is_first_distinct())  # sorted by row: each variant's first row
    return first.select(pl.col(src).alias(name) for name, src in SUMMARY_FROM)


def _few_variants(annotations: pl.DataFrame) -> bool:
    """`use_small_path` on the number of variants (distinct `row`) of an annotation frame, counted only
    when the frame could be a few variants' rows (at most 64 per variant)."""
    n = annotations.height
    if n <= 64 * small_input_max():
        n = annotations.get_column("row").n_unique()
    return use_small_path(n)


def _summarise_small(annotations: pl.DataFrame) -> pl.DataFrame:
    """`summarise` row by row (the small-input path, hcml.small_inputs): each variant's annotation row
    that sorts first on the same keys (row; first SO term's rank; canonical, protein-coding first;
    Feature; nulls last), in row order: those rows taken (a slice for one) and their columns renamed."""
    rows, csqs, canon, biotype, feature = (
        annotations.get_column(c).to_list() for c in ("row", "Consequence", "CANONICAL", "BIOTYPE", "Feature")
    )
    default = len(TERMS)
    best: dict = {}
    for i, (row, csq, can, bt, feat) in enumerate(zip(rows, csqs, canon, biotype, feature)):
        rank = None if csq is None else SEVERITY_RANK.get(csq.split(",", 1)[0], default)
        key = (rank is None, rank or 0, can != "YES", bt != "protein_coding", feat is None, feat or "")
        held = best.get(row)
        if held is None or key < held[0]:
            best[row] = (key, i)
    picked = [best[row][1] for row in sorted(best, key=lambda x: (x is None, x or 0))]
    if len(picked) == 1:
        first = annotations.slice(picked[0], 1)
    else:
        first = annotations[picked] if picked else annotations.clear()
    return pl.DataFrame(
        [
            pl.Series(name, [canon[i] == "YES" for i in picked], dtype=pl.Boolean)
            if src == "_canon"
            else first.get_column(src).alias(name)
            for name, src in SUMMARY_FROM
        ]
    )
