"""The promotion rule: a candidate replaces the champion only if it is at least as good on the same
held-out genes. Used by the blocking Dagster asset check and by `hcml model promote`."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import polars as pl

from hcml.ml.evaluation import metrics
from hcml.ml.model import ExportedModel

ECE_LIMIT = 0.03  # the calibration target, overall and on missense; a candidate above it never wins unless the champion is worse
AUROC_TOLERANCE = 1e-9


@dataclass
class Comparison:
    passed: bool
    reason: str
    candidate_version: str
    champion_version: str | None
    candidate: dict[str, Any]
    champion: dict[str, Any] | None
    n_test: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _figures(model: ExportedModel, test: pl.DataFrame, y: np.ndarray) -> dict[str, Any]:
    p = model.score_features(test)
    missense = test["consequence_class"].to_numpy() == "missense"
    m = metrics(y, p)
    mis = metrics(y[missense], p[missense])
    return m | {"auroc_missense": mis["auroc"], "ece_missense": mis["ece"]}


def compare(candidate: ExportedModel, champion: ExportedModel | None, training_set: pl.DataFrame) -> Comparison:
    """Score both models on split=='test' of this training set (the same rows) and apply the rule: the
    candidate's AUROC overall and on missense at least the champion's, its ECE overall and on missense at most
    max(ECE_LIMIT, the champion's). With no champion: both ECEs within ECE_LIMIT."""
    test = training_set.filter(pl.col("split") == "test")
    y = test["label"].to_numpy().astype(np.float64)
    cand = _figures(candidate, test, y)
    calibration = f"candidate ECE {cand['ece']:.4f}, missense {cand['ece_missense']:.4f}"
    if champion is None:
        ok = bool(cand["ece"] <= ECE_LIMIT and cand["ece_missense"] <= ECE_LIMIT)
        reason = f"no champion yet; {calibration} " + ("within" if ok else "above") + f" ECE limit {ECE_LIMIT}"
        return Comparison(ok, reason, candidate.model_version, None, cand, None, len(y))
    champ = _figures(champion, test, y)
    better_auroc = cand["auroc"] >= champ["auroc"] - AUROC_TOLERANCE
    better_missense = (
        champ["auroc_missense"] is None or cand["auroc_missense"] >= champ["auroc_missense"] - AUROC_TOLERANCE
    )
    calibrated = cand["ece"] <= max(ECE_LIMIT, champ["ece"]) and cand["ece_missense"] <= max(
        ECE_LIMIT, champ["ece_missense"]
    )
    ok = bool(better_auroc and better_missense and calibrated)
    reason = (
        f"candidate AUROC {cand['auroc']:.4f} vs champion {champ['auroc']:.4f}; missense "
        f"{cand['auroc_missense']:.4f} vs {champ['auroc_missense']:.4f}; {calibration} "
        f"(limits max({ECE_LIMIT}, champion {champ['ece']:.4f} / {champ['ece_missense']:.4f}))"
    )
    return Comparison(ok, reason, candidate.model_version, champion.model_version, cand, champ, len(y))
