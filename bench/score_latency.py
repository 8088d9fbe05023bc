"""Serving-form latency: load time of the scorer and time to score 1,000 real variants on the CPU.

Run: .venv/bin/python bench/score_latency.py [--model-dir DIR] [--n 1000] [--repeat 50]

The 1,000 variants are Ensembl VEP 115's own annotations of real saturation variants (data/truth), in the
`summarise()` shape the realtime service scores. Prints median and p95 over repeats for: the full
`score(summary)` (HGVS parsing + gene statistics + numpy forward pass) and the forward pass alone.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

T0 = time.perf_counter()
from hcml.ml.serving import load_scorer, model_dir  # noqa: E402

IMPORT_S = time.perf_counter() - T0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model-dir", type=Path, help="exported model directory (default: HCML_MODEL_DIR / bundled)")
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=50)
    args = ap.parse_args()
    import os

    if args.model_dir:
        os.environ["HCML_MODEL_DIR"] = str(args.model_dir)
    os.environ.pop("HCML_MLFLOW_TRACKING_URI", None)

    loads = []
    for _ in range(5):
        t = time.perf_counter()
        scorer = load_scorer()
        loads.append(time.perf_counter() - t)

    import polars as pl

    from hcml.config import reference_data_dir
    from hcml.ml.features import features_from_summary

    vep = pl.read_csv(reference_data_dir() / "truth" / "saturation.vep115.tsv.gz", separator="\t", infer_schema_length=0, null_values=["-"])
    vep = vep.filter(pl.col("CANONICAL") == "YES").sample(args.n, seed=1, with_replacement=False)
    summary = vep.select(
        pl.col("HGVSc").alias("hgvsc"), pl.col("HGVSp").alias("hgvsp"), pl.col("SYMBOL").alias("gene_symbol"),
        pl.col("Consequence").alias("most_severe_consequence"),
    )
    x = scorer.matrix(features_from_summary(summary))
    scorer.score(summary)  # warm-up
    full, forward = [], []
    for _ in range(args.repeat):
        t = time.perf_counter()
        scorer.score(summary)
        full.append(time.perf_counter() - t)
        t = time.perf_counter()
        scorer.predict_matrix(x)
        forward.append(time.perf_counter() - t)

    def ms(v: list[float]) -> str:
        v = sorted(v)
        return f"median {statistics.median(v) * 1e3:.2f} ms, p95 {v[int(0.95 * (len(v) - 1))] * 1e3:.2f} ms"

    print(f"model: {scorer.model_name} {scorer.model_version} from {model_dir()}")
    print(f"import hcml.ml.serving: {IMPORT_S * 1e3:.0f} ms (polars, numpy, structlog; no torch/mlflow/dagster)")
    print(f"load_scorer(): first {loads[0] * 1e3:.1f} ms, median {statistics.median(loads) * 1e3:.1f} ms")
    print(f"score {args.n} variants (HGVS features + gene stats + forward): {ms(full)}")
    print(f"forward pass only, {args.n} x {x.shape[1]} features: {ms(forward)}")


if __name__ == "__main__":
    main()
