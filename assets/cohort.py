"""Research view over every sample: allele counts and frequencies, and per-gene burden."""

import dagster as dg
import polars as pl

from assets._common import OWNERS, frame_metadata, measured, parquet_bytes
from hcml.cohort.report import DAMAGING_IMPACTS
from resources import ReferenceBundleResource, StorageResource


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


class CohortVcfConfig(dg.Config):
    """A joint-called cohort VCF (local path, file:// or azure:// URI; bgzipped or plain) and its optional
    sample panel (tab-separated: sample, super_pop) for per-population frequencies."""

    cohort_uri: str
    panel_uri: str = ""


def _local_file(store, uri: str, tmp: str, name: str):
    """A local path for `uri`: the file itself when local, else a download into `tmp` (htslib reads paths)."""
    from pathlib import Path

    from hcml.storage import StoreError, _local_path

    try:
        path = _local_path(uri)
        if path.is_file():
            return path
    except StoreError:
        pass
    path = Path(tmp) / name
    path.write_bytes(store.get(uri))
    return path


@dg.asset(
    deps=["reference_bundle"],
    group_name="research",
    kinds={"parquet", "polars"},
    owners=OWNERS,
    tags={"hcml/phi": "false", "hcml/domain": "research"},
    code_version="1",
    op_tags={
        "dagster-k8s/config": {
            "container_config": {
                "resources": {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"cpu": "2", "memory": "6Gi"}}
            }
        }
    },
)
def cohort_site_stats(
    context: dg.AssetExecutionContext,
    config: CohortVcfConfig,
    reference: ReferenceBundleResource,
    storage: StorageResource,
) -> dg.Output[pl.DataFrame]:
    """Per site of a joint-called cohort VCF: the site annotated once (picked consequence, known frequencies),
    AC/AN/AF, hom-ref/het/hom-alt/missing counts, call rate, per-population AC/AN/AF; counted streaming.

    Aggregates only (no sample identifiers or genotypes), so researchers can use it without PHI access.
    """
    import tempfile
    from pathlib import Path

    from hcml.cohort.stats import read_panel, summarise_cohort
    from hcml.genomics.errors import InputError

    metadata: dict = {}
    store = storage.open()
    with measured(metadata), tempfile.TemporaryDirectory(prefix="hcml-cohort-") as tmp:
        vcf = _local_file(store, config.cohort_uri, tmp, "cohort.vcf.gz")
        panel = read_panel(_local_file(store, config.panel_uri, tmp, "panel.tsv")) if config.panel_uri else None
        try:
            summary = summarise_cohort(vcf, reference.load(), Path(tmp) / "sites.parquet", panel=panel)
        except InputError as exc:
            raise dg.Failure(f"cannot read {config.cohort_uri}: {exc}") from exc
        stats = pl.read_parquet(summary.path)
        rejects = pl.read_parquet(summary.rejects_path)
        rejects_uri = store.put("cohort/site_rejects.parquet", parquet_bytes(rejects)) if rejects.height else ""
    metadata.update(
        frame_metadata(
            stats,
            cohort_uri=config.cohort_uri,
            samples=summary.n_samples,
            populations=", ".join(summary.populations),
            n_input=summary.n_input,
            n_annotated=summary.n_sites,
            n_rejected=summary.n_rejected,
            rejects_uri=rejects_uri,
        )
    )
    return dg.Output(stats, metadata=metadata)


@dg.asset(
    group_name="research",
    kinds={"html"},
    owners=OWNERS,
    tags={"hcml/phi": "false", "hcml/domain": "research"},
    code_version="1",
)
def cohort_report(
    context: dg.AssetExecutionContext, cohort_site_stats: pl.DataFrame, storage: StorageResource
) -> dg.MaterializeResult:
    """The researcher's page of the cohort (hcml.cohort.report): AF spectrum, per-population frequencies
    against the known ones, consequence counts, top genes by rare damaging burden; the figures also shown
    here as metadata, next to the lineage."""
    import base64

    from hcml.cohort.report import figures, render_html, svgs

    populations = sorted(c.removeprefix("af_") for c in cohort_site_stats.columns if c.startswith("af_"))
    metadata: dict = {}
    with measured(metadata):
        fig = figures(cohort_site_stats, populations)
        page = render_html(fig, "Cohort report", f"{cohort_site_stats.height:,} sites")
        uri = storage.open().put("cohort/report.html", page.encode())
    images = {k: base64.b64encode(v.encode()).decode() for k, v in svgs(fig).items()}
    pops = "".join(
        f"| {p} | {v['sites']} | {v['pearson_r']} | {v['mean_abs_diff']} |\n" for p, v in fig["populations"].items()
    )
    metadata.update(
        {
            "report_uri": dg.MetadataValue.url(uri) if uri.startswith("http") else uri,
            "sites": fig["sites"],
            "sites_with_alt": fig["sites_seen"],
            "allele_frequency_spectrum": dg.MetadataValue.md(
                f"![spectrum](data:image/svg+xml;base64,{images['spectrum']})\n\n"
                + "| bin | sites |\n|---|---|\n"
                + "".join(f"| {k} | {v} |\n" for k, v in fig["spectrum"].items())
            ),
            "populations_vs_known": dg.MetadataValue.md(
                "".join(f"![{k}](data:image/svg+xml;base64,{v})" for k, v in images.items() if k.startswith("pop"))
                + "\n\n| population | sites | Pearson r | mean abs diff |\n|---|---|---|---|\n"
                + pops
            ),
            "consequences": dg.MetadataValue.md(
                f"![consequences](data:image/svg+xml;base64,{images['consequences']})\n\n"
                + _markdown(
                    pl.DataFrame(fig["consequences"], schema=["consequence", "sites", "alt_alleles"], orient="row")
                )
            ),
            "top_genes_rare_damaging": dg.MetadataValue.md(
                f"![genes](data:image/svg+xml;base64,{images['top_genes']})\n\n"
                + _markdown(pl.DataFrame(fig["top_genes"], schema=fig["top_genes_columns"], orient="row"))
            ),
        }
    )
    return dg.MaterializeResult(metadata=metadata)
