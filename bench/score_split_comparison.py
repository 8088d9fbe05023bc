"""Gene-held-out vs random split: the same pipeline trained and evaluated twice, only the split differs.

Run: .venv/bin/python bench/score_split_comparison.py [--seed 17]

A random split puts variants of the same gene on both sides, so the gene statistics (and the gene's
label mix) leak into the test figures; the gap between the two AUROCs is the size of that leak and the
reason the platform reports gene-held-out figures only. Also prints the training time on this CPU.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import polars as pl


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=17)
    args = ap.parse_args()

    from hcml.ml.data import TEST_FRACTION, VALIDATION_FRACTION, clinvar_labels
    from hcml.ml.evaluation import evaluate
    from hcml.ml.training import TrainConfig, build_training_set, train_model

    ts = build_training_set(clinvar_labels())
    cfg = TrainConfig(seed=args.seed)
    rows = []
    for name, frame in (
        ("gene-held-out", ts),
        ("random (leaky)", ts.with_columns(
            pl.Series("split", np.random.default_rng(args.seed).choice(
                ["test", "validation", "train"], size=ts.height,
                p=[TEST_FRACTION, VALIDATION_FRACTION, 1 - TEST_FRACTION - VALIDATION_FRACTION])))),
    ):
        t = time.perf_counter()
        trained = train_model(frame, cfg)
        train_s = time.perf_counter() - t
        r = evaluate(trained.exported, frame, seed=args.seed, gbm_baseline=trained.candidates.get("gbm"))
        rows.append((name, r["auroc"], r["auroc_missense"], r["ece"], r["baseline_auroc"], r["genes_in_both"], train_s))
    print(f"{'split':<16} {'AUROC':>7} {'missense':>9} {'ECE':>7} {'best baseline':>14} {'genes in both':>14} {'train s':>8}")
    for name, auroc, mis, ece, base, both, secs in rows:
        print(f"{name:<16} {auroc:7.4f} {mis:9.4f} {ece:7.4f} {base:14.4f} {both:14d} {secs:8.1f}")


if __name__ == "__main__":
    main()
