"""MLflow against a real `mlflow server` process: logged runs, registered versions, the champion gate."""

import copy
import os

import numpy as np
import polars as pl
import pytest

from hcml.ml import registry, workflow
from hcml.ml.model import MODEL_NAME
from hcml.ml.training import TrainConfig

pytestmark = pytest.mark.slow


def _register(trained, report, plots, dagster_run_id=None):
    return workflow.register(trained, report, plots, TrainConfig(), dagster_run_id=dagster_run_id)


def test_train_register_promote_and_gate(mlflow_env, trained_model, held_out_report, ml_training_set, tmp_path):
    from mlflow import MlflowClient

    from hcml.ml.evaluation import save_plots
    from hcml.ml.serving import load_scorer

    plots = save_plots(held_out_report, tmp_path / "plots")
    good = copy.deepcopy(trained_model)
    reg = _register(good, held_out_report, plots, dagster_run_id="dagster-run-123")
    assert registry.alias_version(registry.CANDIDATE) == reg.model_version

    # what the server recorded, read back with MLflow's own client
    client = MlflowClient(tracking_uri=mlflow_env, registry_uri=mlflow_env)
    run = client.get_run(reg.run_id)
    assert run.data.params["training_set_sha256"] == good.training_set_sha256 == run.data.tags["hcml.training_set_sha256"]
    assert run.data.tags["dagster.run_id"] == "dagster-run-123"
    assert run.data.params["seed"] == "17" and run.data.params["hidden"] == "128,64"
    assert run.data.metrics["auroc"] == pytest.approx(held_out_report["auroc"])
    assert len(client.get_metric_history(reg.run_id, "val_loss")) == len(good.history)
    artifacts = {a.path for a in client.list_artifacts(reg.run_id, "evaluation")}
    assert {"evaluation/roc.png", "evaluation/calibration.png", "evaluation/report.json"} <= artifacts
    assert client.get_model_version(MODEL_NAME, reg.model_version).run_id == reg.run_id

    # the version downloaded from the server scores exactly like the model trained here
    test = ml_training_set.filter(pl.col("split") == "test")
    from_registry = registry.load_version(reg.model_version)
    np.testing.assert_allclose(from_registry.score_features(test), good.exported.score_features(test), atol=1e-7)

    # promotion: this server may already have a champion from another test; the rule decides either way
    champion_before = registry.alias_version(registry.CHAMPION)
    comparison = workflow.compare_with_champion(reg.model_version, ml_training_set)
    assert comparison.n_test == test.height
    passed = workflow.promote(comparison)
    if champion_before is None or comparison.passed:
        assert passed and registry.alias_version(registry.CHAMPION) == reg.model_version
    champion = registry.alias_version(registry.CHAMPION)

    # load_scorer follows the champion when HCML_MLFLOW_TRACKING_URI is set
    scorer = load_scorer()
    assert (scorer.model_name, scorer.model_version) == (MODEL_NAME, champion)
    # ... and, in a fresh process (the realtime service), over MLflow's REST API without importing mlflow
    import json
    import os
    import subprocess
    import sys

    code = (
        "import json, sys; from hcml.ml.serving import load_scorer; s = load_scorer(); "
        "print(json.dumps({'version': s.model_version, 'mlflow_imported': 'mlflow' in sys.modules}))"
    )
    env = {**os.environ, "HCML_DATA_DIR": str(tmp_path / "fresh")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    fresh = json.loads(out.strip().splitlines()[-1])
    assert fresh == {"version": champion, "mlflow_imported": False}
    assert list((tmp_path / "fresh" / "models" / "cache").rglob("model.npz"))

    # a worse candidate (calibration slope negated: ranks inverted) is registered but never becomes champion
    bad = copy.deepcopy(trained_model)
    bad.exported.platt_a = -bad.exported.platt_a
    bad.exported.platt_missense = None
    bad_reg = _register(bad, held_out_report, plots)
    comparison = workflow.compare_with_champion(bad_reg.model_version, ml_training_set)
    assert not comparison.passed and comparison.candidate["auroc"] < 0.5 < comparison.champion["auroc"]
    assert workflow.promote(comparison) is False
    assert registry.alias_version(registry.CHAMPION) == champion
    tags = client.get_model_version(MODEL_NAME, bad_reg.model_version).tags
    assert tags["promotion.passed"] == "false"


def test_embedded_sqlite_default(tmp_path, monkeypatch, trained_model, held_out_report):
    """No tracking URI configured: runs and the registry live in SQLite under HCML_DATA_DIR/mlflow."""
    from hcml.ml.evaluation import save_plots

    monkeypatch.delenv("HCML_MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("HCML_DATA_DIR", str(tmp_path / "var"))
    assert registry.tracking_uri() == f"sqlite:///{tmp_path / 'var' / 'mlflow' / 'mlflow.db'}"
    reg = _register(copy.deepcopy(trained_model), held_out_report, save_plots(held_out_report, tmp_path / "p"))
    assert reg.model_version == "1"
    assert (tmp_path / "var" / "mlflow" / "mlflow.db").stat().st_size > 0
    assert list((tmp_path / "var" / "mlflow" / "artifacts").rglob("model.npz"))
    assert registry.alias_version(registry.CHAMPION) is None
    registry.set_champion(reg.model_version)  # written through the mlflow client
    loaded = registry.load_alias(registry.CHAMPION)  # read from SQLite directly
    assert loaded.model_version == "1"
    assert loaded.weights_sha256() == trained_model.exported.weights_sha256()
    with pytest.raises(LookupError, match="version 9"):
        registry.load_version("9")

    # load_scorer() on the embedded default serves that champion (batch and realtime score with the same
    # model), in a fresh process without importing mlflow (the realtime service's cold start)
    import json
    import subprocess
    import sys

    code = (
        "import json, sys; from hcml.ml.serving import load_scorer; s = load_scorer(); "
        "print(json.dumps({'version': s.model_version, 'mlflow_imported': 'mlflow' in sys.modules}))"
    )
    env = {k: v for k, v in os.environ.items() if k != "HCML_MLFLOW_TRACKING_URI"}
    env["HCML_DATA_DIR"] = str(tmp_path / "var")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert json.loads(out.strip().splitlines()[-1]) == {"version": "1", "mlflow_imported": False}
