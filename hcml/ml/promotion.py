"""The promotion rule: a candidate replaces the champion only if it is at least as good on the same
held-out genes. Used by the blocking Dagster asset check and by `hcml model promote`."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import polars as pl

from hcml.ml.evaluation import metrics
from hcml.ml.model import ExportedModel

ECE_LIMIT = 0.05  # the calibration target; a candidate above it never wins unless the champion is worse
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


def compare(candidate: ExportedModel, champion: ExportedModel | None, training_set: pl.DataFrame) -> Comparison:
    """Score both models on split=='test' of this training set (the same rows) and apply the rule."""
    test = training_set.filter(pl.col("split") == "test")
    y = test["label"].to_numpy().astype(np.float64)
    cand = metrics(y, candidate.score_features(test))
    if champion is None:
        ok = cand["ece"] is not None and cand["ece"] <= ECE_LIMIT
        reason = "no champion yet; candidate calibration " + ("within" if ok else "above") + f" ECE limit {ECE_LIMIT}"
        return Comparison(ok, reason, candidate.model_version, None, cand, None, len(y))
    champ = metrics(y, champion.score_features(test))
    better_auroc = cand["auroc"] >= champ["auroc"] - AUROC_TOLERANCE
    calibrated = cand["ece"] <= max(ECE_LIMIT, champ["ece"])
    ok = bool(better_auroc and calibrated)
    reason = (
        f"candidate AUROC {cand['auroc']:.4f} vs champion {champ['auroc']:.4f}; "
        f"candidate ECE {cand['ece']:.4f} (limit max({ECE_LIMIT}, champion {champ['ece']:.4f}))"
    )
    return Comparison(ok, reason, candidate.model_version, champion.model_version, cand, champ, len(y))
