"""Annotations (VEP-compatible consequences per transcript), per-variant features and model predictions."""

import dagster as dg
import polars as pl

from assets._common import OWNERS, PHI_TAGS, frame_metadata, measured
from assets.samples import VARIANT_COLUMNS
from resources import ReferenceBundleResource
from resources.partitions import samples_partitions

ROWS_CHECK = "every_variant_annotated"
CONSEQUENCE_CHECK = "every_variant_has_most_severe_consequence"


@dg.asset(
    partitions_def=samples_partitions,
    group_name="clinical",
    kinds={"parquet", "polars"},
    owners=OWNERS,
    tags=PHI_TAGS,
    code_version="1",
    # on Kubernetes (k8s_job_executor step pods): annotation is CPU-bound (docs/deployment.md)
    op_tags={
        "dagster-k8s/config": {
            "container_config": {
                "resources": {"requests": {"cpu": "2", "memory": "2Gi"}, "limits": {"cpu": "4", "memory": "4Gi"}}
            }
        }
    },
    check_specs=[
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
    ],
)
def variant_annotations(
    context: dg.AssetExecutionContext, sample_variants: pl.DataFrame, reference: ReferenceBundleResource
):
    """One row per variant x overlapping feature, Ensembl VEP's columns and SO consequence terms."""
    from hcml.genomics.annotate import annotate

    metadata: dict = {}
    with measured(metadata):
        bundle = reference.load()
        variants = sample_variants.select([c for c in VARIANT_COLUMNS if c in sample_variants.columns])
        annotations = annotate(variants, bundle)
    metadata.update(
        frame_metadata(
            annotations,
            n_variants=variants.height,
            n_annotated_variants=annotations["row"].n_unique() if annotations.height else 0,
        )
    )
    yield dg.Output(annotations, metadata=metadata)

    rows_in = set(variants["row"].to_list())
    rows_out = set(annotations["row"].to_list())
    yield dg.AssetCheckResult(
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
    yield dg.AssetCheckResult(check_name=CONSEQUENCE_CHECK, passed=missing == 0, metadata={"variants_without": missing})


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
