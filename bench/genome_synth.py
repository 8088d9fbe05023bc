"""SYNTHETIC genome-size inputs for bench/genome_scale.py -- not real data, derived from real data.

No full Ensembl release can be downloaded here, so one of the same size is made from the real files:
- gene models: the real Ensembl 84 GFF3 of chr21 (../shared/data/reference, 835 genes, 2,414 transcripts)
  copied onto 24 chromosomes with GRCh38's lengths (1-22, X, Y), one copy every `--stride-mb` Mb (copies
  overlap their neighbours as the stride is shorter than chr21's gene span); each copy's ids get a suffix
  (`ENST00000346798_c17`), symbols are kept. Default stride (23 Mb): 103 copies, 248,642 transcripts, 86,005 genes.
- sequence: deterministic random bases (numpy PCG64, seed `--seed` and the chromosome's index), ~3.1 Gb, as a
  bgzipped (level 1: random bases barely compress and level 6 costs 10x the CPU), faidx-indexed FASTA. The models' CDS therefore do not start with ATG nor end with a stop: the
  GFF3 reader derives cds_start_NF / cds_end_NF from the sequence, as for any GFF3.
- variants: a sites-only VCF of `--variants` records at uniform random positions (sorted), REF read from the
  synthetic sequence, the kind and length of each allele (SNV, deletion, insertion) and its AF drawn from the
  real known variants' allele strings and minor allele frequencies (../shared/data/population).

Files go to var/genome/ (git-ignored), bgzipped. Usage:
    .venv/bin/python bench/genome_synth.py [--out var/genome] [--variants 5000000] [--seed 16]
"""

from __future__ import annotations

import argparse
import gzip
import re
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
GRCH38_MB = {  # GRCh38 primary chromosome lengths (bp)
    "1": 248_956_422, "2": 242_193_529, "3": 198_295_559, "4": 190_214_555, "5": 181_538_259,
    "6": 170_805_979, "7": 159_345_973, "8": 145_138_636, "9": 138_394_717, "10": 133_797_422,
    "11": 135_086_622, "12": 133_275_309, "13": 114_364_328, "14": 107_043_718, "15": 101_991_189,
    "16": 90_338_345, "17": 83_257_441, "18": 80_373_285, "19": 58_617_616, "20": 64_444_167,
    "21": 46_709_983, "22": 50_818_468, "X": 156_040_895, "Y": 57_227_415,
}
BASES = np.frombuffer(b"ACGT", np.uint8)


def chromosome_sequence(seed: int, k: int, length: int) -> np.ndarray:
    """The synthetic bases of chromosome number k (uint8 ASCII), the same on every call."""
    return BASES[np.random.default_rng([seed, k]).integers(0, 4, size=length, dtype=np.uint8)]


