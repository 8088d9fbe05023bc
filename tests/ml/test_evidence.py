"""Evidence thresholds (Pejaver et al. 2022): the posterior per level from the Bayesian framework, and the
thresholds recovered on data drawn with a known likelihood ratio."""

from __future__ import annotations

import numpy as np
import pytest

from hcml.ml.evidence import LR_LEVELS, PRIOR, evidence_thresholds, posterior_for, strength


def test_posteriors_of_the_levels_at_the_prior():
    # odds form of Bayes' rule, written out: posterior odds = LR x prior odds
    for lr in LR_LEVELS.values():
        odds = lr * PRIOR / (1 - PRIOR)
        assert posterior_for(lr) == pytest.approx(odds / (1 + odds))
    # Pejaver et al. 2022: supporting ~0.100, moderate ~0.211, strong ~0.608 at prior 0.0441
    assert [round(posterior_for(v), 3) for v in LR_LEVELS.values()] == [0.100, 0.211, 0.607]


def test_thresholds_recovered_from_a_known_likelihood_ratio():
    """Benign scores uniform, pathogenic scores Beta(5, 1): the likelihood ratio at score s is 5 s^4, so LR >= L
    from s >= (L / 5)^(1/4) and LR <= 1/L up to s <= (1 / (5 L))^(1/4), whatever the class shares."""
    rng = np.random.default_rng(3)
    benign = rng.random(20_000)
    pathogenic = rng.random(30_000) ** (1 / 5)
    scores = np.concatenate([benign, pathogenic])
    labels = np.concatenate([np.zeros(len(benign)), np.ones(len(pathogenic))])
    got = evidence_thresholds(scores, labels, seed=1)
    exact_p = {k: (lr / 5) ** 0.25 for k, lr in LR_LEVELS.items()}
    exact_b = {k: (1 / (5 * lr)) ** 0.25 for k, lr in LR_LEVELS.items()}
    sup = got["pathogenic"]["supporting"]["threshold"]
    assert exact_p["supporting"] - 0.02 <= sup <= exact_p["supporting"] + 0.08  # conservative: the lower bound
    assert got["pathogenic"]["moderate"]["threshold"] is None  # 5 s^4 never reaches 5.79
    for level in ("supporting", "moderate", "strong"):
        t = got["benign"][level]["threshold"]
        assert exact_b[level] - 0.08 <= t <= exact_b[level] + 0.02, (level, t, exact_b[level])
        lo, hi = got["benign"][level]["ci95"]
        assert lo <= hi and abs((lo + hi) / 2 - exact_b[level]) < 0.08
    assert strength(0.95, got) == ("pathogenic", "supporting")
    assert strength(0.01, got) == ("benign", "strong")
    assert strength(0.7, got) is None
