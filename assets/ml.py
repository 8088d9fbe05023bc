"""The pathogenicity model as Dagster assets: labels -> training set -> model -> evaluation -> champion.

Thin: every step calls `hcml.ml`. The alias `champion` moves only in `champion_model`, which runs only
when the blocking check `candidate_at_least_as_good_as_champion` on `model_evaluation` passes.
"""

import dagster as dg
import polars as pl

from assets._common import NON_PHI_TAGS, OWNERS, frame_metadata, measured

GROUP = "ml"
ML_TAGS = {**NON_PHI_TAGS, "hcml/domain": "ml"}
PROMOTION_CHECK = "candidate_at_least_as_good_as_champion"
ML_ASSET_NAMES = ["clinvar_labels", "training_set", "pathogenicity_model", "model_evaluation", "champion_model"]


class MlflowResource(dg.ConfigurableResource):
    """Where runs and the model registry live: `tracking_uri`, else HCML_MLFLOW_TRACKING_URI, else the
    embedded SQLite store under the data directory (resolved when used, never at import)."""

    tracking_uri: str | None = None

    def registry(self):
        from hcml.ml import registry

        return registry

    def scope(self):
        from hcml.ml import registry

        return registry.using_tracking_uri(self.tracking_uri)

    def resolved_uri(self) -> str:
        from hcml.ml import registry

        with self.scope():
            return registry.tracking_uri()


class TrainingConfig(dg.Config):
    seed: int = 17
    max_epochs: int = 40


@dg.asset(
    deps=["clinvar_release", "curated_labels"],
    group_name=GROUP,
    kinds={"polars", "parquet"},
    owners=OWNERS,
    tags=ML_TAGS,
    code_version="1",
)
def clinvar_labels(context: dg.AssetExecutionContext) -> dg.Output[pl.DataFrame]:
    """ClinVar variants with a binary label (P/LP = 1, B/LB = 0; uncertain and conflicting excluded),
    de-duplicated, from the shipped release plus any curated files in HCML_LABELS_DIR."""
    from hcml.ml.data import clinvar_labels as load_labels
    from hcml.ml.data import label_sources

    metadata: dict = {}
    with measured(metadata):
        sources = label_sources()
        labels = load_labels(sources)
    metadata.update(
        frame_metadata(
            labels,
            sources=dg.MetadataValue.json([str(p) for p in sources]),
            n_pathogenic=int(labels["label"].sum()),
            n_benign=int((labels["label"] == 0).sum()),
            n_genes=labels["symbol"].n_unique(),
        )
    )
    return dg.Output(labels, metadata=metadata)


@dg.asset(
    group_name=GROUP,
    kinds={"polars", "parquet"},
    owners=OWNERS,
    tags=ML_TAGS,
    code_version="1",
)
def training_set(context: dg.AssetExecutionContext, clinvar_labels: pl.DataFrame) -> dg.Output[pl.DataFrame]:
    """HGVS-derived features per labelled variant and its gene-disjoint split (train / validation / test)."""
    from hcml.ml.training import build_training_set

    metadata: dict = {}
    with measured(metadata):
        ts = build_training_set(clinvar_labels)
    splits = ts.group_by("split").agg(pl.len().alias("rows"), pl.col("symbol").n_unique().alias("genes"))
    metadata.update(
        frame_metadata(
            ts,
            splits=dg.MetadataValue.json(
                {r["split"]: {"rows": r["rows"], "genes": r["genes"]} for r in splits.to_dicts()}
            ),
            consequence_classes=dg.MetadataValue.json(dict(ts["consequence_class"].value_counts().iter_rows())),
        )
    )
    return dg.Output(ts, metadata=metadata)


@dg.asset(
    group_name=GROUP,
    kinds={"pytorch", "mlflow"},
    owners=OWNERS,
    tags=ML_TAGS,
    code_version="1",
    # on Kubernetes (k8s_job_executor step pods): training holds the training set and the model in memory
    op_tags={
        "dagster-k8s/config": {
            "container_config": {
                "resources": {"requests": {"cpu": "2", "memory": "8Gi"}, "limits": {"cpu": "4", "memory": "12Gi"}}
            }
        }
    },
)
def pathogenicity_model(
    context: dg.AssetExecutionContext, config: TrainingConfig, training_set: pl.DataFrame, mlflow: MlflowResource
) -> dg.Output[dict]:
    """A torch MLP trained on the training genes, calibrated on the validation genes, logged to MLflow
    (params, metrics, plots, training-set hash, this run's id) and registered as a new version of
    `hcml-pathogenicity` with the alias `candidate`."""
    from hcml.ml import workflow
    from hcml.ml.training import TrainConfig

    cfg = TrainConfig(seed=config.seed, max_epochs=config.max_epochs)
    metadata: dict = {}
    with measured(metadata), mlflow.scope():
        trained, report, plots = workflow.train_evaluate(
            training_set,
            cfg,
            progress=lambda r: context.log.info(f"epoch {r['epoch']}: validation loss {r['val_loss']:.4f}"),
        )
        reg = workflow.register(trained, report, plots, cfg, dagster_run_id=context.run.run_id)
    value = {
        "model_name": trained.exported.model_name,
        "model_version": reg.model_version,
        "run_id": reg.run_id,
        "model_uri": reg.model_uri,
        "training_set_sha256": trained.training_set_sha256,
        "model_sha256": trained.exported.weights_sha256(),
        "tracking_uri": mlflow.resolved_uri(),
    }
    metadata.update(
        {
            **{k: v for k, v in value.items() if k != "tracking_uri"},
            "auroc": report["auroc"],
            "auroc_missense": report["auroc_missense"],
            "ece": report["ece"],
            "model_kind": trained.exported.kind,
            "params": dg.MetadataValue.json(cfg.as_params()),
        }
    )
    return dg.Output(value, metadata=metadata)


