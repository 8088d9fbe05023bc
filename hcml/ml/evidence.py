"""Score thresholds at which the score is ACMG/AMP evidence (PP3 / BP4) of a given strength.

The method of Pejaver et al. 2022 (ClinGen SVI, "Calibration of computational tools for missense variant
pathogenicity classification and ClinGen recommendations for PP3/BP4 criteria", AJHG 109:2163):
- a prior probability of pathogenicity for a rare missense variant, `PRIOR` = 0.0441 (their estimate);
- the positive likelihood ratios that the Bayesian ACMG framework (Tavtigian et al. 2018) gives each strength
  at that prior, `LR_LEVELS`: supporting 2.406, moderate 5.790, strong 33.53 (benign: their reciprocals);
- the local posterior probability of pathogenicity at score s, from the labelled variants whose scores are
  nearest s, each class re-weighted so that the data's pathogenic share becomes the prior;
- a pathogenic threshold is the lowest score from which on (all higher scores too) the one-sided 95 %
  bootstrap lower bound of the local posterior reaches the level's posterior; a benign threshold the highest
  score up to which the 95 % upper bound stays at or below the benign level's posterior.
Our choices, stated: the local window is the `WINDOW_SHARE` of variants nearest in score (at least
`MIN_WINDOW`), 200 grid points (score quantiles), `BOOTSTRAP` resamples; `ci95` is the 2.5-97.5 % range of the
threshold computed on each resample's own curve. Computed on gene-held-out missense predictions.
"""

from __future__ import annotations

from typing import Any

import numpy as np

PRIOR = 0.0441
LR_LEVELS = {"supporting": 2.406, "moderate": 5.790, "strong": 33.53}
WINDOW_SHARE = 0.05
MIN_WINDOW = 100
GRID = 200
BOOTSTRAP = 200
SOURCE = (
    "Pejaver et al. 2022, AJHG 109:2163 (ClinGen calibration of computational predictors, PP3/BP4); "
    "prior 0.0441; LR+ supporting 2.406, moderate 5.790, strong 33.53"
)


def posterior_for(lr: float, prior: float = PRIOR) -> float:
    """Posterior probability of pathogenicity for likelihood ratio `lr` at `prior`."""
    odds = lr * prior / (1 - prior)
    return odds / (1 + odds)


