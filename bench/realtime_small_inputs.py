"""Micro-benchmark of the realtime clinical path's fixed per-call cost, in process, stage by stage.

    .venv/bin/python bench/realtime_small_inputs.py [--repeats 200] [--sizes 1,10,100] [--profile N]
                                                    [--check FILE]

For 1, 10 and 100 distinct real variants per call (a different set every call: the cache-miss path),
taken from data/ -- SNVs and indels of data/truth/saturation.vcf.gz, HG00096's calls and the ClinVar
sample (so known-variant and ClinVar hits are exercised) -- it times each stage of `hcml.interpret`:
parse (`parse_variant_strings`) -> annotate -> summarise -> score (the bundled model), and the whole
`interpret` call, reporting p50 / p99 of CPU time (`time.process_time`: polars runs joins on its own thread pool, which a thread clock would miss) and wall time per stage. CPU time
is the figure to quote on a shared, loaded machine. `--profile N` prints the top N cProfile entries of the
1-variant loop. `--check FILE` writes every call's outputs to FILE (parquet) the first time and compares
them with FILE afterwards (outputs must not change when the code gets faster).
"""

from __future__ import annotations

import argparse
import gzip
import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def real_variants() -> list[str]:
    """Distinct real variants as 'chrom-pos-ref-alt' strings, shuffled with a fixed seed."""
    out: set[str] = set()
    files = [REPO / "data" / "truth" / "saturation.vcf.gz", REPO / "data" / "samples" / "HG00096_chr21_region.vcf",
             REPO / "data" / "samples" / "clinvar2016_chr21_region.vcf"]
    for f in files:
        opener = gzip.open if f.suffix == ".gz" else open
        with opener(f, "rt") as fh:
            for line in fh:
                if line.startswith("#"):
                    continue
                c = line.split("\t", 5)
                for alt in c[4].split(","):
                    if alt not in (".", "*") and set(c[3] + alt) <= set("ACGT"):
                        out.add(f"{c[0]}-{c[1]}-{c[3]}-{alt}")
    items = sorted(out)
    random.Random(11).shuffle(items)
    return items


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[max(0, min(len(s) - 1, int(round(q / 100 * len(s) + 0.5)) - 1))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=200, help="calls per size (each with new variants)")
    ap.add_argument("--sizes", default="1,10,100")
    ap.add_argument("--profile", type=int, default=0)
    ap.add_argument("--check", type=Path, default=None)
    args = ap.parse_args()

    import polars as pl

    from bench.realtime_startup import ensure_bundle
    from hcml.genomics.annotate import annotate, summarise
    from hcml.genomics.bundle import ReferenceBundle
    from hcml.genomics.inputs import parse_variant_strings
    from hcml.interpret import interpret
    from hcml.ml.serving import load_bundled

    bundle = ReferenceBundle.load(ensure_bundle(None))
    scorer = load_bundled()
    pool = real_variants()
    sizes = [int(s) for s in args.sizes.split(",")]
    # warm: every lazy index of the bundle, imports, the scorer
    interpret(parse_variant_strings(pool[:100], bundle), bundle, scorer)

    cursor = 0

    def take(n: int) -> list[str]:
        nonlocal cursor
        if cursor + n > len(pool):
            cursor = 0
        cursor += n
        return pool[cursor - n: cursor]

    stages = ("parse", "annotate", "summarise", "score", "interpret")
    outputs: list[pl.DataFrame] = []
    print(f"{len(pool)} distinct real variants; {args.repeats} calls per size; times per call in ms "
          f"(cpu = process CPU time, wall = perf_counter)")
    for size in sizes:
        cpu = {s: [] for s in stages}
        wall = {s: [] for s in stages}
        for _ in range(args.repeats):
            items = take(size)
            c0, w0 = time.process_time(), time.perf_counter()
            parsed = parse_variant_strings(items, bundle)
            c1, w1 = time.process_time(), time.perf_counter()
            ann = annotate(parsed.variants, bundle)
            c2, w2 = time.process_time(), time.perf_counter()
            summ = summarise(ann)
            c3, w3 = time.process_time(), time.perf_counter()
            scores = scorer.score(summ)
            c4, w4 = time.process_time(), time.perf_counter()
            whole = interpret(parsed, bundle, scorer)
            c5, w5 = time.process_time(), time.perf_counter()
            for s, (ca, cb, wa, wb) in zip(stages, [(c0, c1, w0, w1), (c1, c2, w1, w2), (c2, c3, w2, w3),
                                                    (c3, c4, w3, w4), (c4, c5, w4, w5)]):
                cpu[s].append((cb - ca) * 1e3)
                wall[s].append((wb - wa) * 1e3)
            if args.check is not None:
                outputs.append(whole.summary.with_columns(pl.lit(f"{size}:{len(outputs)}").alias("_call")))
                outputs.append(whole.annotations.with_columns(pl.lit(f"{size}:{len(outputs)}").alias("_call"),
                                                              pl.lit(None, pl.Float64).alias("_score")))
                outputs.append(summ.with_columns(pl.lit(f"{size}:{len(outputs)}").alias("_call"),
                                                 pl.Series("_score", scores, dtype=pl.Float64)))
        print(f"\n{size} variant(s) per call")
        for s in stages:
            print(f"  {s:<10} cpu p50 {pct(cpu[s], 50):7.2f}  p99 {pct(cpu[s], 99):7.2f}   "
                  f"wall p50 {pct(wall[s], 50):7.2f}  p99 {pct(wall[s], 99):7.2f}")
        parts = sum(pct(cpu[s], 50) for s in stages[:4])
        print(f"  {'sum p50':<10} cpu {parts:7.2f}")

    if args.profile:
        import cProfile
        import pstats

        pr = cProfile.Profile()
        pr.enable()
        for _ in range(args.repeats):
            interpret(parse_variant_strings(take(1), bundle), bundle, scorer)
        pr.disable()
        pstats.Stats(pr).sort_stats("cumulative").print_stats(args.profile)

    if args.check is not None:
        got = pl.concat(outputs, how="diagonal_relaxed")
        if not args.check.exists():
            got.write_parquet(args.check)
            print(f"\nwrote {got.height} output rows to {args.check}")
        else:
            want = pl.read_parquet(args.check)
            from polars.testing import assert_frame_equal

            assert_frame_equal(got, want)
            print(f"\noutputs identical to {args.check} ({got.height} rows)")


if __name__ == "__main__":
    main()
