"""Gene-held-out evaluation: metrics overall, per consequence class, per protein-sequence coverage and per
gene; three baselines; evidence thresholds; plots.

The test genes never appear in training or calibration (hcml.ml.data's gene hash). Baselines:
- consequence rule: a variant's score is the pathogenic rate of its consequence class in the training genes;
- logistic regression on exactly the model's feature matrix (same gene statistics, same standardisation);
- gradient-boosted trees (hcml.ml.gbm, scikit-learn) trained on the same matrix by the same training code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, average_precision_score, brier_score_loss, roc_auc_score, roc_curve

from hcml.ml.evidence import evidence_thresholds
from hcml.ml.features import feature_matrix
from hcml.ml.genes import apply_gene_table, out_of_fold_gene_features
from hcml.ml.model import ExportedModel

TOP_GENES = 20

ECE_BINS = 10
MIN_CLASS_ROWS = 30  # per-class figures only where both labels are present and the class is not tiny


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = ECE_BINS) -> float:
    """Weighted mean |observed rate - mean predicted| over equal-width probability bins."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    idx = np.clip(np.digitize(p, edges[1:-1], right=False), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            ece += m.mean() * abs(float(y[m].mean()) - float(p[m].mean()))
    return float(ece)


def metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float | None]:
    both = len(np.unique(y)) == 2
    return {
        "n": int(len(y)),
        "positive_rate": float(y.mean()) if len(y) else None,
        "auroc": float(roc_auc_score(y, p)) if both else None,
        "auprc": float(average_precision_score(y, p)) if both else None,
        "accuracy": float(accuracy_score(y, p >= 0.5)) if len(y) else None,
        "brier": float(brier_score_loss(y, p)) if len(y) else None,
        "ece": expected_calibration_error(y, p) if len(y) else None,
    }


def consequence_rule(train: pl.DataFrame) -> dict[str, float]:
    """Pathogenic rate per consequence class in the training genes."""
    rates = train.group_by("consequence_class").agg(pl.col("label").mean())
    return dict(zip(rates["consequence_class"].to_list(), rates["label"].to_list(), strict=True))


def _rule_scores(rule: dict[str, float], frame: pl.DataFrame, prior: float) -> np.ndarray:
    return frame["consequence_class"].replace_strict(rule, default=prior, return_dtype=pl.Float64).to_numpy()


def _gbm_baseline(training_set: pl.DataFrame, model: ExportedModel, seed: int) -> ExportedModel:
    """The gradient-boosted trees of the training code on this training set (reused when `model` is one)."""
    if model.kind == "gbm" and model.feature_names == _training_features():
        return model
    from hcml.ml.training import TrainConfig, train_model

    return train_model(training_set, TrainConfig(seed=seed, kinds=("gbm",))).exported


def _training_features() -> list[str]:
    from hcml.ml.training import FEATURE_NAMES

    return list(FEATURE_NAMES)


