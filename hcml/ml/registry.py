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
    card: str | None = None,
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
        mlflow.log_params(
            {**params, "training_set_sha256": training_set_sha256, "dagster_run_id": dagster_run_id or ""}
        )
        mlflow.log_metrics({k: float(v) for k, v in metrics.items() if v is not None})
        for row in history or []:
            mlflow.log_metrics({"train_loss": row["train_loss"], "val_loss": row["val_loss"]}, step=int(row["epoch"]))
        for path in plots.values():
            mlflow.log_artifact(str(path), artifact_path=EVALUATION_ARTIFACT)
        mlflow.log_dict(report, f"{EVALUATION_ARTIFACT}/report.json")
        if card:
            mlflow.log_text(card, f"{EVALUATION_ARTIFACT}/model_card.md")
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
    mv = client.create_model_version(
        MODEL_NAME, source=source, run_id=run_id, tags={"training_set_sha256": training_set_sha256}
    )
    client.set_registered_model_alias(MODEL_NAME, CANDIDATE, mv.version)
    return RegisteredRun(run_id=run_id, model_version=str(mv.version), model_uri=source)


# -- read path used by serving -------------------------------------------------------------------------
# For an http(s) tracking server the two calls a scorer needs (alias -> version, version -> files) go
# through MLflow's REST API with httpx: importing the mlflow package alone takes ~0.7 s, which a realtime
# service scaling from zero should not pay. Other stores (SQLite, file) use the mlflow client.
MODEL_FILES = ("model.npz", "spec.json")


def _rest_base() -> str | None:
    uri = tracking_uri()
    return uri.rstrip("/") if uri.startswith(("http://", "https://")) else None


def _rest_get(path: str, params: dict[str, str] | None = None):
    """GET on the tracking server with MLflow's own auth variables; connection errors -> RegistryUnavailable."""
    import httpx

    headers, auth = {}, None
    if os.environ.get("MLFLOW_TRACKING_TOKEN"):
        headers["Authorization"] = f"Bearer {os.environ['MLFLOW_TRACKING_TOKEN']}"
    if os.environ.get("MLFLOW_TRACKING_USERNAME") and os.environ.get("MLFLOW_TRACKING_PASSWORD"):
        auth = (os.environ["MLFLOW_TRACKING_USERNAME"], os.environ["MLFLOW_TRACKING_PASSWORD"])
    timeout = float(os.environ.get("MLFLOW_HTTP_REQUEST_TIMEOUT", _HTTP_DEFAULTS["MLFLOW_HTTP_REQUEST_TIMEOUT"]))
    verify = os.environ.get("MLFLOW_TRACKING_INSECURE_TLS", "false").lower() != "true"
    try:
        return httpx.get(
            f"{_rest_base()}{path}", params=params, headers=headers, auth=auth, timeout=timeout, verify=verify
        )
    except httpx.HTTPError as exc:
        raise RegistryUnavailable(f"MLflow at {tracking_uri()} is unreachable: {exc}") from exc


def _rest_json(path: str, params: dict[str, str], what: str) -> dict | None:
    """The JSON answer; None for MLflow's "not found" answers; RegistryUnavailable otherwise."""
    r = _rest_get(path, params)
    if r.status_code == 200:
        return r.json()
    try:
        code = r.json().get("error_code")
    except ValueError:
        code = None
    if code in _NOT_FOUND_CODES:
        return None
    raise RegistryUnavailable(f"MLflow at {tracking_uri()} answered {r.status_code} for {what}: {r.text[:300]}")


def embedded_store() -> Path:
    """The embedded SQLite store's file (it exists once the model assets or `hcml model train` wrote to it)."""
    return data_dir() / "mlflow" / "mlflow.db"


def _sqlite_row(query: str, params: tuple) -> tuple | None:
    """A read-only look-up in the embedded SQLite store without importing MLflow (about 2 s of imports):
    the realtime service reads the champion on its cold start. Raises sqlite3.Error on a schema it does
    not know; the caller then asks MLflow itself."""
    import sqlite3

    uri = tracking_uri()
    path = Path(uri[len("sqlite:///") :])
    with contextlib.closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as con:
        return con.execute(query, params).fetchone()


