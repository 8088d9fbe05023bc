"""HGVS -> features: hand-checked parses, agreement with Ensembl VEP's own consequences, one code path."""

import math

import polars as pl
import pytest

from hcml.ml.features import (
    CONSEQUENCE_CLASSES,
    POPULATION_FEATURES,
    VARIANT_FEATURES,
    _SO_FALLBACK,
    features_from_hgvs,
    features_from_summary,
)


def _one(hgvs_c, hgvs_p=None, symbol="GENE"):
    return features_from_hgvs(pl.DataFrame({"hgvs_c": [hgvs_c], "hgvs_p": [hgvs_p], "symbol": [symbol]})).row(0, named=True)


def test_missense_substitution_properties():
    # APP V717I (London mutation), hand-checked: BLOSUM62(V,I)=3, Grantham 29, KD hydropathy 4.5-4.2
    f = _one("NM_000484.3:c.2149G>A", "NP_000475.1:p.Val717Ile", "APP")
    assert f["consequence_class"] == "missense"
    assert (f["ref_aa"], f["alt_aa"], f["protein_position"]) == ("V", "I", 717)
    assert f["blosum62"] == 3 and f["grantham"] == pytest.approx(29, abs=1.5)
    assert f["hydrophobicity_delta"] == pytest.approx(0.3, abs=1e-6)
    assert f["ref_aa_V"] == 1 and f["alt_aa_I"] == 1 and f["class_missense"] == 1
    assert f["is_snv"] == 1 and f["log_indel_length"] == 0 and f["is_intronic"] == 0
    assert f["log_protein_position"] == pytest.approx(math.log1p(717))


@pytest.mark.parametrize(
    ("hgvs_c", "hgvs_p", "klass", "checks"),
    [
        ("NM_000350.2:c.1938-1G>A", None, "splice_site", {"intron_offset_le2": 1, "intron_donor_side": 0, "log_intron_offset": math.log1p(1)}),
        ("NM_007294.3:c.4484+5G>A", None, "splice_region", {"intron_donor_side": 1, "intron_offset_le8": 1, "intron_offset_le2": 0}),
        ("NM_007294.3:c.4484+899C>T", None, "intron", {"log_intron_offset": math.log1p(899)}),
        ("NM_001080522.2:c.3976-15C>A", None, "splice_region", {"intron_donor_side": 0}),  # polypyrimidine tract
        ("NM_007294.3:c.531dupT", None, "frameshift", {"is_duplication": 1, "log_indel_length": math.log1p(1), "indel_in_frame": 0}),
        ("NM_080605.3:c.415_423delATGCTGGCC", "NP_542172.2:p.Met139_Ala141del", "inframe_indel", {"is_deletion": 1, "log_indel_length": math.log1p(9), "indel_in_frame": 1}),
        ("NM_000030.2:c.860_861delGCinsCG", "NP_000021.1:p.Ser287Thr", "missense", {"is_delins": 1, "indel_in_frame": 0}),
        ("NM_134424.3:c.*325C>G", None, "three_prime_utr", {"log_utr_distance": math.log1p(325)}),
        ("NM_000314.6:c.-930G>A", None, "five_prime_utr", {"log_utr_distance": math.log1p(930)}),
        ("NM_000249.3:c.851T>A", "NP_000240.1:p.Leu284Ter", "stop_gained", {"has_protein_change": 1}),
        ("NM_000089.3:c.2700C>T", "NP_000080.2:p.Ala900=", "synonymous", {}),
        ("ENST00000358918.7:c.2004A>G", "ENSP00000351796.3:p.Gln668%3D", "synonymous", {}),  # VEP's URL-encoded '='
        ("NM_080605.3:c.1A>G", "NP_542172.2:p.Met1Val", "start_lost", {}),
        ("ENST00000307301.11:c.2del", "ENSP00000305682.7:p.Met1?", "start_lost", {}),
        ("NM_006941.3:c.1400_*10delAAAGGGGGCCCT", "NP_008872.1:p.*467Cysext*82", "stop_lost", {}),
        ("NM_017813.4:c.324delC", "NP_060283.3:p.Ser108Argfs", "frameshift", {"is_deletion": 1}),
        ("ENST00000357903.7:c.1370del", "ENSP00000350578.3:p.Tyr457SerfsTer19", "frameshift", {}),
        ("ENST00000487266.1:n.191-3543A>G", None, "intron", {}),
        ("ENST00000436405.1:n.50A>G", None, "non_coding", {}),
        (None, None, "other", {"has_protein_change": 0}),
    ],
)
def test_hand_checked_parses(hgvs_c, hgvs_p, klass, checks):
    f = _one(hgvs_c, hgvs_p)
    assert f["consequence_class"] == klass
    assert f[f"class_{klass}"] == 1 and sum(f[f"class_{c}"] for c in CONSEQUENCE_CLASSES) == 1
    for name, expected in checks.items():
        assert f[name] == pytest.approx(expected, abs=1e-6), name
    if klass != "missense":
        assert f["blosum62"] == 0 and f["ref_aa"] is None


def test_features_never_null_and_finite_on_all_clinvar(data_root):
    raw = pl.read_csv(data_root / "clinvar" / "clinvar_2016-05-20.lifted_GRCh38.tsv.gz", separator="\t", infer_schema_length=0)
    f = features_from_hgvs(raw)
    assert f.height == raw.height == 117_566
    numeric = f.select([*VARIANT_FEATURES, *POPULATION_FEATURES])
    assert numeric.null_count().sum_horizontal().item() == 0
    assert numeric.select(pl.all().is_finite().all()).row(0) == tuple([True] * numeric.width)
    # every record whose ClinVar p. notation is a plain substitution is classed missense
    plain = raw["hgvs_p"].fill_null("").str.contains(r"p\.(Ala|Arg|Asn|Asp|Cys|Gln|Glu|Gly|His|Ile|Leu|Lys|Met|Phe|Pro|Ser|Thr|Trp|Tyr|Val)\d+(Ala|Arg|Asn|Asp|Cys|Gln|Glu|Gly|His|Ile|Leu|Lys|Met|Phe|Pro|Ser|Thr|Trp|Tyr|Val)$")
    not_start = ~raw["hgvs_p"].fill_null("").str.contains(r"p\.Met1[A-Z]")
    assert (f.filter(plain & not_start)["consequence_class"] == "missense").all()


