"""Annotations (VEP-compatible consequences per transcript), per-variant features and model predictions."""

import re

import dagster as dg
import polars as pl

from assets._common import OWNERS, PHI_TAGS, frame_metadata, measured
from assets.samples import VARIANT_COLUMNS
from resources import ReferenceBundleResource
from resources.partitions import samples_partitions

ROWS_CHECK = "every_variant_annotated"
CONSEQUENCE_CHECK = "every_variant_has_most_severe_consequence"


# on Kubernetes (k8s_job_executor step pods): annotation is CPU-bound (docs/deployment.md); one pod per chromosome
ANNOTATE_K8S_TAGS = {
    "dagster-k8s/config": {
        "container_config": {
            "resources": {"requests": {"cpu": "2", "memory": "2Gi"}, "limits": {"cpu": "4", "memory": "4Gi"}}
        }
    }
}
ANNOTATION_CHECKS = [
    dg.AssetCheckSpec(
        ROWS_CHECK,
        asset="variant_annotations",
        blocking=True,
        description="Each input variant has annotation rows and no annotation row is orphaned.",
    ),
    dg.AssetCheckSpec(
        CONSEQUENCE_CHECK,
        asset="variant_annotations",
        blocking=True,
        description="Every variant has a most severe consequence (an SO term).",
    ),
]
_UNSAFE_KEY = re.compile(r"[^A-Za-z0-9_]")


def chromosome_key(chrom: str) -> str:
    """A Dagster mapping key for a contig name ('21' -> 'chr21', 'HLA-A*01' -> 'chrHLA_A_01')."""
    return "chr" + _UNSAFE_KEY.sub("_", chrom.removeprefix("chr"))


def by_chromosome(variants: pl.DataFrame) -> list[tuple[str, pl.DataFrame]]:
    """The variants split per contig (input order kept inside each); an empty input gives one empty part."""
    variants = variants.select([c for c in VARIANT_COLUMNS if c in variants.columns])
    if not variants.height:
        return [("none", variants)]
    parts = variants.partition_by("chrom", maintain_order=True, as_dict=True)
    return [(chromosome_key(str(key[0])), part) for key, part in parts.items()]


def join_chromosomes(parts: list[pl.DataFrame]) -> pl.DataFrame:
    """Per-chromosome annotations as one frame in the single pass's order: variants by row, each variant's
    feature rows in the order its chromosome's step gave them."""
    return pl.concat(parts, how="vertical").sort("row", maintain_order=True)


@dg.op(out=dg.DynamicOut(pl.DataFrame), tags={"hcml/domain": "clinical"})
def variants_by_chromosome(context: dg.OpExecutionContext, sample_variants: pl.DataFrame):
    """One output per contig of the sample: the unit of parallel annotation (a pod each on Kubernetes)."""
    for key, part in by_chromosome(sample_variants):
        yield dg.DynamicOutput(part, mapping_key=key, metadata={"variants": part.height})


@dg.op(tags=ANNOTATE_K8S_TAGS)
def annotate_chromosome(
    context: dg.OpExecutionContext, variants: pl.DataFrame, reference: ReferenceBundleResource
) -> pl.DataFrame:
    """One contig's variants annotated (hcml.genomics.annotate); its CPU and memory in the output metadata."""
    from hcml.genomics.annotate import annotate

    metadata: dict = {}
    with measured(metadata):
        annotations = annotate(variants, reference.load())
    context.add_output_metadata({**metadata, "variants": variants.height, "rows": annotations.height})
    return annotations


def _step_usage(context: dg.OpExecutionContext) -> dict:
    """CPU seconds and peak memory of this run's `annotate_chromosome` steps (their output metadata), so that
    the asset's cost figures still cover all of its annotation work."""
    from dagster._core.events import DagsterEventType

    cpu, peak = 0.0, 0
    for record in context.instance.all_logs(context.run_id, of_type=DagsterEventType.STEP_OUTPUT):
        event = record.dagster_event
        if event is None or not (event.step_key or "").endswith("]") or "annotate_chromosome" not in event.step_key:
            continue
        meta = event.step_output_data.metadata
        cpu += float(getattr(meta.get("hcml/cpu_seconds"), "value", 0) or 0)
        peak = max(peak, int(getattr(meta.get("hcml/peak_memory_bytes"), "value", 0) or 0))
    return {"chromosome_steps_cpu_seconds": round(cpu, 3), "chromosome_steps_peak_memory_bytes": peak}


