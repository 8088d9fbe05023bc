"""`hcml model ...` through the real CLI entry point."""

import json

import pytest
from click.testing import CliRunner

from hcml.cli import main


def test_model_group_is_wired_in_hcml_cli():
    result = CliRunner().invoke(main, ["model", "--help"])
    assert result.exit_code == 0
    for cmd in ("train", "evaluate", "promote", "export"):
        assert cmd in result.output


def test_evaluate_json_without_a_registry_uses_the_bundled_model(tmp_path, monkeypatch):
    monkeypatch.delenv("HCML_MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("HCML_DATA_DIR", str(tmp_path / "var"))  # empty embedded store: no champion
    result = CliRunner().invoke(main, ["model", "evaluate", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output[result.output.index("{"):])
    assert {"auroc", "auroc_missense", "auprc", "ece", "baseline_auroc", "model_version"} <= set(out)
    assert out["model_version"].startswith("bundled-")
    assert out["auroc"] >= 0.93 and out["ece"] <= 0.05 and out["auroc"] > out["baseline_auroc"]


@pytest.mark.slow
def test_train_promote_evaluate_against_the_mlflow_server(mlflow_env, tmp_path):
    runner = CliRunner()
    train = runner.invoke(main, ["model", "train", "--json", "--plots", str(tmp_path / "plots"), "--export", str(tmp_path / "export")])
    assert train.exit_code == 0, train.output
    trained = json.loads(train.output[train.output.index("{"):])
    assert (tmp_path / "plots" / "roc.png").exists() and (tmp_path / "export" / "model.npz").exists()
    promote = runner.invoke(main, ["model", "promote", "--version", trained["model_version"]])
    decision = json.loads(promote.output[promote.output.index("{"):promote.output.rindex("}") + 1])
    assert promote.exit_code == (0 if decision["passed"] else 1)
    if decision["passed"]:
        evaluate = runner.invoke(main, ["model", "evaluate", "--json"])
        assert evaluate.exit_code == 0, evaluate.output
        out = json.loads(evaluate.output[evaluate.output.index("{"):])
        assert out["model_version"] == trained["model_version"]
        assert out["auroc"] == pytest.approx(trained["auroc"])
