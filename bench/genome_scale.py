"""Genome-size figures on the SYNTHETIC genome of bench/genome_synth.py (run that first).

    .venv/bin/python bench/genome_scale.py [--dir var/genome] [--steps build,load,annotate]

Each step runs in a fresh process under /usr/bin/time -v and prints wall seconds, CPU seconds (user + sys),
peak RSS and the load average at its start and end (the machine is shared: CPU seconds are the figure that
load does not inflate much, wall seconds are not). Targets (docs/annotation.md, "Whole genomes"):
build < 15 min and < 8 GB; bundle load < 1 s and RSS < 1.5 GB; annotate >= 50,000 variants per CPU-second,
peak RSS < 4 GB and flat in input size. Nothing here is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = str(ROOT / ".venv" / "bin" / "python")


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def timed(cmd: list[str], label: str, env: dict | None = None) -> dict:
    """Run cmd under /usr/bin/time -v; print and return wall, CPU and peak RSS."""
    before = _load()
    p = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})
    err = p.stderr

    def field(name):
        m = re.search(rf"{re.escape(name)}: (.+)", err)
        return m.group(1).strip() if m else None

    wall = field("Elapsed (wall clock) time (h:mm:ss or m:ss)")
    parts = [float(x) for x in wall.split(":")] if wall else [0]
    wall_s = sum(v * 60 ** i for i, v in enumerate(reversed(parts)))
    cpu = float(field("User time (seconds)") or 0) + float(field("System time (seconds)") or 0)
    rss_mb = int(field("Maximum resident set size (kbytes)") or 0) / 1024
    out = {"step": label, "rc": p.returncode, "wall_s": round(wall_s, 1), "cpu_s": round(cpu, 1),
           "peak_rss_mb": round(rss_mb), "load_before": before, "load_after": _load()}
    print(json.dumps(out), flush=True)
    if p.returncode:
        print(p.stdout[-2000:], err[-3000:], sep="\n", file=sys.stderr)
    return {**out, "stdout": p.stdout}


LOAD_PROBE = r"""
import json, resource, sys, time
t0 = time.perf_counter()
from hcml.genomics.bundle import ReferenceBundle
t1 = time.perf_counter()
b = ReferenceBundle.load(sys.argv[1])
t2 = time.perf_counter()
def rss():
    return int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**20
r_load = rss()
from hcml.genomics.transcript_map import TranscriptIndex
TranscriptIndex.of(b)
t3 = time.perf_counter()
print(json.dumps({"import_s": round(t1 - t0, 3), "load_s": round(t2 - t1, 3), "rss_after_load_mb": round(r_load),
                  "transcript_index_s": round(t3 - t2, 3), "rss_after_index_mb": round(rss()),
                  "transcripts": b.transcripts.height, "exons": b.exons.height}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", type=Path, default=ROOT / "var" / "genome")
    ap.add_argument("--steps", default="build,load,annotate")
    ap.add_argument("--vcf", type=Path, default=None, help="default: the largest synthetic_wgs_*.vcf.gz in --dir")
    a = ap.parse_args()
    d = a.dir
    bundle = d / "bundle"
    steps = a.steps.split(",")
    print(f"# SYNTHETIC genome (bench/genome_synth.py) in {d}; CPUs {os.cpu_count()}; load {_load()}")
    if "build" in steps:
        r = timed([PY, "-m", "hcml.cli", "reference", "build", "--gtf", str(d / "synthetic_genome.gff3.gz"),
                   "--fasta", str(d / "synthetic_genome.fa.gz"), "--contigs", "primary", "--out", str(bundle)],
                  "build")
        print("   ", r["stdout"].strip()[-300:])
    if "load" in steps:
        for _ in range(3):
            r = timed([PY, "-c", LOAD_PROBE, str(bundle)], "load")
            print("   ", r["stdout"].strip())
    if "annotate" in steps:
        vcfs = sorted(d.glob("synthetic_wgs_*.vcf.gz"), key=lambda p: int(re.findall(r"\d+", p.name)[-1]))
        for vcf in ([a.vcf] if a.vcf else vcfs):
            n = int(re.findall(r"\d+", vcf.name)[-1])
            with tempfile.TemporaryDirectory(dir=d) as tmp:
                out = Path(tmp) / "out.parquet"
                r = timed([PY, "-m", "hcml.cli", "annotate", str(vcf), "--bundle", str(bundle), "--format", "parquet",
                           "-o", str(out), "-q"], f"annotate {n:,} -> parquet")
                if r["cpu_s"]:
                    print(f"    {n / r['cpu_s']:,.0f} variants per CPU-second, {n / max(r['wall_s'], 1e-9):,.0f} per "
                          f"wall second, output {out.stat().st_size / 2**20 if out.exists() else 0:.0f} MB")


if __name__ == "__main__":
    sys.exit(main())
