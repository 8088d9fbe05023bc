"""What the ACMG/AMP classification adds to the realtime path, in process (CPU time, one thread).

    .venv/bin/python bench/acmg_latency.py [--repeat 200]

For requests of 1, 10, 100 and 1,000 real variants (SNVs of data/truth/saturation.vcf.gz, annotated and
scored once), it times `classify_summary` alone (the whole cost the classification adds to `hcml.interpret`)
and prints the added CPU time per request and per variant, beside `hcml.interpret` with and without it.
Target: < 0.2 ms per variant added.
The reference tables are compiled before timing (the realtime service does it at warm-up; printed too), then
the loaded objects are frozen out of the cyclic collector (gc.freeze, as the service does after warm-up).
The end-to-end service figures stay those of bench/realtime_latency.py.
"""

from __future__ import annotations

import argparse
import gc
import gzip
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.realtime_startup import ensure_bundle  # noqa: E402


def _cpu(fn, repeat: int) -> float:
    """Median CPU seconds of one call over `repeat` calls (after one warm call)."""
    fn()
    samples = []
    for _ in range(repeat):
        t = time.process_time()
        fn()
        samples.append(time.process_time() - t)
    return statistics.median(samples)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=200)
    args = ap.parse_args()

    import polars as pl

    from hcml.acmg.classify import classify_summary
    from hcml.acmg.reference_cache import reference_for
    from hcml.genomics.annotate import annotate, summarise
    from hcml.genomics.bundle import ReferenceBundle
    from hcml.genomics.inputs import parse_variant_strings
    from hcml.ml.serving import load_bundled

    bundle = ReferenceBundle.load(ensure_bundle(None))
    t = time.perf_counter()
    reference_for(bundle)
    print(f"reference tables compiled in {time.perf_counter() - t:.2f} s (once per process, at warm-up)")
    model = load_bundled()
    with gzip.open(REPO / "data" / "truth" / "saturation.vcf.gz", "rt") as fh:
        records = [line.split("\t")[:5] for line in fh if not line.startswith("#")]
    snvs = [f"{c}-{p}-{r}-{a}" for c, p, _, r, a in records if len(r) == 1 and len(a) == 1][::7]
    import hcml.acmg.classify as acmg_classify
    from hcml.interpret import interpret

    # as the realtime service does after its warm-up (realtime/app.py): what is loaded lives as long as the
    # process, out of the cyclic collector's way (without this, collections walking the reference tables add
    # about a third to a single-variant call)
    gc.collect()
    gc.freeze()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'variants':>9}{'added ms/request':>18}{'added ms/variant':>18}{'interpret ms':>14}{'without':>10}")
    for n in (1, 10, 100, 1000):
        parsed = parse_variant_strings(snvs[:n], bundle)
        summary = summarise(annotate(parsed.variants, bundle))
        summary = summary.hstack([pl.Series("pathogenicity_score", model.score(summary))])
        repeat = max(5, args.repeat // max(1, n // 10))
        added = _cpu(lambda s=summary: classify_summary(s, bundle, model), repeat)
        whole = _cpu(lambda p=parsed: interpret(p, bundle, model), repeat)
        keep = acmg_classify.classify_summary
        acmg_classify.classify_summary = lambda s, *_a, **_k: s  # interpret without the classification
        try:
            without = _cpu(lambda p=parsed: interpret(p, bundle, model), repeat)
        finally:
            acmg_classify.classify_summary = keep
        print(f"{n:>9}{added * 1e3:>18.3f}{added * 1e3 / n:>18.4f}{whole * 1e3:>14.2f}{without * 1e3:>10.2f}")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())} (CPU time is inflated under load)")


if __name__ == "__main__":
    main()