def _embedded_sqlite() -> bool:
    uri = tracking_uri()
    return uri.startswith("sqlite:///") and Path(uri[len("sqlite:///") :]).is_file()


def alias_version(alias: str) -> str | None:
    """The version number an alias points at; None if the model or alias does not exist.
    Raises RegistryUnavailable when the store cannot answer (never mistaken for "no champion")."""
    if _embedded_sqlite():
        import sqlite3

        with contextlib.suppress(sqlite3.Error):
            row = _sqlite_row(
                "SELECT version FROM registered_model_aliases WHERE name = ? AND alias = ?", (MODEL_NAME, alias)
            )
            return str(row[0]) if row else None
    if _rest_base():
        answer = _rest_json(
            "/api/2.0/mlflow/registered-models/alias", {"name": MODEL_NAME, "alias": alias}, f"alias {alias!r}"
        )
        return str(answer["model_version"]["version"]) if answer else None
    client = _client()
    try:
        return str(client.get_model_version_by_alias(MODEL_NAME, alias).version)
    except Exception as exc:  # noqa: BLE001 - MlflowException / RestException
        if _is_not_found(exc):
            return None
        raise RegistryUnavailable(
            f"MLflow at {tracking_uri()} did not answer for alias {alias!r}: {str(exc).splitlines()[0][:300]}"
        ) from exc


def _version_source(version: str) -> str:
    if _embedded_sqlite():
        import sqlite3

        with contextlib.suppress(sqlite3.Error):
            row = _sqlite_row(
                "SELECT source FROM model_versions WHERE name = ? AND version = ?", (MODEL_NAME, int(version))
            )
            if row is None:
                raise LookupError(f"version {version} of {MODEL_NAME} not found in {tracking_uri()}")
            return row[0]
    if _rest_base():
        answer = _rest_json(
            "/api/2.0/mlflow/model-versions/get", {"name": MODEL_NAME, "version": str(version)}, f"version {version}"
        )
        if answer is None:
            raise LookupError(f"version {version} of {MODEL_NAME} not found in {tracking_uri()}")
        return answer["model_version"]["source"]
    client = _client()
    try:
        return client.get_model_version(MODEL_NAME, version).source
    except Exception as exc:  # noqa: BLE001
        if _is_not_found(exc):
            raise LookupError(f"version {version} of {MODEL_NAME} not found in {tracking_uri()}") from exc
        raise


def _download(source: str, target: Path) -> None:
    """The version's `model/` files into target/model (atomically: a partial download is never loaded)."""
    tmp = Path(tempfile.mkdtemp(prefix=".download-", dir=target))
    base = _rest_base()
    if base and source.startswith("mlflow-artifacts:/"):
        path = source[len("mlflow-artifacts:/") :].lstrip("/")
        (tmp / MODEL_ARTIFACT).mkdir()
        for name in MODEL_FILES:
            r = _rest_get(f"/api/2.0/mlflow-artifacts/artifacts/{path}/{name}")
            if r.status_code != 200:
                raise RegistryUnavailable(f"cannot download {name} of {source}: HTTP {r.status_code}")
            (tmp / MODEL_ARTIFACT / name).write_bytes(r.content)
    elif source.startswith("file://"):  # the embedded store's local artifact root: a plain copy
        import shutil
        from urllib.parse import unquote, urlparse

        local = Path(unquote(urlparse(source).path))
        (tmp / MODEL_ARTIFACT).mkdir()
        for name in MODEL_FILES:
            shutil.copyfile(local / name, tmp / MODEL_ARTIFACT / name)
    else:
        import mlflow

        _client()
        mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=str(tmp))
    os.replace(tmp / MODEL_ARTIFACT, target / MODEL_ARTIFACT)
    tmp.rmdir()


def load_version(version: str, cache: Path | None = None) -> ExportedModel:
    """A registered version's serving form: downloaded once per (store, version), then loaded from disk."""
    source = _version_source(str(version))
    store = hashlib.sha256(tracking_uri().encode()).hexdigest()[:12]  # version numbers are per store
    target = (cache or data_dir() / "models" / "cache") / store / f"{MODEL_NAME}-v{version}"
    if not all((target / MODEL_ARTIFACT / name).exists() for name in MODEL_FILES):
        target.mkdir(parents=True, exist_ok=True)
        _download(source, target)
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