def evaluate(
    model: ExportedModel, training_set: pl.DataFrame, seed: int = 17, gbm_baseline: ExportedModel | None = None
) -> dict[str, Any]:
    """All figures on split=='test' for `model`, and the baselines fitted on split=='train'."""
    train = training_set.filter(pl.col("split") == "train")
    test = training_set.filter(pl.col("split") == "test")
    y_test = test["label"].to_numpy().astype(np.float64)
    p_model = model.score_features(test)

    y_train = train["label"].to_numpy().astype(np.float64)
    rule = consequence_rule(train)
    prior = float(y_train.mean())
    p_rule = _rule_scores(rule, test, prior)

    train_f, table, priors = out_of_fold_gene_features(train, y_train.astype(np.float32), seed)
    fill = model.fill if model.fill is not None else 0.0
    x_train = feature_matrix(train_f, model.feature_names)
    x_train = np.where(np.isnan(x_train), fill, x_train)
    x_test = feature_matrix(apply_gene_table(test, table, priors), model.feature_names)
    x_test = np.where(np.isnan(x_test), fill, x_test)
    mean, std = x_train.mean(axis=0), x_train.std(axis=0)
    std[std < 1e-6] = 1.0
    logreg = LogisticRegression(max_iter=2000, C=1.0)
    logreg.fit((x_train - mean) / std, y_train)
    p_logreg = logreg.predict_proba((x_test - mean) / std)[:, 1]

    gbm_model = gbm_baseline or _gbm_baseline(training_set, model, seed)
    p_gbm = gbm_model.score_features(test)
    classes = test["consequence_class"].to_numpy()
    missense_rows = classes == "missense"
    with_protein = (
        ~np.isnan(test["log_protein_length"].to_numpy())
        if "log_protein_length" in test.columns
        else np.zeros(len(y_test), bool)
    )
    per_class = {}
    for c in sorted(set(classes.tolist())):
        m = classes == c
        if m.sum() >= MIN_CLASS_ROWS:
            per_class[c] = {
                "model": metrics(y_test[m], p_model[m]),
                "logistic_regression": metrics(y_test[m], p_logreg[m]),
                "consequence_rule": metrics(y_test[m], p_rule[m]),
                "gradient_boosting": metrics(y_test[m], p_gbm[m]),
            }
    coverage = {}
    for name, rows in (("all", np.ones(len(y_test), bool)), ("missense", missense_rows)):
        for has, mask in (("with_protein", rows & with_protein), ("without_protein", rows & ~with_protein)):
            coverage[f"{name}_{has}"] = {
                "model": metrics(y_test[mask], p_model[mask]),
                "gradient_boosting": metrics(y_test[mask], p_gbm[mask]),
            }
    genes = test["symbol"].to_numpy()
    top = test.group_by("symbol").len().sort(["len", "symbol"], descending=[True, False]).head(TOP_GENES)
    per_gene = {g: metrics(y_test[genes == g], p_model[genes == g]) for g in top["symbol"].to_list()}
    overall = metrics(y_test, p_model)
    missense = per_class.get("missense", {}).get("model", {})
    report = {
        "model_name": model.model_name,
        "model_version": model.model_version,
        "test_genes": int(test["symbol"].n_unique()),
        "train_genes": int(train["symbol"].n_unique()),
        "genes_in_both": int(len(set(test["symbol"].to_list()) & set(train["symbol"].to_list()))),
        "auroc": overall["auroc"],
        "auprc": overall["auprc"],
        "accuracy": overall["accuracy"],
        "brier": overall["brier"],
        "ece": overall["ece"],
        "auroc_missense": missense.get("auroc"),
        "ece_missense": missense.get("ece"),
        "baseline_auroc": metrics(y_test, p_logreg)["auroc"],
        "baseline_rule_auroc": metrics(y_test, p_rule)["auroc"],
        "auroc_missense_with_protein": coverage["missense_with_protein"]["model"]["auroc"],
        "auroc_missense_without_protein": coverage["missense_without_protein"]["model"]["auroc"],
        "baseline_gbm_auroc": metrics(y_test, p_gbm)["auroc"],
        "baseline_gbm_auroc_missense": metrics(y_test[missense_rows], p_gbm[missense_rows])["auroc"],
        "model_kind": model.kind,
        "evidence_thresholds": evidence_thresholds(p_model[missense_rows], y_test[missense_rows], seed=seed),
        "protein_coverage": coverage,
        "per_gene": per_gene,
        "overall": {
            "model": overall,
            "logistic_regression": metrics(y_test, p_logreg),
            "consequence_rule": metrics(y_test, p_rule),
            "gradient_boosting": metrics(y_test, p_gbm),
        },
        "per_class": per_class,
        "_curves": {
            "y": y_test,
            "model": p_model,
            "logistic_regression": p_logreg,
            "consequence_rule": p_rule,
            "gradient_boosting": p_gbm,
            "missense": missense_rows,
        },
    }
    # the issue's `baseline_auroc`: the stronger of the two baselines
    report["baseline_auroc"] = max(report["baseline_auroc"] or 0.0, report["baseline_rule_auroc"] or 0.0)
    return report


def public(report: dict[str, Any]) -> dict[str, Any]:
    """The report without the raw curves (JSON-serialisable)."""
    return {k: v for k, v in report.items() if not k.startswith("_")}


def save_plots(report: dict[str, Any], out_dir: Path) -> dict[str, Path]:
    """ROC curves (all, missense) and a reliability diagram, as PNG files."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    curves = report["_curves"]
    y = curves["y"]
    paths: dict[str, Path] = {}

    fig, axes = plt.subplots(1, 2, figsize=(10, 4.5))
    for ax, mask, title in (
        (axes[0], np.ones_like(y, dtype=bool), "all variants"),
        (axes[1], curves["missense"], "missense only"),
    ):
        for name in ("model", "gradient_boosting", "logistic_regression", "consequence_rule"):
            if name not in curves or len(np.unique(y[mask])) < 2:
                continue
            fpr, tpr, _ = roc_curve(y[mask], curves[name][mask])
            auc = roc_auc_score(y[mask], curves[name][mask])
            ax.plot(fpr, tpr, label=f"{name} (AUROC {auc:.3f})")
        ax.plot([0, 1], [0, 1], "k:", lw=0.8)
        ax.set_xlabel("false positive rate")
        ax.set_ylabel("true positive rate")
        ax.set_title(f"ROC, held-out genes, {title}")
        ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    paths["roc"] = out_dir / "roc.png"
    fig.savefig(paths["roc"], dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5, 5))
    edges = np.linspace(0, 1, ECE_BINS + 1)
    for name in ("model", "logistic_regression"):
        p = curves[name]
        idx = np.clip(np.digitize(p, edges[1:-1]), 0, ECE_BINS - 1)
        xs = [p[idx == b].mean() for b in range(ECE_BINS) if (idx == b).any()]
        ys = [y[idx == b].mean() for b in range(ECE_BINS) if (idx == b).any()]
        ax.plot(xs, ys, "o-", label=f"{name} (ECE {expected_calibration_error(y, p):.3f})")
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax.set_xlabel("mean predicted probability")
    ax.set_ylabel("observed pathogenic fraction")
    ax.set_title("Calibration, held-out genes")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    paths["calibration"] = out_dir / "calibration.png"
    fig.savefig(paths["calibration"], dpi=100)
    plt.close(fig)
    return paths
