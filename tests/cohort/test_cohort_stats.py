"""Cohort VCFs: per-site counts over every sample, each site annotated once.

Expectations: (1) today's per-sample path (each real bundled sample annotated on its own, then
`assets.cohort.allele_stats`) on the same two samples; (2) an independent count over the VCF text with
`bcftools +fill-tags` rules written down in plain Python; (3) bad input names its line and field.
"""

from __future__ import annotations

import gzip

import polars as pl
import pytest

from hcml.config import REPO_ROOT
from hcml.genomics.errors import InputError

SAMPLES = REPO_ROOT / "data" / "samples"
HG00096 = SAMPLES / "HG00096_chr21_region.vcf"
CLINVAR_VCF = SAMPLES / "clinvar2016_chr21_region.vcf"
HEADER = (
    "##fileformat=VCFv4.2\n##contig=<ID=21,length=46709983>\n"
    '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
)


def _records(path):
    return [ln.split("\t") for ln in path.read_text().splitlines() if ln and not ln.startswith("#")]


def joint_vcf(path) -> None:
    """HG00096 and the ClinVar records as two samples of one joint-called VCF: every site of either file,
    HG00096's own GT where it has the site (0|0 elsewhere), CLINVAR 0/1 at its sites (0/0 elsewhere)."""
    hg = {(int(r[1]), r[3], r[4]): r[9] for r in _records(HG00096)}
    cv = {(int(r[1]), r[3], r[4]) for r in _records(CLINVAR_VCF)}
    lines = [HEADER + "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tHG00096\tCLINVAR\n"]
    for pos, ref, alt in sorted(set(hg) | cv):
        lines.append(
            f"21\t{pos}\t.\t{ref}\t{alt}\t.\t.\t.\tGT\t{hg.get((pos, ref, alt), '0|0')}\t"
            f"{'0/1' if (pos, ref, alt) in cv else '0/0'}\n"
        )
    path.write_text("".join(lines))


@pytest.fixture(scope="module")
def joint(tmp_path_factory, bundle):
    from hcml.cohort.stats import summarise_cohort

    root = tmp_path_factory.mktemp("cohort")
    vcf = root / "joint.vcf"
    joint_vcf(vcf)
    summary = summarise_cohort(vcf, bundle, root / "stats.parquet", records=50)  # several chunks
    return summary, pl.read_parquet(summary.path)


def _todays_allele_stats(bundle) -> pl.DataFrame:
    """The per-sample path: each sample's VCF read, annotated and summarised alone, then `allele_stats`."""
    from assets.cohort import allele_stats
    from assets.samples import VARIANT_COLUMNS, select_sample
    from hcml.genomics.annotate import annotate, summarise
    from hcml.genomics.inputs import read_vcf

    features = {}
    for key, path in (("hg00096", HG00096), ("clinvar", CLINVAR_VCF)):
        parsed = read_vcf(path, bundle)
        variants = parsed.variants.select([c for c in VARIANT_COLUMNS if c in parsed.variants.columns])
        carried, _, _ = select_sample(variants, parsed.genotypes, parsed.samples, None)
        summary = summarise(annotate(carried.select(variants.columns), bundle))
        features[key] = summary.join(carried.select("row", "zygosity"), on="row", how="left")
    return allele_stats(features)


def test_same_as_the_per_sample_path(joint, bundle):
    summary, stats = joint
    today = _todays_allele_stats(bundle)
    cols = ["chrom", "pos", "ref", "alt", "gene_symbol", "most_severe_consequence", "impact", "carriers",
            "allele_count", "allele_number", "allele_frequency"]
    mine = stats.filter(pl.col("allele_count") > 0).select(cols).sort("chrom", "pos", "ref", "alt")
    assert mine.height == today.height > 20
    assert mine.with_columns(pl.col("carriers").cast(pl.UInt32)).equals(today.select(cols))
    # the sites no sample carries are the rest of the file, with AC 0 and full call rate
    assert summary.n_input == summary.n_sites + summary.n_rejected == stats.height
    rest = stats.filter(pl.col("allele_count") == 0)
    assert rest.height == stats.height - today.height and set(rest["call_rate"]) == {1.0}


def _independent_counts(text: str) -> dict:
    """AC/AN/genotype classes from the VCF text (bcftools +fill-tags rules, multi-allelics split per ALT)."""
    out = {}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        f = line.split("\t")
        for k, alt in enumerate(f[4].split(","), 1):
            ac = an = hom_ref = het = hom_alt = missing = 0
            for value in f[9:]:
                alleles = value.split(":")[0].replace("|", "/").split("/")
                called = [a for a in alleles if a != "."]
                dose = sum(a == str(k) for a in called)
                ac, an = ac + dose, an + len(called)
                if len(called) < len(alleles) or not called:
                    missing += 1
                elif dose == 0:
                    hom_ref += 1
                elif dose == len(called):
                    hom_alt += 1
                else:
                    het += 1
            out[(int(f[1]), f[3], alt)] = (ac, an, hom_ref, het, hom_alt, missing)
    return out


