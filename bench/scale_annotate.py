"""Scale benchmark: 1,000,000 variants, VCF in -> annotate -> Parquet out; wall time and peak memory.

The VCF is SYNTHETIC (bench/scale_synthetic_vcf.py): real known-variant sites of chr21:25-26 Mb drawn by
their real allele frequencies, REF from the real genome.  Targets: under 30 s and under 2 GB on
the 2-core development machine.

    python bench/scale_annotate.py [--n 1000000] [--bundle DIR] [--workdir var/bench]

Generation runs first (not timed); the measured run is a fresh subprocess so that its peak RSS is the
pipeline's alone.  Prints one line per stage and a final JSON line with the figures.
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

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def measure(vcf: Path, bundle_path: Path, out: Path) -> dict:
    t0 = time.perf_counter()
    from hcml.genomics.annotate_cli import KEY, annotate_in_batches
    from hcml.genomics.bundle import ReferenceBundle
    from hcml.genomics.inputs import read_vcf
    from hcml.genomics.outputs import write_parquet

    bundle = ReferenceBundle.load(bundle_path)
    t_load = time.perf_counter()
    parsed = read_vcf(vcf, bundle)
    t_read = time.perf_counter()
    n_rows = 0
    distinct = parsed.variants.unique(subset=KEY).height
    t_ann = 0.0

    def batches():  # time annotation and writing separately while streaming
        nonlocal n_rows, t_ann
        stream = annotate_in_batches(parsed.variants, bundle)
        while True:
            t = time.perf_counter()
            try:
                batch = next(stream)
            except StopIteration:
                return
            t_ann += time.perf_counter() - t
            n_rows += batch.height
            yield batch

    write_parquet(batches(), out)
    t_write = time.perf_counter()
    t_ann_total = t_ann
    t_ann = t_read + t_ann_total
    figures = {
        "variants_in": parsed.n_input,
        "annotated": parsed.variants.height,
        "rejected": parsed.rejects.height,
        "distinct_alleles": distinct,
        "annotation_rows": n_rows,
        "load_s": round(t_load - t0, 2),
        "read_s": round(t_read - t_load, 2),
        "annotate_s": round(t_ann - t_read, 2),
        "write_s": round(t_write - t_read - t_ann_total, 2),
        "total_s": round(t_write - t0, 2),
        "variants_per_s": round(parsed.n_input / (t_write - t0)),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "parquet_mb": round(out.stat().st_size / 1e6, 1),
        "cpu_count": os.cpu_count(),
        "polars_threads": __import__("polars").thread_pool_size(),
    }
    return figures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--bundle", type=Path, default=None)
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--measure", type=Path, default=None, help=argparse.SUPPRESS)  # internal: the timed child
    args = ap.parse_args()
    from hcml.config import bundle_dir, data_dir, default_sources

    bundle_path = args.bundle or bundle_dir()
    work = args.workdir or data_dir() / "bench"
    work.mkdir(parents=True, exist_ok=True)
    if args.measure:
        print(json.dumps(measure(args.measure, bundle_path, work / "scale_annotations.parquet")))
        return
    if not (bundle_path / "manifest.json").exists():
        from hcml.genomics.bundle import build_bundle

        src = default_sources()
        print(f"building the reference bundle at {bundle_path} ...", flush=True)
        build_bundle(src["gtf"], src["fasta"], bundle_path, known_variants=src["known_variants"], clinvar=src["clinvar"])
    vcf = work / f"synthetic_{args.n}.vcf"
    if not vcf.exists():
        sys.path.insert(0, str(REPO / "bench"))
        from scale_synthetic_vcf import generate

        from hcml.genomics.bundle import ReferenceBundle

        t = time.perf_counter()
        stats = generate(args.n, vcf, ReferenceBundle.load(bundle_path), default_sources()["known_variants"])
        print(f"generated SYNTHETIC {vcf} ({stats}) in {time.perf_counter() - t:.1f}s", flush=True)
    child = subprocess.run(
        [sys.executable, __file__, "--measure", str(vcf), "--bundle", str(bundle_path), "--workdir", str(work)],
        capture_output=True, text=True, check=True,
    )
    figures = json.loads(child.stdout.strip().splitlines()[-1])
    print(f"VCF in -> annotate -> Parquet out, {figures['variants_in']:,} variants (synthetic from real frequencies)")
    for key in ("load_s", "read_s", "annotate_s", "write_s", "total_s"):
        print(f"  {key:<12} {figures[key]:>8}")
    print(f"  {'throughput':<12} {figures['variants_per_s']:>8,} variants/s")
    print(f"  {'peak RSS':<12} {figures['peak_rss_mb']:>8} MB   (targets: total < 30 s, peak < 2048 MB)")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