@dg.op(
    out={"result": dg.Out(pl.DataFrame), **{spec.get_python_identifier(): dg.Out() for spec in ANNOTATION_CHECKS}},
    tags={"hcml/domain": "clinical"},
)
def join_annotations(context: dg.OpExecutionContext, parts: list[pl.DataFrame], sample_variants: pl.DataFrame):
    """The chromosomes' annotations joined, with the blocking checks of the whole sample."""
    from hcml.cost.usage import CPU_SECONDS, PEAK_MEMORY_BYTES

    metadata: dict = {}
    with measured(metadata):
        variants = sample_variants.select([c for c in VARIANT_COLUMNS if c in sample_variants.columns])
        annotations = join_chromosomes(parts)
    steps = _step_usage(context)
    # the asset's cost figures cover its chromosome steps too (analysis_costs reads these keys)
    metadata[CPU_SECONDS] = round(metadata.get(CPU_SECONDS, 0) + steps["chromosome_steps_cpu_seconds"], 6)
    metadata[PEAK_MEMORY_BYTES] = max(metadata.get(PEAK_MEMORY_BYTES, 0), steps["chromosome_steps_peak_memory_bytes"])
    metadata.update(steps)
    metadata.update(
        frame_metadata(
            annotations,
            n_variants=variants.height,
            n_chromosomes=len(parts),
            n_annotated_variants=annotations["row"].n_unique() if annotations.height else 0,
        )
    )
    yield dg.Output(annotations, output_name="result", metadata=metadata)

    rows_in = set(variants["row"].to_list())
    rows_out = set(annotations["row"].to_list())
    yield dg.AssetCheckResult(
        asset_key="variant_annotations",
        check_name=ROWS_CHECK,
        passed=rows_in == rows_out,
        metadata={
            "variants": len(rows_in),
            "annotated": len(rows_in & rows_out),
            "missing": len(rows_in - rows_out),
            "orphaned": len(rows_out - rows_in),
        },
    )
    msc = annotations.group_by("row").agg(
        pl.col("most_severe_consequence").drop_nulls().filter(pl.col("most_severe_consequence") != "").first()
    )
    missing = msc.filter(pl.col("most_severe_consequence").is_null()).height + len(rows_in - rows_out)
    yield dg.AssetCheckResult(
        asset_key="variant_annotations",
        check_name=CONSEQUENCE_CHECK,
        passed=missing == 0,
        metadata={"variants_without": missing},
    )


@dg.graph_asset(
    partitions_def=samples_partitions,
    group_name="clinical",
    kinds={"parquet", "polars"},
    owners=OWNERS,
    tags=PHI_TAGS,
    code_version="2",
    check_specs=ANNOTATION_CHECKS,
)
def variant_annotations(sample_variants):
    """One row per variant x overlapping feature, Ensembl VEP's columns and SO consequence terms.

    Fanned out per chromosome: each contig is its own step (`annotate_chromosome[chr21]`, ...), run in
    parallel by the multiprocess executor locally and as one pod each by the k8s_job_executor."""
    parts = variants_by_chromosome(sample_variants).map(annotate_chromosome).collect()
    outputs = join_annotations(parts, sample_variants)
    return {
        "result": outputs.result,
        **{spec.get_python_identifier(): getattr(outputs, spec.get_python_identifier()) for spec in ANNOTATION_CHECKS},
    }


@dg.asset(
    partitions_def=samples_partitions,
    group_name="clinical",
    kinds={"parquet", "polars"},
    owners=OWNERS,
    tags=PHI_TAGS,
    code_version="1",
)
def variant_features(
    context: dg.AssetExecutionContext,
    sample_variants: pl.DataFrame,
    variant_annotations: pl.DataFrame,
    reference: ReferenceBundleResource,
) -> dg.Output[pl.DataFrame]:
    """One row per variant: the picked consequence (VEP --pick order), HGVS, frequencies, ClinVar, genotype.

    This is the frame the pathogenicity model scores (`hcml.ml` derives its numeric features from it,
    one code path with the realtime service).
    """
    from hcml.genomics.annotate import summarise
    from hcml.ml.features import features_from_summary
    from hcml.ml.proteins import bundle_proteins

    metadata: dict = {}
    with measured(metadata):
        summary = summarise(variant_annotations)
        genotype = sample_variants.select("row", "sample", "gt", "zygosity")
        features = summary.join(genotype, on="row", how="left", maintain_order="left")
        # the model's numeric features, same code path as training and the realtime service
        model_features = features_from_summary(summary, bundle_proteins(reference.load(), summary))
        features = features.hstack(model_features.rename({c: f"feature_{c}" for c in model_features.columns}))
    metadata.update(frame_metadata(features))
    return dg.Output(features, metadata=metadata)


def current_scorer():
    """The scorer `variant_predictions` uses now: `load_scorer()`, the same decision the realtime service makes."""
    from hcml.ml.serving import load_scorer

    return load_scorer()


@dg.asset(
    partitions_def=samples_partitions,
    deps=["champion_model", "bundled_model"],  # lineage: the model the scores come from (MLflow champion, else bundled)
    group_name="clinical",
    kinds={"parquet", "pytorch"},
    owners=OWNERS,
    tags=PHI_TAGS,
    code_version="1",
)
def variant_predictions(
    context: dg.AssetExecutionContext, variant_features: pl.DataFrame, reference: ReferenceBundleResource
) -> dg.Output[pl.DataFrame]:
    """P(pathogenic) for each variant from the platform's own model (MLflow champion, else the bundled one);
    protein features from the bundle's own translations, as in the realtime service."""
    from hcml.ml.proteins import bundle_proteins

    metadata: dict = {}
    with measured(metadata):
        scorer = current_scorer()
        scores = (
            scorer.score(variant_features, bundle_proteins(reference.load(), variant_features))
            if variant_features.height
            else []
        )
        predictions = variant_features.with_columns(
            pl.Series("pathogenicity_score", scores, dtype=pl.Float64),
            pl.lit(str(scorer.model_name)).alias("model_name"),
            pl.lit(str(scorer.model_version)).alias("model_version"),
        )
    metadata.update(
        frame_metadata(
            predictions,
            model_name=str(scorer.model_name),
            model_version=str(scorer.model_version),
            n_score_over_0_5=int((predictions["pathogenicity_score"] > 0.5).sum()) if predictions.height else 0,
        )
    )
    return dg.Output(predictions, metadata=metadata)
