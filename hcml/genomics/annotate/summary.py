"""One row per variant from the annotation rows: what the ML model and the ACMG rules read."""

from __future__ import annotations

import numpy as np
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
    first_term = pl.col("Consequence").str.split(",").list.first()
    terms, ranks = _distinct_severities(annotations.select(first_term.unique()).to_series())
    severity = {t: r for t, r in zip(terms, ranks) if t is not None}  # a missing term stays missing
    a = annotations.with_columns(
        _rank=first_term.replace_strict(severity, default=None, return_dtype=pl.Int64),
        _canon=(pl.col("CANONICAL") == CANONICAL_YES).fill_null(False),
        _pc=(pl.col("BIOTYPE") == PROTEIN_CODING).fill_null(False),
        _feature=pl.col("Feature").rank("dense"),
    )
    row, rank, feature = a.get_column("row"), a.get_column("_rank"), a.get_column("_feature")
    picked = _picked_rows(
        row.fill_null(0).to_numpy(),
        row.is_null().to_numpy(),
        rank.fill_null(0).to_numpy(),
        rank.is_null().to_numpy(),
        a.get_column("_canon").to_numpy(),
        a.get_column("_pc").to_numpy(),
        feature.fill_null(0).to_numpy(),
        feature.is_null().to_numpy(),
    )
    return a[picked].select(pl.col(src).alias(name) for name, src in SUMMARY_FROM)


CANONICAL_YES, PROTEIN_CODING = "YES", "protein_coding"


def _distinct_severities(first_terms) -> tuple[list, list]:
    """Each distinct first SO term of a Consequence and its rank (VEP's order; an unknown term after every
    known one, a missing Consequence missing): the rank rule both forms read."""
    terms = list(dict.fromkeys(first_terms.to_list() if isinstance(first_terms, pl.Series) else first_terms))
    default = len(TERMS)
    return terms, [None if t is None else SEVERITY_RANK.get(t, default) for t in terms]


def _picked_rows(row, row_null, rank, rank_null, canon, pc, feature, feature_null) -> np.ndarray:
    """Each variant's picked annotation row, in row order, the one definition both forms read: rows sorted
    on row, the first SO term's rank (missing last), canonical first, protein-coding first, Feature (an
    order-keeping code; missing last); the first of each row."""
    order = np.lexsort((feature, feature_null, ~pc, ~canon, rank, rank_null, row, row_null))
    r, rn = row[order], row_null[order]
    first = np.ones(len(order), bool)
    first[1:] = (r[1:] != r[:-1]) | (rn[1:] != rn[:-1])
    return order[first]


def _few_variants(annotations: pl.DataFrame) -> bool:
    """`use_small_path` on the number of variants (distinct `row`) of an annotation frame, counted only
    when the frame could be a few variants' rows (at most 64 per variant)."""
    n = annotations.height
    if n <= 64 * small_input_max():
        n = annotations.get_column("row").n_unique()
    return use_small_path(n)


def _summarise_small(annotations: pl.DataFrame) -> pl.DataFrame:
    """`summarise` for the small-input path (hcml.small_inputs): the same `_picked_rows` over keys read
    from Python lists; those rows taken (a slice for one) and their columns renamed."""
    rows, csqs, canon, biotype, feature = (
        annotations.get_column(c).to_list() for c in ("row", "Consequence", "CANONICAL", "BIOTYPE", "Feature")
    )
    first_terms = [None if c is None else c.split(",", 1)[0] for c in csqs]
    severity = dict(zip(*_distinct_severities(first_terms)))
    ranks = [severity[t] for t in first_terms]
    features = sorted({f for f in feature if f is not None})
    feature_code = {f: i for i, f in enumerate(features)}
    picked = _picked_rows(
        np.array([0 if r is None else r for r in rows], np.int64),
        np.array([r is None for r in rows], bool),
        np.array([0 if r is None else r for r in ranks], np.int64),
        np.array([r is None for r in ranks], bool),
        np.array([c == CANONICAL_YES for c in canon], bool),
        np.array([b == PROTEIN_CODING for b in biotype], bool),
        np.array([feature_code.get(f, 0) for f in feature], np.int64),
        np.array([f is None for f in feature], bool),
    ).tolist()
    if len(picked) == 1:
        first = annotations.slice(picked[0], 1)
    else:
        first = annotations[picked] if picked else annotations.clear()
    return pl.DataFrame(
        [
            pl.Series(name, [canon[i] == CANONICAL_YES for i in picked], dtype=pl.Boolean)
            if src == "_canon"
            else first.get_column(src).alias(name)
            for name, src in SUMMARY_FROM
        ]
    )
