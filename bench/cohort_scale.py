"""Cohort VCF annotated once per site and summarised over every sample, at several site counts.

Each size runs in a fresh process (peak RSS is per process), on the SYNTHETIC cohorts of
bench/cohort_synth.py (generated first when missing). Prints wall, CPU, peak RSS and the load average.

    .venv/bin/python bench/cohort_scale.py --sites 50000 100000 200000

Targets (issue: cohort VCFs): 2,504 samples x 200,000 sites in < 5 min, peak memory < 6 GB and flat.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def one(vcf: Path, panel: Path, out: Path) -> dict:
    """Run in the child: load the bundle, summarise, report figures as JSON."""
    import polars as pl

    from hcml.cohort.stats import read_panel, summarise_cohort
    from hcml.config import bundle_dir
    from hcml.genomics.bundle import ReferenceBundle

    t0, c0 = time.perf_counter(), time.process_time()
    bundle = ReferenceBundle.load(bundle_dir())
    summary = summarise_cohort(vcf, bundle, out, panel=read_panel(panel))
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    stats = pl.scan_parquet(out).select(pl.len(), pl.col("allele_count").sum(), pl.col("call_rate").mean()).collect()
    return {
        "samples": summary.n_samples,
        "sites_in": summary.n_input,
        "annotated": summary.n_sites,
        "rejected": summary.n_rejected,
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "rows": stats.item(0, 0),
        "total_ac": stats.item(0, 1),
        "mean_call_rate": round(stats.item(0, 2), 4),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sites", type=int, nargs="+", default=[50_000, 100_000, 200_000])
    ap.add_argument("--dir", type=Path, default=ROOT / "var" / "cohort")
    ap.add_argument("--child", nargs=3, type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(one(*args.child)))
        return
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    print("SYNTHETIC cohort genotypes (bench/cohort_synth.py) from real 1000 Genomes frequencies")
    for n in args.sites:
        vcf = args.dir / f"synth_{n}.vcf.gz"
        panel = args.dir / f"synth_{n}.panel.tsv"
        if not vcf.exists():
            subprocess.run(
                [sys.executable, str(ROOT / "bench" / "cohort_synth.py"), "--sites", str(n), "--out", str(vcf)],
                check=True,
                env=env,
            )
        out = args.dir / f"stats_{n}.parquet"
        done = subprocess.run(
            [sys.executable, __file__, "--child", str(vcf), str(panel), str(out)],
            check=True,
            env=env,
            capture_output=True,
            text=True,
        )
        r = json.loads(done.stdout.strip().splitlines()[-1])
        print(
            f"{n:>8,} sites x {r['samples']} samples: wall {r['wall_s']} s, CPU {r['cpu_s']} s, peak RSS "
            f"{r['peak_rss_mb']} MB; {r['sites_in']:,} in = {r['annotated']:,} annotated + {r['rejected']} rejected; "
            f"AC total {r['total_ac']:,}, mean call rate {r['mean_call_rate']}; load average "
            f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}",
            flush=True,
        )


if __name__ == "__main__":
    main()
