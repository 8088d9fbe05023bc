"""Benchmark: the saturation set end to end -- read VCF, annotate, write VEP tab -- in variants/s per core.

    .venv/bin/python bench/annotate_saturation.py [--repeat 3] [--bundle DIR] [--profile]
    .venv/bin/python bench/annotate_saturation.py --scale 1000000   # one large frame: CPU and peak RSS

Single process; the figure is variants / (CPU seconds of this process), i.e. per core, plus wall time.
Target 50,000 variants/s per core (Ensembl VEP: ~900/s per core offline; fastest compiled rewrites ~20,000/s).
`--scale N` annotates one frame of N distinct synthetic variants (random positions within 5 kb of the bundle's
transcripts, allele shapes -- SNV / deletion / insertion / MNV lengths -- drawn from the saturation VCF, bases
from the reference) and prints annotate's CPU time and the process's peak RSS.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--bundle", type=Path, default=None)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--scale", type=int, default=0, help="annotate one frame of N synthetic variants instead")
    args = ap.parse_args()

    from hcml.config import default_sources, reference_data_dir
    from hcml.genomics.annotate import annotate
    from hcml.genomics.bundle import ReferenceBundle, build_bundle
    from hcml.genomics.inputs import read_vcf
    from hcml.genomics.outputs import write_vep

    vcf = reference_data_dir() / "truth" / "saturation.vcf.gz"
    tmp = Path(tempfile.mkdtemp(prefix="hcml-bench-"))
    bundle_path = args.bundle
    if bundle_path is None:
        s = default_sources()
        bundle_path = build_bundle(s["gtf"], s["fasta"], tmp / "bundle", s["known_variants"], s["clinvar"])
    t0 = time.perf_counter()
    bundle = ReferenceBundle.load(bundle_path)
    load_s = time.perf_counter() - t0
    if args.scale:
        return scale(bundle, read_vcf(vcf, bundle).variants, args.scale)

    def run() -> tuple[int, int]:
        parsed = read_vcf(vcf, bundle)
        ann = annotate(parsed.variants, bundle)
        write_vep(ann, tmp / "out.vep.tsv")
        return parsed.variants.height, ann.height

    # first run includes one-off per-bundle set-up (transcript index, coding sequences)
    c0, w0 = time.process_time(), time.perf_counter()
    n, rows = run()
    first_cpu, first_wall = time.process_time() - c0, time.perf_counter() - w0
    if args.profile:
        import cProfile
        import pstats

        pr = cProfile.Profile()
        pr.enable()
        run()
        pr.disable()
        pstats.Stats(pr).sort_stats("cumulative").print_stats(30)
    best_cpu, best_wall = float("inf"), float("inf")
    for _ in range(args.repeat):
        c0, w0 = time.process_time(), time.perf_counter()
        run()
        best_cpu = min(best_cpu, time.process_time() - c0)
        best_wall = min(best_wall, time.perf_counter() - w0)
    print(f"bundle load: {load_s * 1000:.0f} ms")
    print(f"saturation set: {n:,} variants -> {rows:,} rows (VCF in, VEP tab out)")
    print(f"first run (incl. per-bundle set-up): {first_wall:.2f} s wall, {first_cpu:.2f} s CPU")
    print(f"best of {args.repeat}: {best_wall:.2f} s wall, {best_cpu:.2f} s CPU")
    print(f"throughput: {n / best_cpu:,.0f} variants/s per core (CPU time), {n / best_wall:,.0f} variants/s wall "
          f"[{os.cpu_count()} cores visible; polars threads may add CPU time across cores]")


def scale(bundle, real, n: int) -> None:
    """One frame of n distinct synthetic variants shaped like the real ones: annotate's CPU and peak RSS."""
    import resource

    import numpy as np
    import polars as pl

    from hcml.genomics.annotate import annotate
    from hcml.genomics.transcript_map import TranscriptIndex

    idx = TranscriptIndex.of(bundle)
    rng = np.random.default_rng(7)
    chrom = idx.tx["chrom"][0]
    text, first = bundle.contig_text(chrom)
    lo = max(int(idx.t_start.min()) - 5000, first)
    hi = min(int(idx.t_end.max()) + 5000, first + len(text) - 10)
    shapes = real.select(pl.col("ref").str.len_bytes(), pl.col("alt").str.len_bytes()).to_numpy()
    shapes = shapes[rng.integers(0, len(shapes), n)]
    pos = np.sort(rng.choice(np.arange(lo, hi), n, replace=n > hi - lo))
    bases = np.array(list("ACGT"))
    refs, alts = [], []
    for p, (rl, al) in zip(pos.tolist(), shapes.tolist()):
        ref = text[p - first: p - first + rl]
        if rl == al:  # SNV / MNV: bases that differ from the reference
            alt = "".join(bases[("ACGT".find(b) + rng.integers(1, 4)) % 4] for b in ref)
        else:  # indel: the shared first base + random inserted bases
            alt = ref[0] + "".join(rng.choice(bases, al - 1)) if al > 1 else ref[0]
        refs.append(ref)
        alts.append(alt)
    variants = pl.DataFrame({"chrom": [chrom] * n, "pos": pos, "ref": refs, "alt": alts}).unique(
        ["pos", "ref", "alt"], maintain_order=True)
    annotate(variants.head(100), bundle)  # per-bundle set-up
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    c0, w0 = time.process_time(), time.perf_counter()
    out = annotate(variants, bundle)
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"synthetic frame: {variants.height:,} variants -> {out.height:,} rows, annotate {cpu:.2f} s CPU "
          f"({variants.height / cpu:,.0f} variants/s per core), {wall:.2f} s wall; peak RSS {rss:,.0f} MB "
          f"(before annotate {rss0:,.0f} MB; the output frame itself {out.estimated_size() / 2**20:,.0f} MB)")


if __name__ == "__main__":
    main()