def local_posterior(scores: np.ndarray, labels: np.ndarray, grid: np.ndarray, prior: float = PRIOR) -> np.ndarray:
    """At each grid score: the prior-reweighted pathogenic share of the variants nearest in score."""
    order = np.argsort(scores, kind="stable")
    s, y = scores[order], labels[order].astype(np.float64)
    n = len(s)
    k = max(MIN_WINDOW, int(WINDOW_SHARE * n))
    k = min(k, n)
    share = y.mean()
    w_path, w_benign = prior / share, (1 - prior) / (1 - share)
    cum = np.concatenate([[0.0], np.cumsum(y)])
    centre = np.searchsorted(s, grid)
    lo = np.clip(centre - k // 2, 0, n - k)
    hi = lo + k
    path = cum[hi] - cum[lo]
    benign = k - path
    return w_path * path / (w_path * path + w_benign * benign)


def _pathogenic_threshold(grid: np.ndarray, bound: np.ndarray, target: float) -> float | None:
    """Lowest grid score from which every higher one reaches `target`."""
    ok = bound >= target
    if not ok[-1]:
        return None
    first_bad_from_top = np.flatnonzero(~ok)
    start = first_bad_from_top[-1] + 1 if len(first_bad_from_top) else 0
    return float(grid[start])


def _benign_threshold(grid: np.ndarray, bound: np.ndarray, target: float) -> float | None:
    """Highest grid score up to which every lower one stays at or below `target`."""
    ok = bound <= target
    if not ok[0]:
        return None
    bad = np.flatnonzero(~ok)
    end = bad[0] - 1 if len(bad) else len(grid) - 1
    return float(grid[end])


def evidence_thresholds(scores: np.ndarray, labels: np.ndarray, seed: int = 17) -> dict[str, Any]:
    """The thresholds per direction and strength, with bootstrap intervals (see the module docstring)."""
    scores = np.asarray(scores, np.float64)
    labels = np.asarray(labels, np.float64)
    grid = np.quantile(scores, np.linspace(0.005, 0.995, GRID))
    rng = np.random.default_rng(seed)
    curves = np.empty((BOOTSTRAP, GRID))
    for b in range(BOOTSTRAP):
        pick = rng.integers(0, len(scores), len(scores))
        curves[b] = local_posterior(scores[pick], labels[pick], grid)
    lower = np.quantile(curves, 0.05, axis=0)
    upper = np.quantile(curves, 0.95, axis=0)
    out: dict[str, Any] = {
        "prior": PRIOR,
        "source": SOURCE,
        "n_variants": int(len(scores)),
        "n_pathogenic": int(labels.sum()),
        "window_share": WINDOW_SHARE,
        "bootstrap": BOOTSTRAP,
        "pathogenic": {},
        "benign": {},
    }
    for level, lr in LR_LEVELS.items():
        p_target, b_target = posterior_for(lr), posterior_for(1 / lr)
        path_each = [_pathogenic_threshold(grid, c, p_target) for c in curves]
        benign_each = [_benign_threshold(grid, c, b_target) for c in curves]
        out["pathogenic"][level] = {
            "likelihood_ratio": lr,
            "posterior": p_target,
            "threshold": _pathogenic_threshold(grid, lower, p_target),
            "ci95": _interval(path_each),
        }
        out["benign"][level] = {
            "likelihood_ratio": 1 / lr,
            "posterior": b_target,
            "threshold": _benign_threshold(grid, upper, b_target),
            "ci95": _interval(benign_each),
        }
    return out


def _interval(values: list[float | None]) -> list[float] | None:
    got = [v for v in values if v is not None]
    if len(got) < len(values) / 2:
        return None
    return [float(np.quantile(got, 0.025)), float(np.quantile(got, 0.975))]


def strength(score: float, thresholds: dict[str, Any]) -> tuple[str, str] | None:
    """(direction, strongest level) the score reaches, e.g. ("pathogenic", "moderate"); None: no evidence."""
    for direction, reached in (("pathogenic", lambda t: score >= t), ("benign", lambda t: score <= t)):
        for level in ("strong", "moderate", "supporting"):
            t = thresholds.get(direction, {}).get(level, {}).get("threshold")
            if t is not None and reached(t):
                return direction, level
    return None


INFO_KEY = "evidence_thresholds"  # the model's info key (spec.json, MLflow) holding `evidence_thresholds(...)`
LEVELS = ("supporting", "moderate", "strong", "very_strong")


def model_thresholds(model) -> dict[str, dict[str, float]] | None:
    """The one reader of a model's calibrated PP3/BP4 thresholds (`model.info[INFO_KEY]`, as
    `evidence_thresholds` computes it, or flat {side: {level: score}}), normalised to
    {"pathogenic": {level: score}, "benign": {level: score}} with the levels never reached left out; None when
    the model carries none (PP3/BP4 are then not evaluated, never invented). hcml.acmg, the clinical report,
    the API and `ExportedModel.score_thresholds` all read them here."""
    info = getattr(model, "info", None)
    raw = info.get(INFO_KEY) if isinstance(info, dict) else None
    if not isinstance(raw, dict):
        return None
    return _normalised(raw)


def _normalised(raw: dict) -> dict[str, dict[str, float]] | None:
    out: dict[str, dict[str, float]] = {}
    for side in ("pathogenic", "benign"):
        levels = raw.get(side)
        if not isinstance(levels, dict):
            continue
        got = {}
        for level, value in levels.items():
            cut = value.get("threshold") if isinstance(value, dict) else value
            if str(level).lower() in LEVELS and isinstance(cut, (int, float)) and not isinstance(cut, bool):
                got[str(level).lower()] = float(cut)
        if got:
            out[side] = got
    return out or None
