"""MLflow tracking and model registry for the pathogenicity model.

Embedded default: a SQLite store and local artifact root under `data_dir()/mlflow`;
HCML_MLFLOW_TRACKING_URI points at a real tracking server instead (the tests start one).
Model versions are registered from the run's `model/` artifact directory (the numpy serving form), and
the alias `champion` is only moved by `promote_if_better` (called by the blocking Dagster check path and
by `hcml model promote`).
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hcml.config import data_dir
from hcml.ml.model import MODEL_NAME, ExportedModel

EXPERIMENT = "hcml-pathogenicity"
CHAMPION = "champion"
CANDIDATE = "candidate"
MODEL_ARTIFACT = "model"
EVALUATION_ARTIFACT = "evaluation"


_URI_OVERRIDE: contextvars.ContextVar[str | None] = contextvars.ContextVar("hcml_mlflow_uri", default=None)


@contextlib.contextmanager
def using_tracking_uri(uri: str | None) -> Iterator[None]:
    """Use `uri` for the registry calls inside the block (the Dagster MLflow resource sets this)."""
    token = _URI_OVERRIDE.set(uri)
    try:
        yield
    finally:
        _URI_OVERRIDE.reset(token)


def tracking_uri() -> str:
    """An explicit override, else HCML_MLFLOW_TRACKING_URI, else the embedded SQLite store under data_dir()/mlflow."""
    uri = _URI_OVERRIDE.get() or os.environ.get("HCML_MLFLOW_TRACKING_URI")
    if uri:
        return uri
    root = data_dir() / "mlflow"
    root.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{root / 'mlflow.db'}"


class RegistryUnavailable(RuntimeError):
    """The tracking server could not be reached or answered with an error (not a plain "not found")."""


_NOT_FOUND_CODES = {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"}

# MLflow's own defaults retry an unreachable server for ~4 minutes; a scorer load must fail fast instead.
# Applied only where the operator has not set them.
_HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
}


def _is_not_found(exc: Exception) -> bool:
    return getattr(exc, "error_code", None) in _NOT_FOUND_CODES


def _client():
    import mlflow
    from mlflow import MlflowClient

    for key, value in _HTTP_DEFAULTS.items():
        os.environ.setdefault(key, value)
    uri = tracking_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _experiment_id(client) -> str:
    exp = client.get_experiment_by_name(EXPERIMENT)
    if exp is not None:
        return exp.experiment_id
    artifact_location = None
    if tracking_uri().startswith("sqlite:"):
        artifact_location = (data_dir() / "mlflow" / "artifacts").as_uri()
    return client.create_experiment(EXPERIMENT, artifact_location=artifact_location)


@dataclass
class RegisteredRun:
    run_id: str
    model_version: str
    model_uri: str


def log_and_register(
    model: ExportedModel,
    params: dict[str, Any],
    metrics: dict[str, float],
    report: dict[str, Any],
    plots: dict[str, Path],
    training_set_sha256: str,
    dagster_run_id: str | None = None,
    history: list[dict[str, float]] | None = None,
) -> RegisteredRun:
    """One MLflow run: params, metrics, plots, training-set hash, Dagster run id; a new model version
    (aliased `candidate`). The champion alias is not touched here."""
    import mlflow

    client = _client()
    exp_id = _experiment_id(client)
    tags = {"hcml.training_set_sha256": training_set_sha256, "hcml.model_name": MODEL_NAME}
    if dagster_run_id:
        tags["dagster.run_id"] = dagster_run_id
    with mlflow.start_run(experiment_id=exp_id, tags=tags) as run:
        mlflow.log_params({**params, "training_set_sha256": training_set_sha256, "dagster_run_id": dagster_run_id or ""})
        mlflow.log_metrics({k: float(v) for k, v in metrics.items() if v is not None})
        for row in history or []:
            mlflow.log_metrics({"train_loss": row["train_loss"], "val_loss": row["val_loss"]}, step=int(row["epoch"]))
        for path in plots.values():
            mlflow.log_artifact(str(path), artifact_path=EVALUATION_ARTIFACT)
        mlflow.log_dict(report, f"{EVALUATION_ARTIFACT}/report.json")
        with tempfile.TemporaryDirectory() as tmp:
            model.save(Path(tmp) / MODEL_ARTIFACT)
            mlflow.log_artifacts(str(Path(tmp) / MODEL_ARTIFACT), artifact_path=MODEL_ARTIFACT)
        run_id = run.info.run_id
        source = f"{run.info.artifact_uri}/{MODEL_ARTIFACT}"
    try:
        client.get_registered_model(MODEL_NAME)
    except Exception as exc:  # noqa: BLE001 - mlflow raises RestException/MlflowException
        if not _is_not_found(exc):
            raise
        client.create_registered_model(MODEL_NAME, description="P(pathogenic) for a variant; see docs/model.md")
    mv = client.create_model_version(MODEL_NAME, source=source, run_id=run_id, tags={"training_set_sha256": training_set_sha256})
    client.set_registered_model_alias(MODEL_NAME, CANDIDATE, mv.version)
    return RegisteredRun(run_id=run_id, model_version=str(mv.version), model_uri=source)


def alias_version(alias: str) -> str | None:
    """The version number an alias points at; None if the model or alias does not exist.
    Raises RegistryUnavailable when the store cannot answer (never mistaken for "no champion")."""
    client = _client()
    try:
        return str(client.get_model_version_by_alias(MODEL_NAME, alias).version)
    except Exception as exc:  # noqa: BLE001 - MlflowException / RestException
        if _is_not_found(exc):
            return None
        raise RegistryUnavailable(f"MLflow at {tracking_uri()} did not answer for alias {alias!r}: {str(exc).splitlines()[0][:300]}") from exc


def load_version(version: str, cache: Path | None = None) -> ExportedModel:
    """Download a registered version's serving form (cached per version) and load it."""
    import mlflow

    client = _client()
    mv = client.get_model_version(MODEL_NAME, version)
    store = hashlib.sha256(tracking_uri().encode()).hexdigest()[:12]  # versions are per store
    target = (cache or data_dir() / "models" / "cache") / store / f"{MODEL_NAME}-v{version}"
    if not (target / MODEL_ARTIFACT / "spec.json").exists():
        target.mkdir(parents=True, exist_ok=True)
        mlflow.artifacts.download_artifacts(artifact_uri=mv.source, dst_path=str(target))
    return ExportedModel.load(target / MODEL_ARTIFACT, model_version=str(version))


def load_alias(alias: str = CHAMPION) -> ExportedModel | None:
    version = alias_version(alias)
    return load_version(version) if version else None


def set_champion(version: str) -> None:
    _client().set_registered_model_alias(MODEL_NAME, CHAMPION, version)


def tag_version(version: str, tags: dict[str, str]) -> None:
    client = _client()
    for k, v in tags.items():
        client.set_model_version_tag(MODEL_NAME, version, k, v)
