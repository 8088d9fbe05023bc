"""SYNTHETIC joint-called cohort VCF: 2,504 samples x N SNV sites, bgzipped, from the bundle's real frequencies.

Not real people. What is real: the sites and the per-super-population allele frequencies of the 1000 Genomes
SNVs in the bundle's known variants (29,000 in chr21:25-26 Mb) and the super-population sizes of 1000 Genomes
phase 3 (AFR 661, AMR 347, EAS 504, EUR 503, SAS 489). Beyond the real SNVs, sites are drawn at random
positions of the region with real sequence (REF from the genome, a random other base as ALT), each given the
frequency vector of a random real site. Genotypes: two independent haplotypes per sample from its population's
frequency (Hardy-Weinberg), phased, 0.2 % of calls missing ('./.'). Seeded: the same arguments give the same file.
Output goes under var/ (ignored by git): never commit it.

    .venv/bin/python bench/cohort_synth.py --sites 200000 --out var/cohort/synth_200k.vcf.gz

Writes the VCF and `<out>.panel.tsv` (sample, super_pop: the 1000 Genomes panel's columns).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import polars as pl

POPULATIONS = {"AFR": 661, "AMR": 347, "EAS": 504, "EUR": 503, "SAS": 489}
MISSING_RATE = 0.002
BASES = np.frombuffer(b"ACGT", np.uint8)


def synth_sites(bundle, n_sites: int, rng: np.random.Generator) -> pl.DataFrame:
    """chrom, pos, ref, alt and one AF column per super-population, sorted by position."""
    pops = [f"{p}_AF" for p in POPULATIONS]
    real = bundle.known_variants.filter(
        pl.col("ref").str.contains("^[ACGT]$")
        & pl.col("alt").str.contains("^[ACGT]$")
        & pl.all_horizontal(pl.col(c).is_not_null() for c in pops)
    ).select("chrom", "pos", "ref", "alt", *pops)
    real = real.unique(["chrom", "pos", "ref", "alt"]).sort("pos")
    ok = np.array([bundle.fetch(c, p, p) == r for c, p, r in real.select("chrom", "pos", "ref").iter_rows()])
    real = real.filter(pl.Series(ok))
    if n_sites <= real.height:
        return real.sample(n_sites, seed=int(rng.integers(2**31)), shuffle=False).sort("pos")
    chrom = real["chrom"][0]
    lo, hi = int(real["pos"].min()), int(real["pos"].max())
    seq = bundle.fetch(chrom, lo, hi).encode()
    extra = []
    taken = set(zip(real["pos"].to_list(), real["alt"].to_list()))
    need = n_sites - real.height
    while need > 0:
        pos = rng.integers(lo, hi + 1, size=need * 2)
        ref = np.frombuffer(seq, np.uint8)[pos - lo]
        keep = np.isin(ref, BASES)
        pos, ref = pos[keep], ref[keep]
        shift = rng.integers(1, 4, size=pos.size)
        alt = BASES[(np.searchsorted(BASES, ref) + shift) % 4]
        for p, r, a in zip(pos.tolist(), ref.tolist(), alt.tolist()):
            if need and (p, chr(a)) not in taken:
                taken.add((p, chr(a)))
                extra.append((p, chr(r), chr(a)))
                need -= 1
    donors = rng.integers(0, real.height, size=len(extra))
    freq = real.select(pops)[donors]
    extra_frame = pl.DataFrame(
        {
            "chrom": [chrom] * len(extra),
            "pos": [e[0] for e in extra],
            "ref": [e[1] for e in extra],
            "alt": [e[2] for e in extra],
        },
        schema={"chrom": pl.Utf8, "pos": pl.Int64, "ref": pl.Utf8, "alt": pl.Utf8},
    ).hstack(freq)
    return pl.concat([real, extra_frame]).sort("pos", "alt")


def write_cohort(
    bundle, n_sites: int, out: Path, seed: int = 17, chunk: int = 2000, sizes: dict[str, int] | None = None
) -> tuple[Path, Path]:
    """The VCF and its panel; `sizes`: samples per super-population (default: 1000 Genomes phase 3)."""
    from pysam import BGZFile

    rng = np.random.default_rng(seed)
    sites = synth_sites(bundle, n_sites, rng)
    sizes = sizes or POPULATIONS
    samples = [f"SYN{i:05d}" for i in range(1, sum(sizes.values()) + 1)]
    pop_index = np.repeat(np.arange(len(POPULATIONS)), [sizes.get(p, 0) for p in POPULATIONS])
    out.parent.mkdir(parents=True, exist_ok=True)
    panel = out.with_name(out.name.removesuffix(".gz").removesuffix(".vcf") + ".panel.tsv")
    pl.DataFrame({"sample": samples, "super_pop": [list(POPULATIONS)[i] for i in pop_index]}).write_csv(
        panel, separator="\t"
    )
    chrom = sites["chrom"][0]
    header = (
        "##fileformat=VCFv4.2\n"
        "##source=hcml bench/cohort_synth.py: SYNTHETIC genotypes from real 1000 Genomes frequencies\n"
        f"##contig=<ID={chrom},length={bundle.contigs[bundle.contig_name(chrom)]}>\n"
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(samples) + "\n"
    )
    freqs = sites.select([f"{p}_AF" for p in POPULATIONS]).to_numpy()
    with BGZFile(str(out), "wb") as fh:
        fh.write(header.encode())
        for start in range(0, sites.height, chunk):
            part = sites.slice(start, chunk)
            af = freqs[start : start + chunk][:, pop_index]  # rows x samples
            h1 = rng.random(af.shape) < af
            h2 = rng.random(af.shape) < af
            cells = np.empty(af.shape + (4,), np.uint8)
            cells[..., 0] = 48 + h1
            cells[..., 1] = ord("|")
            cells[..., 2] = 48 + h2
            cells[..., 3] = ord("\t")
            missing = rng.random(af.shape) < MISSING_RATE
            cells[missing, 0] = ord(".")
            cells[missing, 1] = ord("/")
            cells[missing, 2] = ord(".")
            cells[:, -1, 3] = ord("\n")
            lines = [
                f"{chrom}\t{p}\t.\t{r}\t{a}\t.\tPASS\t.\tGT\t".encode() + cells[i].tobytes()
                for i, (p, r, a) in enumerate(part.select("pos", "ref", "alt").iter_rows())
            ]
            fh.write(b"".join(lines))
    return out, panel


def main() -> None:
    from hcml.config import bundle_dir
    from hcml.genomics.bundle import ReferenceBundle

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sites", type=int, default=50_000)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--seed", type=int, default=17)
    args = ap.parse_args()
    out = args.out or Path("var/cohort") / f"synth_{args.sites}.vcf.gz"
    t0 = time.perf_counter()
    vcf, panel = write_cohort(ReferenceBundle.load(bundle_dir()), args.sites, out, args.seed)
    print(
        f"SYNTHETIC cohort: {sum(POPULATIONS.values())} samples x {args.sites:,} sites -> {vcf} "
        f"({vcf.stat().st_size / 1e6:.0f} MB), panel {panel}, {time.perf_counter() - t0:.1f} s"
    )


if __name__ == "__main__":
    main()
