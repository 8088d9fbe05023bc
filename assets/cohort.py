"""Research view over every sample: allele counts and frequencies, and per-gene burden."""

import dagster as dg
import polars as pl

from assets._common import OWNERS, frame_metadata, measured, parquet_bytes
from resources import StorageResource

DAMAGING_IMPACTS = ("HIGH", "MODERATE")


def allele_stats(features_by_sample: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """Per allele: carriers, allele count (het 1, hom 2, unknown genotype 1), allele number, frequency.

    Allele number assumes diploid samples: AN = 2 x samples in the cohort.
    """
    frames = [
        df.with_columns(pl.lit(key).alias("partition")) for key, df in sorted(features_by_sample.items()) if df.height
    ]
    n_samples = len(features_by_sample)
    if not frames:
        return pl.DataFrame(
            schema={
                "chrom": pl.Utf8,
                "pos": pl.Int64,
                "ref": pl.Utf8,
                "alt": pl.Utf8,
                "gene_symbol": pl.Utf8,
                "most_severe_consequence": pl.Utf8,
                "impact": pl.Utf8,
                "carriers": pl.UInt32,
                "allele_count": pl.Int64,
                "allele_number": pl.Int64,
                "allele_frequency": pl.Float64,
            }
        )
    cols = ["partition", "chrom", "pos", "ref", "alt", "gene_symbol", "most_severe_consequence", "impact", "zygosity"]
    all_rows = pl.concat([f.select(cols) for f in frames], how="vertical_relaxed")
    dosage = pl.when(pl.col("zygosity") == "homozygous").then(2).otherwise(1)
    return (
        all_rows.with_columns(dosage.alias("dosage"))
        .group_by("chrom", "pos", "ref", "alt")
        .agg(
            pl.col("gene_symbol").first(),
            pl.col("most_severe_consequence").first(),
            pl.col("impact").first(),
            pl.col("partition").n_unique().cast(pl.UInt32).alias("carriers"),
            pl.col("dosage").sum().cast(pl.Int64).alias("allele_count"),
        )
        .with_columns(pl.lit(2 * n_samples, pl.Int64).alias("allele_number"))
        .with_columns((pl.col("allele_count") / pl.col("allele_number")).alias("allele_frequency"))
        .sort("chrom", "pos", "ref", "alt")
    )


def gene_burden(features_by_sample: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """Per gene: distinct variants, carriers, and carriers of a HIGH/MODERATE impact variant."""
    frames = [
        df.with_columns(pl.lit(key).alias("partition")).select(
            "partition", "gene_symbol", "chrom", "pos", "ref", "alt", "impact"
        )
        for key, df in sorted(features_by_sample.items())
        if df.height
    ]
    if not frames:
        return pl.DataFrame(
            schema={
                "gene_symbol": pl.Utf8,
                "variants": pl.UInt32,
                "carriers": pl.UInt32,
                "damaging_variants": pl.UInt32,
                "damaging_carriers": pl.UInt32,
            }
        )
    rows = pl.concat(frames, how="vertical_relaxed").filter(pl.col("gene_symbol").is_not_null())
    damaging = pl.col("impact").is_in(DAMAGING_IMPACTS)
    key = pl.concat_str("chrom", "pos", "ref", "alt", separator=":")
    return (
        rows.group_by("gene_symbol")
        .agg(
            key.n_unique().cast(pl.UInt32).alias("variants"),
            pl.col("partition").n_unique().cast(pl.UInt32).alias("carriers"),
            key.filter(damaging).n_unique().cast(pl.UInt32).alias("damaging_variants"),
            pl.col("partition").filter(damaging).n_unique().cast(pl.UInt32).alias("damaging_carriers"),
        )
        .sort(["damaging_carriers", "carriers", "gene_symbol"], descending=[True, True, False])
    )


@dg.asset(
    group_name="research",
    kinds={"parquet", "polars"},
    owners=OWNERS,
    tags={"hcml/phi": "false", "hcml/domain": "research"},
    code_version="1",
)
def cohort_allele_stats(
    context: dg.AssetExecutionContext, variant_features: dict[str, pl.DataFrame], storage: StorageResource
) -> dg.Output[pl.DataFrame]:
    """Allele counts and frequencies across every sample materialized so far, plus per-gene burden.

    Aggregates only (no sample identifiers), so researchers can use it without PHI access.
    """
    metadata: dict = {}
    with measured(metadata):
        stats = allele_stats(variant_features)
        burden = gene_burden(variant_features)
        burden_uri = storage.open().put("cohort/gene_burden.parquet", parquet_bytes(burden))
    metadata.update(
        frame_metadata(
            stats,
            samples=len(variant_features),
            genes=burden.height,
            gene_burden_uri=burden_uri,
            gene_burden_top=dg.MetadataValue.md(_markdown(burden.head(10))),
        )
    )
    return dg.Output(stats, metadata=metadata)


def _markdown(df: pl.DataFrame) -> str:
    if not df.height:
        return "(no genes)"
    head = "| " + " | ".join(df.columns) + " |\n|" + "---|" * len(df.columns) + "\n"
    return head + "".join("| " + " | ".join(str(v) for v in row) + " |\n" for row in df.iter_rows())
