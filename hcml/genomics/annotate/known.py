"""Co-located known variants and ClinVar records (Existing_variation, frequencies, CLIN_SIG) joined on."""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

from .tables import FREQ_COLUMNS, vep_alleles

if TYPE_CHECKING:
    from hcml.genomics.bundle.load import ReferenceBundle


def _known_table(bundle: ReferenceBundle) -> pl.DataFrame:
    """Known variants keyed like VEP's reduced alleles, one row per (chrom, start, ref, alt); cached."""
    k = bundle.__dict__.get("_known_by_allele")
    if k is None:
        kv = bundle.known_variants
        cols = ["variant_name", "CLIN_SIG"] + [c for c in FREQ_COLUMNS if c in kv.columns]
        k = (
            kv.select(
                pl.col("chrom"),
                pl.col("pos").alias("vstart"),
                pl.col("ref").alias("vref"),
                pl.col("alt").alias("valt"),
                *cols,
            )
            .group_by("chrom", "vstart", "vref", "valt")
            .agg(
                pl.col("variant_name").unique().sort().str.join(",").alias("Existing_variation"),
                *[pl.col(c).drop_nulls().first() for c in cols if c != "variant_name"],
            )
        )
        bundle.__dict__["_known_by_allele"] = k
    return k


def _clinvar_table(bundle: ReferenceBundle) -> pl.DataFrame:
    """ClinVar significance keyed by VEP-reduced alleles, VEP's spelling ('Likely benign' ->
    'likely_benign'); several records at one allele are comma-joined. Cached."""
    k = bundle.__dict__.get("_clinvar_by_allele")
    if k is None:
        cv = bundle.clinvar.filter(pl.col("chrom").is_in(list(bundle.contigs)))
        cv = cv.filter(pl.col("ref").str.contains("^[ACGTN]+$") & pl.col("alt").str.contains("^[ACGTN]+$"))
        k = (
            vep_alleles(cv.select("chrom", "pos", "ref", "alt", "clinical_significance"))
            .with_columns(sig=pl.col("clinical_significance").str.to_lowercase().str.replace_all(r"[ ,/]+", "_"))
            .group_by("chrom", "vstart", "vref", "valt")
            .agg(clinvar_sig=pl.col("sig").unique().sort().str.join(","))
        )
        bundle.__dict__["_clinvar_by_allele"] = k
    return k


LOOKUP_FILE = "variant_lookup.parquet"


def variant_lookup(bundle: ReferenceBundle) -> pl.DataFrame:
    """Known variants and ClinVar keyed by VEP-reduced alleles (chrom, vstart, vref, valt) with
    Existing_variation, frequencies and CLIN_SIG (VEP's cache value, else ClinVar's). Precomputed by
    `build_bundle` (variant_lookup.parquet) so the first annotation of a cold process only reads it."""
    k = bundle.__dict__.get("_variant_lookup")
    if k is None:
        f = bundle.path / LOOKUP_FILE if getattr(bundle, "path", None) else None
        if f is not None and f.is_file():
            k = pl.read_parquet(f)
        else:
            key = ["chrom", "vstart", "vref", "valt"]
            k = (
                _known_table(bundle)
                .join(_clinvar_table(bundle), on=key, how="full", coalesce=True)
                .with_columns(CLIN_SIG=pl.coalesce("CLIN_SIG", "clinvar_sig"))
                .drop("clinvar_sig")
            )
        bundle.__dict__["_variant_lookup"] = k
    return k


def _join_known(vv: pl.DataFrame, bundle: ReferenceBundle) -> pl.DataFrame:
    """Known-variant id / frequencies / CLIN_SIG on position and allele (a left join, through the
    bundle's position index: see hcml.genomics.known_index)."""
    from hcml.genomics.known_index import join_known

    return join_known(vv, bundle, variant_lookup(bundle))


def release_significance(variants: pl.DataFrame, bundle: ReferenceBundle) -> pl.Series:
    """Each (chrom, pos, ref, alt)'s significance in the bundle's ClinVar release itself (VEP's spelling, several
    records comma-joined; None when the release has none). CLIN_SIG prefers VEP's cache value, which does not move
    with a new ClinVar release; reports state this one next to it."""
    key = ["chrom", "vstart", "vref", "valt"]
    v = vep_alleles(variants.select("chrom", "pos", "ref", "alt").with_row_index("_i"))
    joined = v.join(_clinvar_table(bundle), on=key, how="left", maintain_order="left").sort("_i")
    return joined["clinvar_sig"].alias("clinvar_release_sig")
