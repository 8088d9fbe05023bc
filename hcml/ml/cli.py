"""`hcml model ...`: train, evaluate, promote and export the pathogenicity model."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click


def _echo_progress(row: dict[str, float]) -> None:
    click.echo(
        f"  epoch {int(row['epoch']):>2}  train loss {row['train_loss']:.4f}  validation loss {row['val_loss']:.4f}",
        err=True,
    )


def _load_version(version: str):
    """A registered version, or a clear error naming the version and the store."""
    from hcml.ml import registry

    try:
        return registry.load_version(version)
    except Exception as exc:  # noqa: BLE001 - MlflowException / RestException for unknown versions
        raise click.ClickException(
            f"cannot load version {version!r} of {registry.MODEL_NAME} from {registry.tracking_uri()}: {str(exc).splitlines()[0][:200]}"
        ) from exc


@click.group("model")
def model() -> None:
    """The pathogenicity model: train on ClinVar, evaluate on held-out genes, promote in MLflow, export."""


@model.command("train")
@click.option("--seed", default=17, show_default=True, help="Seed: same data + same seed -> same weights.")
@click.option(
    "--register/--no-register",
    default=True,
    show_default=True,
    help="Log the run and register a version in MLflow (alias `candidate`).",
)
@click.option(
    "--export",
    "export_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Also write the serving form (model.npz + spec.json) here.",
)
@click.option(
    "--plots",
    "plots_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to write roc.png and calibration.png.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the evaluation summary as JSON.")
def train_cmd(seed: int, register: bool, export_dir: Path | None, plots_dir: Path | None, as_json: bool) -> None:
    """Train on the ClinVar labels (+ any files in HCML_LABELS_DIR), evaluate on held-out genes, log to MLflow."""
    from hcml.ml import workflow
    from hcml.ml.data import clinvar_labels
    from hcml.ml.training import TrainConfig, build_training_set

    config = TrainConfig(seed=seed)
    labels = clinvar_labels()
    training_set = build_training_set(labels)
    click.echo(
        f"training set: {training_set.height} labelled variants, {training_set['symbol'].n_unique()} genes", err=True
    )
    trained, report, plots = workflow.train_evaluate(training_set, config, plots_dir=plots_dir, progress=_echo_progress)
    summary = {k: report[k] for k in workflow.LOGGED_METRICS} | {
        "model_kind": trained.exported.kind,
        "validation_log_loss": trained.validation_log_loss,
        "evidence_thresholds": report["evidence_thresholds"],
        "training_set_sha256": trained.training_set_sha256,
    }
    if register:
        reg = workflow.register(trained, report, plots, config)
        summary |= {"model_version": reg.model_version, "run_id": reg.run_id}
    if export_dir:
        if not register:
            trained.exported.model_version = f"bundled-{trained.training_set_sha256[:8]}-seed{seed}"
        trained.exported.save(export_dir)
        (export_dir / "model_card.md").write_text(report["model_card"])
        summary["exported_to"] = str(export_dir)
        summary.setdefault("model_version", trained.exported.model_version)
    summary["plots"] = {k: str(v) for k, v in plots.items()}
    click.echo(json.dumps(summary, indent=2) if as_json else "\n".join(f"{k}: {v}" for k, v in summary.items()))


@model.command("evaluate")
@click.option("--version", "version", help="A registered version (default: the champion; the bundled model if none).")
@click.option("--bundled", is_flag=True, help="Evaluate the bundled serving model instead of the registry.")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print JSON: auroc, auroc_missense, auprc, ece, baseline_auroc, model_version...",
)
@click.option("--full", is_flag=True, help="Include per-class figures and both baselines in the JSON.")
@click.option(
    "--plots",
    "plots_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write roc.png and calibration.png here.",
)
def evaluate_cmd(version: str | None, bundled: bool, as_json: bool, full: bool, plots_dir: Path | None) -> None:
    """Figures of the current champion on the genes held out from training."""
    from hcml.ml.data import clinvar_labels
    from hcml.ml.evaluation import evaluate, public, save_plots
    from hcml.ml.serving import load_bundled
    from hcml.ml.training import build_training_set
    from hcml.ml.workflow import champion_or_bundled

    if bundled:
        model_ = load_bundled()
    elif version:
        model_ = _load_version(version)
    else:
        model_ = champion_or_bundled()
    report = evaluate(model_, build_training_set(clinvar_labels()))
    if plots_dir:
        save_plots(report, plots_dir)
    out = public(report)
    if not full:
        out = {
            k: out[k]
            for k in (
                "model_name",
                "model_version",
                "model_kind",
                "auroc",
                "auroc_missense",
                "auroc_missense_with_protein",
                "auroc_missense_without_protein",
                "auprc",
                "accuracy",
                "brier",
                "ece",
                "ece_missense",
                "baseline_auroc",
                "baseline_rule_auroc",
                "baseline_gbm_auroc",
                "baseline_gbm_auroc_missense",
                "evidence_thresholds",
                "test_genes",
                "genes_in_both",
            )
        }
    if as_json:
        click.echo(json.dumps(out, indent=2))
    else:
        for k, v in out.items():
            click.echo(f"{k}: {v:.4f}" if isinstance(v, float) else f"{k}: {v}")


@model.command("promote")
@click.option("--version", "version", help="Candidate version (default: the alias `candidate`).")
def promote_cmd(version: str | None) -> None:
    """Move the alias `champion` to the candidate, only if it is at least as good on the same held-out genes."""
    from hcml.ml import workflow

    if version:
        _load_version(version)  # clear error for an unknown version
    try:
        comparison = workflow.compare_with_champion(version)
    except LookupError as exc:
        raise click.ClickException(str(exc)) from exc
    passed = workflow.promote(comparison)
    click.echo(json.dumps(comparison.as_dict(), indent=2))
    if not passed:
        click.echo(f"not promoted: {comparison.reason}", err=True)
        sys.exit(1)
    click.echo(f"champion -> version {comparison.candidate_version}", err=True)


@model.command("export")
@click.option("--version", "version", help="Registered version (default: the champion).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
def export_cmd(version: str | None, out_dir: Path) -> None:
    """Write a registered version's serving form (model.npz + spec.json) to a directory."""
    from hcml.ml import registry

    model_ = _load_version(version) if version else registry.load_alias(registry.CHAMPION)
    if model_ is None:
        raise click.ClickException(
            "no champion registered: give --version or run `hcml model train` and `hcml model promote`"
        )
    model_.save(out_dir)
    click.echo(f"exported {model_.model_name} version {model_.model_version} to {out_dir}")
