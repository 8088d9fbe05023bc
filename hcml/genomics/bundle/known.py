"""Known variants (VEP cache style, with frequencies) and ClinVar compiled into Parquet tables."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from .files import GNOMADE_POPS, POPULATIONS_1KG, BundleError, normalise_contig


def _trim_vep(ref: str, alt: str, pos: int) -> tuple[int, str, str]:
    """VCF-style alleles -> VEP-style (shared prefix, then suffix, removed; empty -> '-')."""
    i = 0
    while i < min(len(ref), len(alt)) and ref[i] == alt[i]:
        i += 1
    ref, alt, pos = ref[i:], alt[i:], pos + i
    j = 0
    while j < min(len(ref), len(alt)) and ref[-1 - j] == alt[-1 - j]:
        j += 1
    if j:
        ref, alt = ref[: len(ref) - j], alt[: len(alt) - j]
    return pos, ref or "-", alt or "-"


def _compile_known_variants(path: Path) -> pl.DataFrame:
    df = pl.read_csv(path, separator="\t", infer_schema=False, null_values=["."], quote_char=None)
    need = {"chrom", "variation_name", "start", "end", "allele_string"}
    if not need <= set(df.columns):
        raise BundleError(f"{path}: not a known-variants table (missing columns {sorted(need - set(df.columns))})")
    freq_cols = {
        "AF": "AF",
        **{p: f"{p}_AF" for p in POPULATIONS_1KG},
        "gnomADe": "gnomADe_AF",
        **{f"gnomADe_{p}": f"gnomADe_{p}_AF" for p in GNOMADE_POPS},
    }
    freq_cols = {k: v for k, v in freq_cols.items() if k in df.columns}
    base = (
        df.with_row_index("kv")
        .with_columns(
            chrom=pl.col("chrom").map_elements(normalise_contig, return_dtype=pl.Utf8),
            pos=pl.col("start").cast(pl.Int64),
            end=pl.col("end").cast(pl.Int64),
            alleles=pl.col("allele_string").str.split("/"),
        )
        .with_columns(ref=pl.col("alleles").list.first(), alt=pl.col("alleles").list.slice(1))
    )
    rows = (
        base.select(
            "kv",
            "chrom",
            "pos",
            "end",
            "ref",
            "alt",
            pl.col("variation_name").alias("variant_name"),
            pl.col("clin_sig").alias("CLIN_SIG")
            if "clin_sig" in df.columns
            else pl.lit(None, pl.Utf8).alias("CLIN_SIG"),
        )
        .explode("alt")
        .filter(pl.col("alt").is_not_null())
    )
    for src, dst in freq_cols.items():
        f = (
            base.select("kv", pl.col(src).str.split(",").alias("f"))
            .explode("f")
            .drop_nulls("f")
            .with_columns(pl.col("f").str.split_exact(":", 1).struct.rename_fields(["alt", "v"]))
            .unnest("f")
            .select("kv", "alt", pl.col("v").cast(pl.Float64, strict=False).alias(dst))
            .unique(["kv", "alt"])
        )
        rows = rows.join(f, on=["kv", "alt"], how="left")
    return rows.drop("kv").sort("chrom", "pos", "ref", "alt")


def _compile_clinvar(path: Path) -> pl.DataFrame:
    df = pl.read_csv(path, separator="\t", infer_schema=False, quote_char=None)
    need = {"chrom_grch38", "pos_grch38", "ref", "alt", "clinical_significance"}
    if not need <= set(df.columns):
        raise BundleError(f"{path}: not a ClinVar table (missing columns {sorted(need - set(df.columns))})")
    keep = ["review_status", "hgvs_c", "hgvs_p", "symbol", "measureset_id", "pathogenic", "conflicted"]
    return (
        df.filter(pl.col("chrom_grch38").is_not_null() & pl.col("pos_grch38").is_not_null())
        .select(
            pl.col("chrom_grch38").map_elements(normalise_contig, return_dtype=pl.Utf8).alias("chrom"),
            pl.col("pos_grch38").cast(pl.Int64, strict=False).alias("pos"),
            "ref",
            "alt",
            "clinical_significance",
            *[pl.col(c) for c in keep if c in df.columns],
        )
        .drop_nulls("pos")
        .sort("chrom", "pos")
    )
