"""Training: reproducible, exported forms equal torch / scikit-learn, held-out-gene targets, baselines, plots."""

import numpy as np
import polars as pl
import pytest

from hcml.ml.evaluation import expected_calibration_error, save_plots
from hcml.ml.features import feature_matrix
from hcml.ml.genes import apply_gene_table
from hcml.ml.model import ExportedModel
from hcml.ml.training import TrainConfig, hot_deck, sklearn_probabilities, torch_probabilities, train_model


@pytest.mark.slow
def test_same_data_and_seed_give_the_same_weights(trained_model, ml_training_set):
    again = train_model(ml_training_set, TrainConfig())
    for kind, model in trained_model.candidates.items():
        assert model.weights_sha256() == again.candidates[kind].weights_sha256(), kind
    other = train_model(ml_training_set, TrainConfig(seed=18, max_epochs=2, kinds=("mlp",)))
    assert other.candidates["mlp"].weights_sha256() != trained_model.candidates["mlp"].weights_sha256()


@pytest.mark.parametrize("kind", ["mlp", "gbm"])
def test_exported_numpy_form_scores_like_the_trained_model(trained_model, ml_training_set, tmp_path, kind):
    """The serving form (numpy) against the trained torch network / scikit-learn classifier, to 1e-6."""
    test = ml_training_set.filter(pl.col("split") == "test")
    e = trained_model.candidates[kind]
    x = feature_matrix(apply_gene_table(test, e.gene_table, e.gene_priors), e.feature_names)
    assert np.isnan(x).any()  # rows without a protein sequence: filled by the model, the same way in both
    reference = (torch_probabilities if kind == "mlp" else sklearn_probabilities)(trained_model, x)
    e.save(tmp_path / "m")
    loaded = ExportedModel.load(tmp_path / "m")
    assert loaded.kind == kind
    np.testing.assert_allclose(loaded.score_features(test), reference, rtol=0, atol=1e-6)
    np.testing.assert_allclose(e.predict_matrix(x), reference, rtol=0, atol=1e-6)


def test_the_shipped_kind_is_the_better_on_validation(trained_model):
    losses = trained_model.validation_log_loss
    assert set(losses) == {"mlp", "gbm"}
    assert trained_model.exported.kind == min(losses, key=losses.get)
    assert trained_model.exported is trained_model.candidates[trained_model.exported.kind]


def test_hot_deck_fills_missing_blocks_from_rows_of_the_same_class():
    names = ["a", "log_protein_length", "relative_position", "gene_mis_z"]
    x = np.array([[0, 1, 0.1, 2], [0, np.nan, np.nan, 3], [1, 5, 0.5, np.nan], [1, np.nan, np.nan, 4]], np.float32)
    classes = np.array(["missense", "missense", "stop", "stop"])
    got = hot_deck(x, classes, names, seed=1)
    assert not np.isnan(got).any()
    assert got[1, 1:3].tolist() == pytest.approx([1, 0.1]) and got[3, 1:3].tolist() == pytest.approx([5, 0.5])
    assert got[2, 3] in (2, 3, 4) and np.array_equal(got[:, 0], x[:, 0])


def test_gene_held_out_targets(held_out_report):
    r = held_out_report
    assert r["genes_in_both"] == 0 and r["test_genes"] > 500
    assert r["auroc"] >= 0.95, r["auroc"]
    assert r["ece"] <= 0.03, r["ece"]
    assert r["auroc"] < 0.99  # far above ~0.96 on held-out genes would mean leakage
    overall = r["overall"]
    assert overall["model"]["auroc"] > overall["logistic_regression"]["auroc"]
    assert overall["model"]["auroc"] > overall["consequence_rule"]["auroc"]
    assert r["auroc"] > r["baseline_auroc"]
    # missense reported on its own, and by protein-sequence coverage; above the first model's 0.733
    assert 0.76 < r["auroc_missense"] < r["auroc"]
    assert r["auroc_missense_with_protein"] > 0.7 and r["auroc_missense_without_protein"] > 0.7
    assert r["baseline_gbm_auroc_missense"] is not None
    assert r["auroc_missense"] >= r["baseline_gbm_auroc_missense"] - 0.01
    cov = r["protein_coverage"]
    assert cov["missense_with_protein"]["model"]["n"] + cov["missense_without_protein"]["model"]["n"] == r["per_class"]["missense"]["model"]["n"]
    assert len(r["per_gene"]) == 20
    assert r["per_class"]["missense"]["model"]["auroc"] > r["per_class"]["missense"]["consequence_rule"]["auroc"]
    assert set(r["per_class"]) >= {"missense", "synonymous", "frameshift", "stop_gained", "intron"}


def test_calibration_error_definition():
    y = np.array([0, 0, 1, 1] * 50, dtype=float)
    assert expected_calibration_error(y, np.full(200, 0.5)) == pytest.approx(0.0)
    assert expected_calibration_error(y, np.where(y == 1, 1.0, 0.0)) == pytest.approx(0.0)
    assert expected_calibration_error(y, np.full(200, 0.9)) == pytest.approx(0.4)


def test_plots_are_png_images(held_out_report, tmp_path):
    import matplotlib.image as mpimg

    paths = save_plots(held_out_report, tmp_path)
    for name in ("roc", "calibration"):
        assert paths[name].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        img = mpimg.imread(paths[name])
        assert img.shape[0] > 300 and img.shape[1] > 300
        assert img.std() > 0.05  # not blank