@dg.asset(
    group_name=GROUP,
    kinds={"mlflow", "scikitlearn"},
    owners=OWNERS,
    tags=ML_TAGS,
    code_version="1",
    check_specs=[
        dg.AssetCheckSpec(
            PROMOTION_CHECK,
            asset="model_evaluation",
            blocking=True,
            description="The candidate is at least as good as the current champion (AUROC, and ECE within "
            "max(0.05, champion's)) on the same held-out genes; blocks champion_model otherwise.",
        )
    ],
)
def model_evaluation(
    context: dg.AssetExecutionContext, training_set: pl.DataFrame, pathogenicity_model: dict, mlflow: MlflowResource
):
    """Held-out-gene figures of the candidate (overall, per consequence class, both baselines, plots)
    and its comparison with the current champion on exactly the same test variants."""
    from hcml.config import data_dir
    from hcml.ml.evaluation import evaluate, public, save_plots
    from hcml.ml.promotion import compare

    metadata: dict = {}
    with measured(metadata), mlflow.scope():
        registry = mlflow.registry()
        candidate = registry.load_version(pathogenicity_model["model_version"])
        champion = registry.load_alias(registry.CHAMPION)
        report = evaluate(candidate, training_set)
        plots = save_plots(report, data_dir() / "ml" / "plots" / f"v{candidate.model_version}")
        comparison = compare(candidate, champion, training_set)
    value = {"evaluation": public(report), "comparison": comparison.as_dict()}
    metadata.update(
        {
            "model_version": candidate.model_version,
            "champion_version": comparison.champion_version or "none",
            "auroc": report["auroc"],
            "auroc_missense": report["auroc_missense"],
            "auprc": report["auprc"],
            "accuracy": report["accuracy"],
            "brier": report["brier"],
            "ece": report["ece"],
            "baseline_auroc": report["baseline_auroc"],
            "baseline_rule_auroc": report["baseline_rule_auroc"],
            "test_genes": report["test_genes"],
            "per_class": dg.MetadataValue.md(_per_class_table(report)),
            "roc_plot": dg.MetadataValue.path(str(plots["roc"])),
            "calibration_plot": dg.MetadataValue.path(str(plots["calibration"])),
        }
    )
    yield dg.Output(value, metadata=metadata)
    yield dg.AssetCheckResult(
        check_name=PROMOTION_CHECK,
        passed=comparison.passed,
        severity=dg.AssetCheckSeverity.ERROR,
        description=comparison.reason,
        metadata={
            "candidate_version": comparison.candidate_version,
            "champion_version": comparison.champion_version or "none",
            "candidate_auroc": comparison.candidate["auroc"],
            "champion_auroc": (comparison.champion or {}).get("auroc") or float("nan"),
            "candidate_ece": comparison.candidate["ece"],
            "n_test": comparison.n_test,
        },
    )


def _per_class_table(report: dict) -> str:
    def f(v):
        return "-" if v is None else f"{v:.3f}"

    lines = ["| class | n | pathogenic | AUROC | logistic regression | ECE |", "|---|---|---|---|---|---|"]
    for name, d in sorted(report["per_class"].items(), key=lambda kv: -kv[1]["model"]["n"]):
        m = d["model"]
        lines.append(
            f"| {name} | {m['n']} | {f(m['positive_rate'])} | {f(m['auroc'])} | {f(d['logistic_regression']['auroc'])} | {f(m['ece'])} |"
        )
    return "\n".join(lines)


@dg.asset(
    group_name=GROUP,
    kinds={"mlflow"},
    owners=OWNERS,
    tags=ML_TAGS,
    code_version="1",
)
def champion_model(
    context: dg.AssetExecutionContext, model_evaluation: dict, mlflow: MlflowResource
) -> dg.Output[dict]:
    """Moves the MLflow alias `champion` to the candidate. Runs only after the blocking promotion check
    passed; `variant_predictions` and the realtime service load whatever `champion` points at."""
    from hcml.ml.promotion import Comparison
    from hcml.ml.workflow import promote

    comparison = Comparison(**model_evaluation["comparison"])
    metadata: dict = {}
    with measured(metadata), mlflow.scope():
        promoted = promote(comparison)
    if not promoted:  # the check blocks this asset; this guards direct materialization too
        raise dg.Failure(f"candidate not promoted: {comparison.reason}")
    value = {"model_version": comparison.candidate_version, "previous_champion": comparison.champion_version}
    metadata.update(
        {"model_version": comparison.candidate_version, "previous_champion": comparison.champion_version or "none"}
    )
    return dg.Output(value, metadata=metadata)


ml_training_job = dg.define_asset_job(
    "ml_training_job",
    selection=dg.AssetSelection.assets(*ML_ASSET_NAMES),
    description="Retrain, evaluate and (if it passes the blocking check) promote the pathogenicity model.",
)