def write_fasta(out: Path, seed: int) -> None:
    from pysam import faidx
    from pysam.libcbgzf import BGZFile

    with BGZFile(str(out), "wb1") as fh:
        for k, (name, length) in enumerate(GRCH38_MB.items()):
            fh.write(f">{name} synthetic random sequence seed={seed}\n".encode())
            step = 60 * 200_000
            seq = chromosome_sequence(seed, k, length)
            for s in range(0, length, step):
                part = seq[s:s + step]
                full = len(part) // 60 * 60
                lines = np.concatenate([part[:full].reshape(-1, 60), np.full((full // 60, 1), 10, np.uint8)], axis=1)
                fh.write(lines.tobytes())
                if full < len(part):
                    fh.write(part[full:].tobytes() + b"\n")
    faidx(str(out))


def _template() -> tuple[pl.DataFrame, int, int]:
    """The chr21 GFF3's feature rows (no chromosome / biological_region rows) and their span."""
    with gzip.open(SHARED / "reference" / "ensembl84_chr21.gff3.gz", "rt") as fh:
        rows = [ln.rstrip("\n").split("\t") for ln in fh if ln.strip() and not ln.startswith("#")]
    df = pl.DataFrame(rows, schema=["seqid", "source", "type", "start", "end", "score", "strand", "phase", "attrs"],
                      orient="row").filter(~pl.col("type").is_in(["chromosome", "biological_region"]))
    df = df.with_columns(pl.col("start").cast(pl.Int64), pl.col("end").cast(pl.Int64))
    return df, int(df["start"].min()), int(df["end"].max())


def write_gff3(out: Path, stride: int) -> dict:
    from pysam.libcbgzf import BGZFile

    tpl, lo, hi = _template()
    ids = re.compile(r"(ENS[GTEP]\d+)")
    copies = 0
    with BGZFile(str(out), "wb1") as fh:
        fh.write(b"##gff-version 3\n# SYNTHETIC: real Ensembl 84 chr21 gene models copied (bench/genome_synth.py)\n")
        for name, length in GRCH38_MB.items():
            fh.write(f"##sequence-region {name} 1 {length}\n".encode())
            offset = 10_000 - lo
            while offset + hi <= length:
                copies += 1
                text = tpl.select(pl.concat_str([
                    pl.lit(name), "source", "type", (pl.col("start") + offset).cast(pl.Utf8),
                    (pl.col("end") + offset).cast(pl.Utf8), "score", "strand", "phase",
                    pl.col("attrs").str.replace_all(ids.pattern, f"${{1}}_c{copies}")], separator="\t"))
                fh.write(("\n".join(text.to_series().to_list()) + "\n").encode())
                offset += stride
    n_tx = tpl.filter(pl.col("attrs").str.contains("ID=transcript:")).height
    n_gene = tpl.filter(pl.col("attrs").str.contains("ID=gene:")).height
    return {"copies": copies, "transcripts": copies * n_tx, "genes": copies * n_gene}


def _real_spectrum() -> pl.DataFrame:
    """Allele kind/length and minor allele frequency of the real known variants (one row each)."""
    kv = pl.read_csv(SHARED / "population" / "known_variants_chr21_25-26Mb.tsv.gz", separator="\t",
                     infer_schema=False, null_values=["."], quote_char=None)
    al = kv["allele_string"].str.split("/")
    ref, alt = al.list.first(), al.list.get(1, null_on_oob=True)
    return pl.DataFrame({"ref": ref, "alt": alt, "maf": kv["minor_allele_freq"].cast(pl.Float64, strict=False)}).filter(
        pl.col("alt").is_not_null() & pl.col("ref").str.contains(r"^[ACGT-]+$") & pl.col("alt").str.contains(r"^[ACGT-]+$"))


def write_vcf(out: Path, n: int, seed: int) -> None:
    from pysam.libcbgzf import BGZFile

    spec = _real_spectrum()
    ref_len = spec["ref"].str.replace("-", "").str.len_chars().to_numpy()
    alt_len = spec["alt"].str.replace("-", "").str.len_chars().to_numpy()
    maf = spec["maf"].to_numpy()
    mafs = maf[~np.isnan(maf)]
    rng = np.random.default_rng([seed, 999])
    total = sum(GRCH38_MB.values())
    per = rng.multinomial(n, np.array(list(GRCH38_MB.values())) / total)
    with BGZFile(str(out), "wb1") as fh:
        fh.write(b"##fileformat=VCFv4.2\n##source=SYNTHETIC bench/genome_synth.py (real AF spectrum, random sequence)\n")
        fh.write(b'##INFO=<ID=AF,Number=A,Type=Float,Description="Allele frequency (synthetic, drawn from the real spectrum)">\n')
        for name, length in GRCH38_MB.items():
            fh.write(f"##contig=<ID={name},length={length}>\n".encode())
        fh.write(b"#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
        for k, (name, length) in enumerate(GRCH38_MB.items()):
            m = int(per[k])
            seq = chromosome_sequence(seed, k, length)
            pos = np.sort(rng.choice(length - 200, size=m, replace=False) + 2)
            pick = rng.integers(0, len(spec), size=m)
            rl, al = ref_len[pick], alt_len[pick]
            af = np.where(np.isnan(maf[pick]), mafs[rng.integers(0, len(mafs), size=m)], maf[pick])
            af = np.maximum(af, 1e-5)
            first = seq[pos - 1]
            deletion = (rl > 0) & (al == 0)
            insertion = (rl == 0) & (al > 0)
            dl = np.where(deletion, rl, 0)
            ref = np.array([seq[p - 1:p + d].tobytes().decode() for p, d in zip(pos.tolist(), dl.tolist())]) \
                if deletion.any() else None
            alt_base = BASES[(np.searchsorted(BASES, first) + rng.integers(1, 4, size=m)) % 4]
            ins_seq = [BASES[rng.integers(0, 4, size=int(x))].tobytes().decode() for x in np.where(insertion, al, 0)]
            first_s = first.tobytes().decode()
            refs, alts = [], []
            for i in range(m):
                if deletion[i]:
                    refs.append(ref[i]); alts.append(first_s[i])
                elif insertion[i]:
                    refs.append(first_s[i]); alts.append(first_s[i] + ins_seq[i])
                else:
                    refs.append(first_s[i]); alts.append(chr(alt_base[i]))
            df = pl.DataFrame({"pos": pos, "ref": refs, "alt": alts, "af": np.round(af, 5)})
            text = df.select(pl.concat_str([pl.lit(name), pl.col("pos").cast(pl.Utf8), pl.lit("."), "ref", "alt",
                                            pl.lit("."), pl.lit("PASS"), pl.lit("AF=") + pl.col("af").cast(pl.Utf8)],
                                           separator="\t")).to_series()
            fh.write(("\n".join(text.to_list()) + "\n").encode())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "var" / "genome")
    ap.add_argument("--variants", type=int, default=5_000_000)
    ap.add_argument("--seed", type=int, default=16)
    ap.add_argument("--stride-mb", type=float, default=23.0)
    ap.add_argument("--only", choices=["fasta", "gff3", "vcf"], action="append")
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    todo = a.only or ["gff3", "fasta", "vcf"]
    for what in todo:
        t0, c0 = time.perf_counter(), time.process_time()
        if what == "gff3":
            info = write_gff3(a.out / "synthetic_genome.gff3.gz", int(a.stride_mb * 1e6))
            print(f"gff3: {info}", end=" ")
        elif what == "fasta":
            write_fasta(a.out / "synthetic_genome.fa.gz", a.seed)
            print(f"fasta: {sum(GRCH38_MB.values()):,} bases", end=" ")
        else:
            write_vcf(a.out / f"synthetic_wgs_{a.variants}.vcf.gz", a.variants, a.seed)
            print(f"vcf: {a.variants:,} records", end=" ")
        print(f"({time.perf_counter() - t0:.0f} s wall, {time.process_time() - c0:.0f} s CPU)", flush=True)


if __name__ == "__main__":
    sys.exit(main())
