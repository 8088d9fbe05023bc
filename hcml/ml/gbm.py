"""Gradient-boosted trees (scikit-learn's HistGradientBoostingClassifier) and their numpy serving form.

The trees of a fitted classifier are copied into flat arrays (`export_trees`); `raw_score` walks every tree
for every row at once, one level per step, with scikit-learn's own split rule (`x <= threshold` goes left,
a missing value goes where the split sends missing values), so the serving form needs no scikit-learn and
equals `decision_function` to float rounding (tests/ml/test_training.py checks 1e-6 on the probabilities).
"""

from __future__ import annotations

import numpy as np

TREE_ARRAYS = (
    "feature",
    "threshold",
    "left",
    "right",
    "is_leaf",
    "value",
    "missing_left",
    "roots",
    "baseline",
    "depth",
)


PARAMS = {
    "learning_rate": 0.1,
    "max_iter": 200,
    "max_leaf_nodes": 31,
    "min_samples_leaf": 40,
    "l2_regularization": 1.0,
    "early_stopping": False,
}


def fit(x: np.ndarray, y: np.ndarray, seed: int, **params):
    """A HistGradientBoostingClassifier with fixed settings (`PARAMS`: chosen on the validation genes once,
    not per run; no early stopping, whose random hold-out would mix genes across the split)."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from threadpoolctl import threadpool_limits

    # one OpenMP thread: on a shared 2-core machine, spinning worker threads cost more than they give
    with threadpool_limits(limits=1, user_api="openmp"):
        return HistGradientBoostingClassifier(**(PARAMS | {"random_state": seed} | params)).fit(x, y)


def export_trees(model) -> dict[str, np.ndarray]:
    """The fitted trees as flat arrays (node indices global over all trees)."""
    parts: dict[str, list[np.ndarray]] = {
        k: [] for k in ("feature", "threshold", "left", "right", "is_leaf", "value", "missing_left")
    }
    roots, depth, offset = [], 0, 0
    for (predictor,) in model._predictors:
        nodes = predictor.nodes
        if nodes["is_categorical"].any():
            raise ValueError("categorical splits are not exported")
        roots.append(offset)
        parts["feature"].append(nodes["feature_idx"].astype(np.int64))
        parts["threshold"].append(nodes["num_threshold"].astype(np.float64))
        parts["left"].append(nodes["left"].astype(np.int64) + offset)
        parts["right"].append(nodes["right"].astype(np.int64) + offset)
        parts["is_leaf"].append(nodes["is_leaf"].astype(bool))
        parts["value"].append(nodes["value"].astype(np.float64))
        parts["missing_left"].append(nodes["missing_go_to_left"].astype(bool))
        depth = max(depth, int(nodes["depth"].max()))
        offset += len(nodes)
    out = {k: np.concatenate(v) for k, v in parts.items()}
    out["roots"] = np.array(roots, np.int64)
    out["baseline"] = np.asarray(model._baseline_prediction, np.float64).reshape(1)
    out["depth"] = np.array([depth], np.int64)
    return out


def raw_score(trees: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """Sum of the trees' leaf values plus the baseline (the classifier's decision_function), per row."""
    x = np.asarray(x, np.float64)
    n = len(x)
    node = np.broadcast_to(trees["roots"], (n, len(trees["roots"]))).copy()
    rows = np.arange(n)[:, None]
    feature, threshold, left, right = trees["feature"], trees["threshold"], trees["left"], trees["right"]
    is_leaf, missing_left = trees["is_leaf"], trees["missing_left"]
    for _ in range(int(trees["depth"][0])):
        leaf = is_leaf[node]
        if leaf.all():
            break
        value = x[rows, feature[node]]
        go_left = np.where(np.isnan(value), missing_left[node], value <= threshold[node])
        node = np.where(leaf, node, np.where(go_left, left[node], right[node]))
    return trees["value"][node].sum(axis=1) + trees["baseline"][0]
