"""The ML steps end to end, shared by `hcml model ...` and the Dagster assets (which call them one by one)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from hcml.config import data_dir
from hcml.ml import registry
from hcml.ml.data import clinvar_labels
from hcml.ml.evaluation import evaluate, public, save_plots
from hcml.ml.evidence import INFO_KEY
from hcml.ml.model import ExportedModel
from hcml.ml.model_card import model_card
from hcml.ml.promotion import Comparison, compare
from hcml.ml.training import TrainConfig, TrainedModel, build_training_set, train_model

# metrics logged to MLflow (flat; the full report is logged as JSON)
LOGGED_METRICS = (
    "auroc",
    "auprc",
    "accuracy",
    "brier",
    "ece",
    "auroc_missense",
    "ece_missense",
    "baseline_auroc",
    "baseline_rule_auroc",
    "auroc_missense_with_protein",
    "auroc_missense_without_protein",
    "baseline_gbm_auroc",
    "baseline_gbm_auroc_missense",
)


@dataclass
class TrainingOutcome:
    trained: TrainedModel
    report: dict[str, Any]
    plots: dict[str, Path]
    registered: registry.RegisteredRun | None


def train_evaluate(
    training_set: pl.DataFrame,
    config: TrainConfig | None = None,
    plots_dir: Path | None = None,
    progress: Callable[[dict[str, float]], None] | None = None,
) -> tuple[TrainedModel, dict[str, Any], dict[str, Path]]:
    config = config or TrainConfig()
    trained = train_model(training_set, config, progress=progress)
    trained.exported.model_version = f"unregistered-{trained.training_set_sha256[:8]}-seed{config.seed}"
    trained.exported.info["training_set_sha256"] = trained.training_set_sha256
    report = evaluate(trained.exported, training_set, seed=config.seed, gbm_baseline=trained.candidates.get("gbm"))
    default_dir = data_dir() / "ml" / "plots" / f"{trained.training_set_sha256[:8]}-seed{config.seed}"
    plots = save_plots(report, plots_dir or default_dir)
    trained.exported.info["evaluation"] = {k: report[k] for k in LOGGED_METRICS}
    trained.exported.info[INFO_KEY] = report["evidence_thresholds"]  # PP3/BP4 (hcml.ml.evidence.model_thresholds)
    report["model_card"] = model_card(report, trained.exported.info)
    return trained, report, plots


def register(
    trained: TrainedModel,
    report: dict[str, Any],
    plots: dict[str, Path],
    config: TrainConfig,
    dagster_run_id: str | None = None,
) -> registry.RegisteredRun:
    metrics = {k: report[k] for k in LOGGED_METRICS if report.get(k) is not None}
    reg = registry.log_and_register(
        trained.exported,
        params=config.as_params(),
        metrics=metrics,
        report={k: v for k, v in public(report).items() if k != "model_card"},
        card=report.get("model_card"),
        plots=plots,
        training_set_sha256=trained.training_set_sha256,
        dagster_run_id=dagster_run_id,
        history=trained.history,
    )
    trained.exported.model_version = reg.model_version
    return reg


def train_and_register(
    config: TrainConfig | None = None, dagster_run_id: str | None = None, progress=None
) -> TrainingOutcome:
    config = config or TrainConfig()
    training_set = build_training_set(clinvar_labels())
    trained, report, plots = train_evaluate(training_set, config, progress=progress)
    reg = register(trained, report, plots, config, dagster_run_id)
    return TrainingOutcome(trained, report, plots, reg)


def compare_with_champion(candidate_version: str | None = None, training_set: pl.DataFrame | None = None) -> Comparison:
    """Candidate (default: alias `candidate`) vs the current champion on the same held-out genes."""
    version = candidate_version or registry.alias_version(registry.CANDIDATE)
    if version is None:
        raise LookupError("no candidate model version registered: run `hcml model train` first")
    candidate = registry.load_version(version)
    champion = registry.load_alias(registry.CHAMPION)
    ts = training_set if training_set is not None else build_training_set(clinvar_labels())
    return compare(candidate, champion, ts)


def promote(comparison: Comparison) -> bool:
    """Move `champion` to the candidate iff the comparison passed; record the decision on the version."""
    registry.tag_version(
        comparison.candidate_version,
        {"promotion.passed": str(comparison.passed).lower(), "promotion.reason": comparison.reason[:250]},
    )
    if comparison.passed:
        registry.set_champion(comparison.candidate_version)
    return comparison.passed


def champion_or_bundled() -> ExportedModel:
    from hcml.ml.serving import load_bundled

    model = registry.load_alias(registry.CHAMPION)
    return model if model is not None else load_bundled()
