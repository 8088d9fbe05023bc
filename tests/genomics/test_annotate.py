"""annotate() / summarise(): contract shape, intergenic rows, known-variant data from the raw population
TSV, and the most severe consequence against VEP 115's rows for the same variants."""

from __future__ import annotations

import gzip

import polars as pl
import pytest

from hcml.genomics.annotate import OUTPUT_COLUMNS, annotate, summarise
from hcml.genomics.compare import read_vep_tab
from hcml.genomics.consequences import SEVERITY_RANK
from hcml.genomics.inputs import read_vcf

pytestmark = pytest.mark.small_path  # the outcome depends on the path: CI runs it with each forced


def _variants(rows):
    return pl.DataFrame(rows, schema={"chrom": pl.Utf8, "pos": pl.Int64, "ref": pl.Utf8, "alt": pl.Utf8},
                        orient="row").with_row_index("row").with_columns(
        variant_id=pl.format("{}_{}_{}/{}", "chrom", "pos", "ref", "alt"))


def test_contract_columns_and_types(bundle):
    out = annotate(_variants([("21", 25891784, "C", "T")]), bundle)
    assert out.columns == OUTPUT_COLUMNS
    assert out.schema["DISTANCE"] == pl.Int64 and out.schema["STRAND"] == pl.Int8
    app = out.filter(pl.col("Feature") == "ENST00000346798").to_dicts()[0]
    # VEP 115 for this variant (data/truth): missense, c.2149G>A, p.Val717Ile, exon 17/18
    assert app["Consequence"] == "missense_variant" and app["IMPACT"] == "MODERATE"
    assert app["HGVSc"] == "ENST00000346798.7:c.2149G>A" and app["EXON"] == "17/18"
    assert app["HGVSp"].endswith("p.Val717Ile") and app["Amino_acids"] == "V/I"
    assert app["HGVSg"] == "21:g.25891784C>T" and app["Location"] == "21:25891784"
    assert app["SYMBOL"] == "APP" and app["CANONICAL"] == "YES" and app["STRAND"] == -1
    assert set(out["most_severe_consequence"]) == {"missense_variant"}


def test_intergenic_variant(bundle):
    tx = bundle.transcripts.sort("start")
    # a base of real sequence more than 5 kb from every transcript
    starts, ends = tx["start"].to_list(), tx["end"].to_list()
    pos = None
    for p in range(24_990_000, 26_000_000, 1000):
        if all(p < s - 5001 or p > e + 5001 for s, e in zip(starts, ends)) and bundle.fetch("21", p, p) != "N":
            pos = p
            break
    assert pos is not None
    ref = bundle.fetch("21", pos, pos)
    alt = "A" if ref != "A" else "G"
    out = annotate(_variants([("21", pos, ref, alt)]), bundle)
    assert out.height == 1
    r = out.to_dicts()[0]
    assert r["Consequence"] == "intergenic_variant" and r["Feature"] is None and r["IMPACT"] == "MODIFIER"


def test_known_variant_frequencies_from_population_file(bundle, data_root):
    """Existing_variation / AF / CLIN_SIG equal the raw TSV values for SNVs matched on position and allele."""
    picks = {}
    with gzip.open(data_root / "population" / "known_variants_chr21_25-26Mb.tsv.gz", "rt") as fh:
        header = fh.readline().rstrip("\n").split("\t")
        for line in fh:
            r = dict(zip(header, line.rstrip("\n").split("\t")))
            a = r["allele_string"].split("/")
            if len(a) != 2 or len(a[0]) != 1 or len(a[1]) != 1 or "-" in a:
                continue
            if r["clin_sig"] != "." and "clin" not in picks and r["AFR"] != ".":
                picks["clin"] = r
            elif r["gnomADe"] != "." and r["AF"] != "." and "gnomad" not in picks:
                picks["gnomad"] = r
            if len(picks) == 2:
                break
    rows = [("21", int(r["start"]), r["allele_string"][0], r["allele_string"][2]) for r in picks.values()]
    other_alt = [("21", int(r["start"]), r["allele_string"][0],
                  next(b for b in "ACGT" if b not in r["allele_string"])) for r in picks.values()]
    out = annotate(_variants(rows + other_alt), bundle)
    s = summarise(out).sort("row")
    for i, r in enumerate(picks.values()):
        got = s.row(i, named=True)
        assert got["existing_variation"] == r["variation_name"]
        assert got["afr_af"] == float(r["AFR"].split(":")[1])
        if r["AF"] != ".":
            assert got["af"] == float(r["AF"].split(":")[1])
        if r["gnomADe"] != ".":
            assert got["gnomade_af"] == float(r["gnomADe"].split(":")[1])
        if r["clin_sig"] != ".":
            assert got["clin_sig"] == r["clin_sig"]
        # a different allele at the same position is not that known variant
        other = s.row(i + len(picks), named=True)
        assert other["existing_variation"] is None and other["af"] is None