# (VEP's most severe term class, our HGVS class): differences that HGVS notation cannot resolve, allowed.
ALLOWED_DIFFERENCES = {
    ("splice_region", "synonymous"),  # exonic splice region (last/first 3 exon bases): invisible in c./p.
    ("splice_region", "five_prime_utr"),
    ("splice_region", "three_prime_utr"),
    ("splice_region", "missense"),
    ("frameshift", "stop_gained"),  # frameshift whose first new codon is a stop: VEP's HGVSp says p.XnnTer
    ("frameshift", "start_lost"),  # frameshift at the start codon, HGVSp p.Met1?
    ("frameshift", "synonymous"),  # frameshift after the stop codon: p.Ter771=
    ("frameshift", "splice_site"),  # deletion spanning the exon/intron boundary
    ("frameshift", "inframe_indel"),
    ("splice_site", "frameshift"),  # VEP shifts indels at boundaries; HGVS is 3'-shifted differently
    ("splice_site", "inframe_indel"),
    ("splice_region", "splice_site"),
    ("splice_region", "intron"),
    ("intron", "splice_region"),
    ("inframe_indel", "splice_site"),
    ("inframe_indel", "frameshift"),  # insertion at the stop codon (stop_retained), no HGVSp
    ("start_lost", "inframe_indel"),
    ("start_lost", "five_prime_utr"),
    ("stop_lost", "three_prime_utr"),
    ("stop_lost", "inframe_indel"),
    ("five_prime_utr", "frameshift"),
}


@pytest.mark.slow
def test_consequence_class_agrees_with_ensembl_vep(data_root):
    """On Ensembl VEP 115's own output (34k saturation variants x protein-coding transcripts), the class we
    derive from VEP's HGVSc/HGVSp equals the class of VEP's most severe term for >= 99% of rows."""
    vep = pl.read_csv(data_root / "truth" / "saturation.vep115.tsv.gz", separator="\t", infer_schema_length=0, null_values=["-"])
    vep = vep.filter(pl.col("BIOTYPE") == "protein_coding", pl.col("HGVSc").is_not_null())
    summary = vep.select(
        pl.col("HGVSc").alias("hgvsc"), pl.col("HGVSp").alias("hgvsp"), pl.col("SYMBOL").alias("gene_symbol"),
        pl.col("Consequence").alias("most_severe_consequence"),
    )
    got = features_from_summary(summary)["consequence_class"]
    expected = vep["Consequence"].str.split(",").list.first().replace_strict(_SO_FALLBACK, default="other")
    agree = (got == expected).mean()
    assert agree >= 0.99, agree
    pairs = set(zip(expected.filter(got != expected).to_list(), got.filter(got != expected).to_list(), strict=True))
    assert pairs <= ALLOWED_DIFFERENCES, pairs - ALLOWED_DIFFERENCES
    # missense rows: amino acids from HGVSp equal VEP's Amino_acids column
    mis = vep.with_columns(got.alias("klass")).filter(pl.col("klass") == "missense")
    f = features_from_summary(mis.select(pl.col("HGVSc").alias("hgvsc"), pl.col("HGVSp").alias("hgvsp"), pl.col("SYMBOL").alias("gene_symbol")))
    assert mis.height > 10_000
    assert (f["ref_aa"] + "/" + f["alt_aa"] == mis["Amino_acids"]).all()
    assert (f["protein_position"].cast(pl.Utf8) == mis["Protein_position"]).all()


def test_summary_and_hgvs_paths_are_the_same_function():
    """The same strings through both entry points give identical features (names differ, code path does not)."""
    rows = {
        "c": ["NM_000484.3:c.2149G>A", "ENST00000346798.7:c.2149G>A", "NM_000484.3:c.1938-1G>A", None],
        "p": ["NP_000475.1:p.Val717Ile", "ENSP00000284981.4:p.Val717Ile", None, None],
    }
    from polars.testing import assert_frame_equal

    from hcml.ml.proteins import refseq_proteins

    app770 = refseq_proteins()["NP_000475"]
    sequences = {"NP_000475": app770, "ENSP00000284981": app770}  # the same protein under both accessions
    a = features_from_hgvs(pl.DataFrame({"hgvs_c": rows["c"], "hgvs_p": rows["p"], "symbol": ["APP"] * 4}), sequences)
    b = features_from_summary(pl.DataFrame({"hgvsc": rows["c"], "hgvsp": rows["p"], "gene_symbol": ["APP"] * 4,
                                            "most_severe_consequence": [None, None, None, "intergenic_variant"]}),
                              sequences)
    assert_frame_equal(a, b)
    assert a.row(0) == a.row(1)  # RefSeq vs Ensembl accession: same features
    assert a["relative_position"][0] == pytest.approx(717 / 770)


def test_summary_population_frequency_is_carried():
    b = features_from_summary(pl.DataFrame({"hgvsc": ["X:c.1A>G"], "hgvsp": [None], "gene_symbol": ["G"], "af": [0.01], "gnomade_af": [None]},
                                           schema_overrides={"gnomade_af": pl.Float64}))
    assert b["af_known"].item() == 1 and b["log10_af"].item() == pytest.approx(-2.0)
