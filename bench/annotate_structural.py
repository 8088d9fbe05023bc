"""Symbolic structural variants: read (`read_vcf`) and annotate (`annotate`) throughput, printed.

Synthetic SVs placed on the bundle's real transcripts (random class among DEL/DUP/INS/INV/CNV, start within
5 kb of a transcript, length 50 bp - 200 kb); CPU seconds of this process, best of --repeat.

    .venv/bin/python bench/annotate_structural.py [--n 20000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import random
import resource
import time

from hcml.config import bundle_dir
from hcml.genomics.annotate import annotate
from hcml.genomics.bundle import ReferenceBundle
from hcml.genomics.inputs import read_vcf


def synthetic_vcf(bundle, n: int, seed: int = 1) -> str:
    rng = random.Random(seed)
    spans = list(zip(bundle.transcripts["start"].to_list(), bundle.transcripts["end"].to_list()))
    lines = ["##fileformat=VCFv4.2", "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"]
    records = []
    for _ in range(n):
        ts, te = rng.choice(spans)
        pos = rng.randint(ts - 5000, te + 5000)
        kind = rng.choice(["DEL", "DUP", "INS", "INV", "CNV"])
        length = int(10 ** rng.uniform(1.7, 5.3))
        info = f"SVTYPE=INS;END={pos};SVLEN={length}" if kind == "INS" else f"SVTYPE={kind};END={pos + length}"
        records.append((pos, kind, info))
    records.sort()
    seq = {p: bundle.fetch("21", p, p) for p, _, _ in records}
    lines += [f"21\t{p}\t.\t{seq[p]}\t<{k}>\t.\t.\t{i}" for p, k, i in records]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    bundle = ReferenceBundle.load(bundle_dir())
    text = synthetic_vcf(bundle, args.n)
    best_read = best_ann = float("inf")
    for _ in range(args.repeat):
        c0 = time.process_time()
        parsed = read_vcf(text, bundle)
        c1 = time.process_time()
        out = annotate(parsed.variants, bundle)
        c2 = time.process_time()
        best_read, best_ann = min(best_read, c1 - c0), min(best_ann, c2 - c1)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{parsed.summary_line()}; {out.height:,} rows")
    print(f"read {best_read:.3f} s CPU, annotate {best_ann:.3f} s CPU (best of {args.repeat}); "
          f"{args.n / (best_read + best_ann):,.0f} SVs per CPU-second; peak RSS {peak:,.0f} MB")


if __name__ == "__main__":
    main()
