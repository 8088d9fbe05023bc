"""Synthetic VCF for the scale benchmark, derived from real data (and labelled synthetic in its header).

Sites are the real known variants of chr21:25-26 Mb (data/population, from the Ensembl VEP v84 cache),
drawn with replacement with probability proportional to their real 1000 Genomes minor-allele frequency
(sites without a 1000 Genomes frequency get 1/5008, the smallest frequency the project can observe);
REF and indel anchor bases come from the real genome sequence of the reference bundle; one synthetic
sample's genotype is drawn from the same frequency (Hardy-Weinberg).  Vectorised with numpy/polars.

    python bench/scale_synthetic_vcf.py --n 1000000 --out var/bench/synthetic_1M.vcf [--bundle DIR]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import polars as pl

FLOOR_AF = 1 / 5008


def known_sites(path: Path) -> pl.DataFrame:
    kv = pl.read_csv(path, separator="\t", infer_schema=False, null_values=["."])
    kv = kv.select(
        pl.col("chrom"), pl.col("start").cast(pl.Int64), pl.col("end").cast(pl.Int64), pl.col("variation_name"),
        pl.col("allele_string").str.split("/").alias("alleles"),
        pl.col("minor_allele_freq").cast(pl.Float64).fill_null(FLOOR_AF).clip(FLOOR_AF, 0.5).alias("af"),
    )
    return kv.filter(pl.col("alleles").list.len() >= 2)


def generate(n: int, out: Path, bundle, known_path: Path, seed: int = 20261126) -> dict:
    rng = np.random.default_rng(seed)
    sites = known_sites(known_path)
    weights = sites["af"].to_numpy()
    pick = np.sort(rng.choice(sites.height, size=n, replace=True, p=weights / weights.sum()))
    draws = sites[pick]
    n_alts = draws["alleles"].list.len().to_numpy() - 1
    alt_index = 1 + (rng.random(n) * n_alts).astype(np.int64)
    draws = draws.with_columns(
        pl.col("alleles").list.get(0).alias("a_ref"),
        pl.col("alleles").list.get(pl.Series(alt_index)).alias("a_alt"),
    )
    seq, first = bundle.sequence_array("21")
    # VEP allele strings ('-' for empty) -> VCF: indels get the real base before them as anchor
    indel = (draws["a_ref"] == "-") | (draws["a_alt"] == "-") | (draws["a_ref"].str.len_bytes() != draws["a_alt"].str.len_bytes())
    start = draws["start"].to_numpy()
    anchor_pos = start - 1
    anchor = seq[np.clip(anchor_pos - first, 0, len(seq) - 1)].view("S1").astype("U1")
    draws = draws.with_columns(pl.Series("indel", indel), pl.Series("anchor", anchor))
    strip = lambda c: pl.when(pl.col(c) == "-").then(pl.lit("")).otherwise(pl.col(c))  # noqa: E731
    draws = draws.with_columns(
        pl.when(pl.col("indel")).then(pl.col("start") - 1).otherwise(pl.col("start")).alias("pos"),
        pl.when(pl.col("indel")).then(pl.col("anchor") + strip("a_ref")).otherwise(pl.col("a_ref")).alias("ref"),
        pl.when(pl.col("indel")).then(pl.col("anchor") + strip("a_alt")).otherwise(pl.col("a_alt")).alias("alt"),
    )
    # genotype of one synthetic sample from the site's frequency (Hardy-Weinberg)
    af = draws["af"].to_numpy()
    u = rng.random(n)
    gt = np.where(u < af * af, "1/1", np.where(u < af * af + 2 * af * (1 - af), "0/1", "0/0"))
    body = draws.select(
        pl.lit("21").alias("CHROM"), pl.col("pos").cast(pl.Utf8), pl.col("variation_name").fill_null("."),
        "ref", "alt", pl.lit(".").alias("QUAL"), pl.lit("PASS").alias("FILTER"), pl.lit(".").alias("INFO"),
        pl.lit("GT").alias("FORMAT"), pl.Series("gt", gt),
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    header = (
        "##fileformat=VCFv4.2\n"
        "##source=hcml bench/scale_synthetic_vcf.py: SYNTHETIC records drawn from real chr21:25-26Mb known-variant "
        f"frequencies (Ensembl VEP v84 cache), seed {seed}\n"
        "##contig=<ID=21,length=46709983,assembly=GRCh38>\n"
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tSYNTHETIC\n"
    )
    with open(out, "wb") as fh:
        fh.write(header.encode())
        body.write_csv(fh, separator="\t", include_header=False, quote_style="never")
    return {"records": n, "distinct_sites": int(np.unique(pick).size), "indels": int(indel.sum())}


def main() -> None:
    from hcml.config import bundle_dir, default_sources
    from hcml.genomics.bundle import ReferenceBundle

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--bundle", type=Path, default=None)
    args = ap.parse_args()
    bundle = ReferenceBundle.load(args.bundle or bundle_dir())
    t = time.perf_counter()
    stats = generate(args.n, args.out, bundle, default_sources()["known_variants"])
    print(f"wrote {args.out}: {stats} in {time.perf_counter() - t:.1f}s (SYNTHETIC, from real frequencies)")


if __name__ == "__main__":
    main()
