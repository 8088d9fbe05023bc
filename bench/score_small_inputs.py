"""The scorer's cost per call by call size: one feature code (`hcml.ml.features.feature_block`) for every size.

Run: POLARS_MAX_THREADS=1 .venv/bin/python bench/score_small_inputs.py [--repeats 300] [--sizes 1,10,32,100,1000]

For each size, a different set of real variants every call -- Ensembl VEP 115's canonical annotations of the
saturation set (data/truth), in the `summarise()` shape the realtime service scores -- is scored with the
bundled model. Prints p50 / p99 process CPU time (`time.process_time`) per call of `scorer.score(summary)`
(features as arrays + forward pass) and of `features_from_summary(summary)` (the feature frame).
"""

from __future__ import annotations

import argparse
import time


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[max(0, min(len(s) - 1, int(round(q / 100 * len(s) + 0.5)) - 1))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=300)
    ap.add_argument("--sizes", default="1,10,32,100,1000")
    args = ap.parse_args()

    import polars as pl

    from hcml.config import reference_data_dir
    from hcml.ml.features import features_from_summary
    from hcml.ml.serving import load_bundled

    scorer = load_bundled()
    vep = pl.read_csv(reference_data_dir() / "truth" / "saturation.vep115.tsv.gz", separator="\t",
                      infer_schema_length=0, null_values=["-"])
    pool = (
        vep.filter(pl.col("CANONICAL") == "YES")
        .select(pl.col("HGVSc").alias("hgvsc"), pl.col("HGVSp").alias("hgvsp"), pl.col("SYMBOL").alias("gene_symbol"),
                pl.col("Consequence").alias("most_severe_consequence"))
        .sample(fraction=1.0, shuffle=True, seed=7)
    )
    scorer.score(pool.head(100))
    features_from_summary(pool.head(100))
    cursor = 0
    print(f"{pool.height} real annotated variants; {args.repeats} calls per size; CPU ms per call (p50 / p99)")
    for size in (int(s) for s in args.sizes.split(",")):
        cpu: dict[str, list[float]] = {"score": [], "features": []}
        for _ in range(args.repeats):
            if cursor + size > pool.height:
                cursor = 0
            summary = pool.slice(cursor, size)
            cursor += size
            c0 = time.process_time()
            scorer.score(summary)
            c1 = time.process_time()
            features_from_summary(summary)
            c2 = time.process_time()
            cpu["score"].append((c1 - c0) * 1e3)
            cpu["features"].append((c2 - c1) * 1e3)
        print(f"{size:>5} variant(s): " + "   ".join(
            f"{what} p50 {pct(v, 50):7.3f} p99 {pct(v, 99):7.3f}" for what, v in cpu.items()))


if __name__ == "__main__":
    main()
