"""The scorer's fixed cost per call for small inputs: the vectorised (polars) form against the row-by-row twin.

Run: POLARS_MAX_THREADS=1 .venv/bin/python bench/score_small_inputs.py [--repeats 300] [--sizes 1,10,32,100]

For each size, a different set of real variants every call -- Ensembl VEP 115's canonical annotations of the
saturation set (data/truth), in the `summarise()` shape the realtime service scores -- is scored with the
bundled model under `forced("vectorised")` and `forced("small")`, alternating call by call in the same process
(so both see the same machine load). Prints p50 / p99 process CPU time (`time.process_time`) per call of
`scorer.score(summary)` and of `features_from_summary(summary)` (the feature frame), and checks every call's
scores and frames are identical between the two forms.
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
    ap.add_argument("--sizes", default="1,10,32,100")
    args = ap.parse_args()

    import numpy as np
    import polars as pl
    from polars.testing import assert_frame_equal

    from hcml.config import reference_data_dir
    from hcml.ml.features import features_from_summary
    from hcml.ml.serving import load_bundled
    from hcml.small_inputs import forced

    scorer = load_bundled()
    vep = pl.read_csv(reference_data_dir() / "truth" / "saturation.vep115.tsv.gz", separator="\t",
                      infer_schema_length=0, null_values=["-"])
    pool = (
        vep.filter(pl.col("CANONICAL") == "YES")
        .select(pl.col("HGVSc").alias("hgvsc"), pl.col("HGVSp").alias("hgvsp"), pl.col("SYMBOL").alias("gene_symbol"),
                pl.col("Consequence").alias("most_severe_consequence"))
        .sample(fraction=1.0, shuffle=True, seed=7)
    )
    for path in ("vectorised", "small"):  # warm both
        with forced(path):
            scorer.score(pool.head(100))
            features_from_summary(pool.head(100))
    cursor = 0
    print(f"{pool.height} real annotated variants; {args.repeats} calls per size and form; CPU ms per call "
          f"(p50 / p99), vectorised -> small")
    for size in (int(s) for s in args.sizes.split(",")):
        cpu = {(what, path): [] for what in ("score", "features") for path in ("vectorised", "small")}
        for _ in range(args.repeats):
            if cursor + size > pool.height:
                cursor = 0
            summary = pool.slice(cursor, size)
            cursor += size
            out = {}
            for path in ("vectorised", "small"):
                with forced(path):
                    c0 = time.process_time()
                    scores = scorer.score(summary)
                    c1 = time.process_time()
                    frame = features_from_summary(summary)
                    c2 = time.process_time()
                cpu[("score", path)].append((c1 - c0) * 1e3)
                cpu[("features", path)].append((c2 - c1) * 1e3)
                out[path] = (scores, frame)
            np.testing.assert_array_equal(out["small"][0], out["vectorised"][0])
            assert_frame_equal(out["small"][1], out["vectorised"][1], check_exact=True)
        print(f"\n{size} variant(s) per call")
        for what in ("score", "features"):
            v, s = cpu[(what, "vectorised")], cpu[(what, "small")]
            print(f"  {what:<9} p50 {pct(v, 50):6.3f} -> {pct(s, 50):6.3f}   p99 {pct(v, 99):6.3f} -> {pct(s, 99):6.3f}")
    print("\nscores and feature frames identical in every call")


if __name__ == "__main__":
    main()