def test_counts_against_an_independent_reading(tmp_path, bundle):
    """Multi-allelic records, missing and half-missing calls, a haploid call, against a plain-text count."""
    from hcml.cohort.stats import summarise_cohort

    body = [
        # real HG00096 sites (REF from the genome), genotypes chosen to cover every class
        "21\t25585733\t.\tC\tT,G\t.\t.\t.\tGT\t0|1\t1/2\t./.\t2|2",
        "21\t25587701\t.\tT\tC\t.\t.\t.\tGT:DP\t1|1:3\t0/.:2\t1\t0|0:1",
        "21\t25587759\t.\tG\tA\t.\t.\t.\tGT\t.|.\t0/1\t0|0\t1|0",
    ]
    ref_of = {int(r[1]): r[3] for r in _records(HG00096)}
    body = [b for b in body if ref_of.get(int(b.split("\t")[1])) == b.split("\t")[3]]
    assert len(body) >= 2
    text = HEADER + "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\tS2\tS3\tS4\n" + "\n".join(body) + "\n"
    vcf = tmp_path / "c.vcf"
    vcf.write_text(text)
    stats = pl.read_parquet(summarise_cohort(vcf, bundle, tmp_path / "s.parquet").path)
    got = {
        (p, r, a): (ac, an, hr, he, ha, m)
        for p, r, a, ac, an, hr, he, ha, m in stats.select(
            "pos", "ref", "alt", "allele_count", "allele_number", "n_hom_ref", "n_het", "n_hom_alt", "n_missing"
        ).iter_rows()
    }
    assert got == _independent_counts(text)


def test_population_counts_add_up(tmp_path, bundle):
    from hcml.cohort.stats import summarise_cohort

    vcf = tmp_path / "joint.vcf"
    joint_vcf(vcf)
    panel = pl.DataFrame({"sample": ["HG00096", "CLINVAR"], "super_pop": ["EUR", "AFR"]})
    stats = pl.read_parquet(summarise_cohort(vcf, bundle, tmp_path / "s.parquet", panel=panel).path)
    hg = {(int(r[1]), r[3], r[4]): r[9].count("1") for r in _records(HG00096)}
    for pos, ref, alt, ac_eur, an_eur, ac_afr, ac in stats.select(
        "pos", "ref", "alt", "ac_EUR", "an_EUR", "ac_AFR", "allele_count"
    ).iter_rows():
        assert ac_eur == hg.get((pos, ref, alt), 0) and an_eur == 2 and ac_eur + ac_afr == ac


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("21\t25587701\t.\tT\tC\t.\t.\t.\tGT\t0|1", r"line 7: 10 tab-separated columns, the #CHROM line has 11"),
        ("21\t25587701\t.\tT\tC\t.\t.\t.\tGT\t0|x\t0|0", r"line 7, field GT of sample column 1 of 2: '0\|x'"),
        ("21\t25587701\t.\tT\tC\t.\t.\t.\tGT\t0|0\t0|3", r"line 7, field GT of sample column 2 of 2: allele 3"),
        ("21\t25587701\t.\tT\tC\t.\t.\t.\tDP\t3\t4", r"line 7: FORMAT 'DP' has no GT"),
    ],
)
def test_bad_genotypes_name_line_and_field(tmp_path, bundle, line, message):
    from hcml.cohort.stats import summarise_cohort

    text = (
        HEADER
        + '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Depth">\n'
        + "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tA\tB\n"
        + "21\t25585733\t.\tC\tT\t.\t.\t.\tGT\t0|1\t0|0\n"
        + line
        + "\n"
    )
    vcf = tmp_path / "bad.vcf.gz"
    with gzip.open(vcf, "wt") as fh:
        fh.write(text)
    with pytest.raises(InputError, match=message):
        summarise_cohort(vcf, bundle, tmp_path / "s.parquet")


def test_wrong_ref_is_a_reject_with_its_line(tmp_path, bundle):
    from hcml.cohort.stats import summarise_cohort

    text = HEADER + "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tA\n"
    text += "21\t25585733\t.\tC\tT\t.\t.\t.\tGT\t0|1\n21\t25587701\t.\tG\tC\t.\t.\t.\tGT\t0|1\n"
    vcf = tmp_path / "r.vcf"
    vcf.write_text(text)
    summary = summarise_cohort(vcf, bundle, tmp_path / "s.parquet")
    rejects = pl.read_parquet(summary.rejects_path)
    assert (summary.n_input, summary.n_sites, summary.n_rejected) == (2, 1, 1)
    assert rejects["line"].to_list() == [6] and rejects["field"].to_list() == ["REF"]


@pytest.mark.parametrize("sample", ["HG00096", "CLINVAR"])
def test_one_sample_from_the_cohort_equals_read_vcf(tmp_path, bundle, sample):
    """htslib reading one sample's column gives the same variants and GTs as the project's VCF reader."""
    from hcml.cohort.genotypes import read_sample
    from hcml.genomics.inputs import read_vcf

    vcf = tmp_path / "joint.vcf"
    joint_vcf(vcf)
    text = vcf.read_text().replace("\t25585733\t.\tC\tT\t", "\t25585733\t.\tC\tT,G\t")  # one multi-allelic record
    vcf.write_text(text.replace("0|0\t0/0\n", "1|2\t./.\n", 1) if sample == "HG00096" else text)
    mine = read_sample(vcf, bundle, sample)
    theirs = read_vcf(vcf, bundle)
    assert mine.variants.equals(theirs.variants) and mine.n_input == theirs.n_input
    expected = theirs.genotypes.filter(pl.col("sample") == sample).sort("row")
    assert mine.genotypes.sort("row").equals(expected)
    with pytest.raises(InputError, match="not among"):
        read_sample(vcf, bundle, "NOBODY")
