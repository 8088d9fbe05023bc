"""Loading the model that scores variants in the clinic.

`load_scorer()` returns the MLflow champion when HCML_MLFLOW_TRACKING_URI is set or the embedded store
under data_dir()/mlflow has one, else the exported model in HCML_MODEL_DIR (default: the bundled
`models/pathogenicity/` committed with the code). The
serving form is numpy only: loading takes milliseconds and never imports torch, MLflow or Dagster unless
the registry is asked for.
"""

from __future__ import annotations

import os
from pathlib import Path

import structlog

from hcml.config import REPO_ROOT
from hcml.ml.model import ExportedModel

log = structlog.get_logger(__name__)

BUNDLED_MODEL_DIR = REPO_ROOT / "models" / "pathogenicity"


def model_dir() -> Path:
    """HCML_MODEL_DIR: an exported model directory (model.npz + spec.json). Default: the bundled model."""
    return Path(os.environ.get("HCML_MODEL_DIR", BUNDLED_MODEL_DIR)).resolve()


def load_bundled() -> ExportedModel:
    return ExportedModel.load(model_dir())


def load_scorer(alias: str = "champion") -> ExportedModel:
    """The scorer: `.score(summary_df) -> np.ndarray`, `.model_name`, `.model_version`.

    With HCML_MLFLOW_TRACKING_URI set, or on the embedded default once the model assets have written the
    SQLite store under data_dir()/mlflow: the version the alias points at (so the batch pipeline and the
    realtime service score with the same model); the bundled model only when the registry has no such
    alias yet. An unreachable registry raises `registry.RegistryUnavailable` (after a few seconds, not
    MLflow's default minutes) rather than silently serving another model."""
    from hcml.ml import registry

    if os.environ.get("HCML_MLFLOW_TRACKING_URI") or registry.embedded_store().is_file():
        model = registry.load_alias(alias)
        if model is not None:
            log.info("scorer_loaded", source="mlflow", alias=alias, model_version=model.model_version)
            return model
        log.warning("no_mlflow_champion_using_bundled", alias=alias, model_dir=str(model_dir()))
    model = load_bundled()
    log.info("scorer_loaded", source="bundled", model_version=model.model_version)
    return model