def test_summary_most_severe_matches_vep(bundle, data_root):
    parsed = read_vcf(data_root / "truth" / "saturation.vcf.gz", bundle)
    sub = parsed.variants.gather_every(7)
    ours = summarise(annotate(sub, bundle))
    assert ours.height == sub.height and ours["row"].is_unique().all()
    vep = read_vep_tab(data_root / "truth" / "saturation.vep115.tsv.gz")
    rank = pl.col("Consequence").str.split(",").list.first().replace_strict(SEVERITY_RANK)
    vep_ms = (
        vep.filter(pl.col("Uploaded_variation").is_in(sub["variant_id"].implode()))
        .with_columns(_r=rank).sort("_r").group_by("Uploaded_variation").first()
        .select("Uploaded_variation", pl.col("Consequence").str.split(",").list.first().alias("vep_ms"))
    )
    j = ours.join(vep_ms, left_on="variant_id", right_on="Uploaded_variation")
    assert j.height > 4000
    agree = (j["most_severe_consequence"] == j["vep_ms"]).mean()
    assert agree >= 0.995, j.filter(pl.col("most_severe_consequence") != pl.col("vep_ms")).head()


def test_real_sample_annotates_every_variant(bundle, data_root):
    parsed = read_vcf(data_root / "samples" / "HG00096_chr21_region.vcf", bundle)
    out = annotate(parsed.variants, bundle)
    assert set(out["row"].unique()) == set(parsed.variants["row"])
    assert out["Consequence"].null_count() == 0
    s = summarise(out)
    assert s.height == parsed.variants.height
    # most of a real individual's variants are already known to dbSNP
    assert s["existing_variation"].is_not_null().mean() > 0.8


def test_empty_input(bundle):
    out = annotate(_variants([]), bundle)
    assert out.height == 0 and out.columns == OUTPUT_COLUMNS


def test_summarise_intergenic_and_minimal_frame(bundle):
    """A frame with only chrom/pos/ref/alt is accepted; summarise keeps every variant, intergenic included."""
    v = pl.DataFrame({"chrom": ["21", "21"], "pos": [25891784, 24985600], "ref": ["C", bundle.fetch("21", 24985600, 24985600)],
                      "alt": ["T", "A" if bundle.fetch("21", 24985600, 24985600) != "A" else "G"]})
    s = summarise(annotate(v, bundle)).sort("row")
    assert s.height == 2
    assert s["most_severe_consequence"][0] == "missense_variant" and s["gene_symbol"][0] == "APP"
    assert s["canonical"][0] is True and s["hgvsc"][0] == "ENST00000346798.7:c.2149G>A"


def test_clinvar_significance_from_bundle(bundle, data_root):
    """The 27 ClinVar records of data/samples carry CLNSIG in their INFO: CLIN_SIG must say the same."""
    parsed = read_vcf(data_root / "samples" / "clinvar2016_chr21_region.vcf", bundle)
    s = summarise(annotate(parsed.variants, bundle))
    expected = {}
    for line in (data_root / "samples" / "clinvar2016_chr21_region.vcf").read_text().splitlines():
        if line.startswith("#"):
            continue
        f = line.split("\t")
        expected[f[2]] = dict(kv.split("=") for kv in f[7].split(";"))["CLNSIG"].lower()
    got = dict(zip(s["variant_id"], s["clin_sig"]))
    assert set(got) == set(expected)
    for vid, sig in expected.items():
        assert got[vid] is not None and sig in got[vid].split(","), (vid, got[vid], sig)


def test_mnv_large_deletion_and_ablation(bundle):
    """Multi-base changes take the per-pair path. Expectations worked by hand from VEP's single-base rows
    (c.2149 is 21:25891784, codon 717 GTC on the minus strand)."""
    f = bundle.fetch
    v = _variants([
        ("21", 25891783, "AC", "GT"),  # both bases of c.2149_2150: GTC -> ACC
        ("21", 25585600, f("21", 25585600, 25607600), f("21", 25585600, 25585600)),  # all of MRPL39
        ("21", 25891700, f("21", 25891700, 25892700), f("21", 25891700, 25891700)),  # an APP exon
    ])
    out = annotate(v, bundle)
    app = out.filter((pl.col("row") == 0) & (pl.col("Feature") == "ENST00000346798")).to_dicts()[0]
    assert app["Consequence"] == "missense_variant" and app["Codons"] == "GTc/ACc" and app["Amino_acids"] == "V/T"
    assert app["HGVSc"] == "ENST00000346798.7:c.2149_2150delinsAC" and app["HGVSp"].endswith("p.Val717Thr")
    mrpl39 = out.filter((pl.col("row") == 1) & (pl.col("SYMBOL") == "MRPL39"))
    assert mrpl39.height >= 3 and set(mrpl39["Consequence"]) == {"transcript_ablation"}
    exon = out.filter((pl.col("row") == 2) & (pl.col("Feature") == "ENST00000346798")).to_dicts()[0]
    assert "splice_acceptor_variant" in exon["Consequence"] and exon["EXON"] == "17/18"
    assert summarise(out).height == 3


def test_chr_prefixed_contig(bundle):
    out = annotate(_variants([("chr21", 25891784, "C", "T")]), bundle)
    assert "missense_variant" in set(out["Consequence"]) and set(out["chrom"]) == {"21"}
