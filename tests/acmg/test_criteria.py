"""Each criterion on real variants (APP in the bundle, the ClinVar and 1000 Genomes samples in data/samples),
with the expectation computed here from the source files (GTF, ClinVar TSV, known variants, gnomAD constraint)
and the rule as published (Richards 2015, ClinGen SVI PVS1 tree: Abou Tayoun 2018)."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from hcml.acmg.classify import classify_summary
from hcml.acmg.config import parse_config
from hcml.config import default_sources, reference_data_dir
from hcml.genomics.annotate import annotate, summarise
from hcml.genomics.inputs import parse_variant_strings, read_vcf
from hcml.ml.evidence import model_thresholds as evidence_thresholds

APP_TX = "ENST00000346798"
SAMPLES = reference_data_dir() / "samples"


def _criteria(out: pl.DataFrame, i: int) -> list[str]:
    return [c for c in out["acmg_criteria"][i].split(", ") if c]


def _classify(bundle, variants: list[str], config=None, model=None) -> pl.DataFrame:
    parsed = parse_variant_strings(variants, bundle)
    assert parsed.rejects.height == 0, parsed.rejects
    summary = summarise(annotate(parsed.variants, bundle)).sort("row")
    return classify_summary(summary, bundle, model, config)


# ---------------------------------------------------------------- PVS1: the SVI tree's NMD rule on APP
def _app_exons_from_gtf() -> tuple[list[tuple[int, int]], int]:
    """APP-770's exons in transcript order and the genomic position of c.1, read from the GTF itself."""
    exons, start = [], None
    with gzip.open(default_sources()["gtf"], "rt") as fh:
        for line in fh:
            if APP_TX not in line or line.startswith("#"):
                continue
            f = line.split("\t")
            if f[2] == "exon":
                n = int(re.search(r'exon_number "(\d+)"', f[8]).group(1))
                exons.append((n, int(f[3]), int(f[4])))
            elif f[2] == "start_codon":
                start = int(f[4])  # minus strand: c.1 is the start codon's last genomic base
    exons.sort()
    return [(s, e) for _, s, e in exons], start


def _last_junction_c() -> int:
    """c. position of the last base before the last exon-exon junction (minus strand)."""
    exons, c1 = _app_exons_from_gtf()
    utr5 = sum(max(0, min(e, 10**10) - max(s, c1 + 1) + 1) for s, e in exons if e > c1)  # bases 5' of c.1
    return sum(e - s + 1 for s, e in exons[:-1]) - utr5


APP_LOF = parse_config("genes:\n  APP:\n    pvs1_max_loeuf: 0.5\n", "test")  # APP's LOEUF is 0.41


def test_pvs1_not_met_where_lof_is_not_the_mechanism(bundle):
    """APP: LOEUF >= 0.35 in gnomAD v2.1 and no ClinVar P/LP null variant of >= 1 star -> LoF not established."""
    constraint = pl.read_csv(reference_data_dir() / "constraint" / "gnomad_v2.1_constraint_acmg_columns.tsv.gz",
                             separator="\t", infer_schema=False)
    assert float(constraint.filter(pl.col("gene") == "APP")["oe_lof_upper"][0]) >= 0.35
    cv = pl.read_csv(default_sources()["clinvar"], separator="\t", infer_schema=False)
    app_null = cv.filter((pl.col("symbol") == "APP") & pl.col("clinical_significance").str.contains("athogenic")
                         & pl.col("review_status").str.starts_with("criteria provided")
                         & pl.col("hgvs_p").str.contains(r"Ter|fs|\*"))
    assert app_null.height < 2
    out = _classify(bundle, [f"{APP_TX}.7:c.100del"])
    assert not any(c.startswith("PVS1") for c in _criteria(out, 0))


def test_pvs1_strength_follows_the_nmd_rule(bundle):
    j = _last_junction_c()
    cases = {  # c. of a 1-bp deletion -> strength by the SVI tree (the truncation is near the protein's end)
        j - 80: "PVS1",  # > 50 nt before the last junction: NMD predicted
        j - 20: "PVS1_Moderate",  # last 50 nt of the penultimate exon: NMD escape, < 10 % of 770 aa lost
        j + 30: "PVS1_Moderate",  # last exon
    }
    out = _classify(bundle, [f"{APP_TX}.7:c.{c}del" for c in cases], config=APP_LOF)
    for i, (c, expected) in enumerate(cases.items()):
        codes = [x for x in _criteria(out, i) if x.startswith("PVS1")]
        assert codes == [expected], (c, j, out["acmg_evidence"][i].to_list())
        line = next(x for x in out["acmg_evidence"][i].to_list() if x.startswith("PVS1"))
        assert "LOEUF 0.41 < 0.5" in line


# ---------------------------------------------------------------- PS1 / PM5 on the APP ClinVar sample
def _clinvar_app_missense() -> pl.DataFrame:
    cv = pl.read_csv(default_sources()["clinvar"], separator="\t", infer_schema=False)
    cv = cv.filter((pl.col("symbol") == "APP") & (pl.col("conflicted") == "0"))
    sig = pl.col("clinical_significance").str.split(";")
    plp = sig.list.eval(pl.element().is_in(["Pathogenic", "Likely pathogenic"])).list.all()
    p = pl.col("hgvs_p").str.extract_groups(r"p\.([A-Z][a-z]{2})(\d+)([A-Z][a-z]{2})$")
    return cv.filter(plp).with_columns(p.struct.field("2").cast(pl.Int64).alias("residue"),
                                        p.struct.field("3").alias("alt3"), pl.col("hgvs_c").alias("c")).drop_nulls("residue")


def test_ps1_pm5_against_clinvar_app_records(bundle):
    """With every ClinVar record as evidence (clinvar_min_stars 0: APP's 2016 records are literature-based):
    PS1 iff another P/LP record has the same new amino acid at the residue (a different c.), PM5 iff one has
    another new amino acid there. The variant's own record never counts."""
    config = parse_config("defaults:\n  clinvar_min_stars: 0\n", "test")
    parsed = read_vcf(SAMPLES / "clinvar2016_chr21_region.vcf", bundle)
    summary = summarise(annotate(parsed.variants, bundle)).sort("row")
    out = classify_summary(summary, bundle, None, config)
    truth = _clinvar_app_missense()
    checked = 0
    for i, hgvsp in enumerate(summary["hgvsp"].to_list()):
        m = re.search(r"p\.([A-Z][a-z]{2})(\d+)([A-Z][a-z]{2})$", hgvsp or "")
        if not m or m.group(1) == m.group(3):
            continue
        residue, alt3 = int(m.group(2)), m.group(3)
        here = truth.filter(pl.col("residue") == residue)
        own = summary["hgvsc"][i].split(":")[1]
        others = here.filter(~pl.col("c").str.ends_with(own))
        codes = _criteria(out, i)
        assert ("PS1" in codes) == (others.filter(pl.col("alt3") == alt3).height > 0), (hgvsp, codes)
        assert ("PM5" in codes) == (others.filter(pl.col("alt3") != alt3).height > 0), (hgvsp, codes)
        checked += 1
    assert checked >= 20
    # the V717 residue has several pathogenic changes: PM5 names one of the others, never the variant itself
    v717i = summary["hgvsp"].to_list().index(next(h for h in summary["hgvsp"] if h.endswith("Val717Ile")))
    line = next(x for x in out["acmg_evidence"][v717i].to_list() if x.startswith("PM5"))
    assert "Val717Ile" not in line and "Val717" in line


# ---------------------------------------------------------------- PM2 / BA1 / BS1 on a real individual
def test_frequency_criteria_on_hg00096(bundle):
    parsed = read_vcf(SAMPLES / "HG00096_chr21_region.vcf", bundle)
    summary = summarise(annotate(parsed.variants, bundle)).sort("row")
    out = classify_summary(summary, bundle, None)
    kv = pl.read_csv(default_sources()["known_variants"], separator="\t", infer_schema=False)
    # the highest of 1000 Genomes (global, super-populations) and gnomAD exomes AF of the alt allele, read from
    # the source table ("T:0.001" per allele)
    afs = {}
    for pos, alleles, *fields in kv.select("start", "allele_string", "AF", "AFR", "AMR", "EAS", "EUR", "SAS",
                                           "gnomADe").iter_rows():
        ref, *alts = alleles.split("/")
        for field in fields:
            for part in (field or ".").split(","):
                if ":" in part:
                    a, v = part.split(":")
                    key = (int(pos), ref, a)
                    afs[key] = max(afs.get(key, 0.0), float(v))
    n_ba1 = n_pm2 = n_between = 0
    for i, (pos, ref, alt) in enumerate(summary.select("pos", "ref", "alt").iter_rows()):
        top = afs.get((pos, ref, alt), 0.0)
        codes = _criteria(out, i)
        assert ("BA1" in codes) == (top > 0.05), (pos, ref, alt, top, codes)
        assert ("BS1" in codes) == (0.01 < top <= 0.05), (pos, top, codes)
        assert ("PM2_Supporting" in codes) == (top <= 0.0001), (pos, top, codes)
        if top > 0.05:
            assert out["acmg_class"][i] == "Benign"
            n_ba1 += 1
        n_pm2 += top <= 0.0001
        n_between += 0.0001 < top <= 0.05
    assert n_ba1 >= 5 and n_between >= 5  # both bands occur (PM2 on absent variants: the APP sample tests)


def test_population_criteria_not_evaluated_outside_the_data(bundle):
    """A variant read from HGVS alone has no position in the population data: PM2/BA1/BS1 are not evaluated."""
    from hcml.acmg.classify import classify, input_from_hgvs

    rows = pl.DataFrame({"symbol": ["BRCA1"], "hgvs_c": ["NM_007294.3:c.68_69delAG"], "hgvs_p": ["NP_009225.1:p.Glu23Valfs"],
                         "measureset_id": ["17662"]})
    out = classify(input_from_hgvs(rows), bundle, None)
    reasons = " ".join(out["acmg_not_evaluated"][0].to_list())
    for code in ("PM2:", "BA1:", "BS1:"):
        assert code in reasons
    assert "no population data" in reasons


# ---------------------------------------------------------------- PM4 / BP7 / not evaluated
def test_pm4_bp7_on_the_app_sample(bundle):
    parsed = read_vcf(SAMPLES / "clinvar2016_chr21_region.vcf", bundle)
    summary = summarise(annotate(parsed.variants, bundle)).sort("row")
    out = classify_summary(summary, bundle, None)
    for i, (csq, hgvsp) in enumerate(summary.select("most_severe_consequence", "hgvsp").iter_rows()):
        codes = _criteria(out, i)
        # PM4: the protein's length changes (the Swedish double substitution p.Lys670_Met671delinsAsnLeu does not)
        assert ("PM4" in codes) == (csq in ("inframe_deletion", "inframe_insertion", "stop_lost")), (csq, codes)
        assert ("BP7" in codes) == (csq == "synonymous_variant"), (csq, codes)
        assert out["acmg_class"][i] is not None
        text = " ".join(out["acmg_not_evaluated"][i].to_list())
        assert "PP3: model has no calibrated thresholds" in text


# ---------------------------------------------------------------- PP3 / BP4 from the model's thresholds
class _Model:
    model_name, model_version = "test-model", "1"

    def __init__(self, info):
        self.info = info


def test_pp3_bp4_strength_from_evidence_thresholds(bundle):
    thresholds = {"pathogenic": {"supporting": 0.6, "moderate": 0.8, "strong": 0.95},
                  "benign": {"supporting": 0.3, "moderate": 0.1, "strong": 0.02}}
    model = _Model({"evidence_thresholds": thresholds})
    assert evidence_thresholds(model) == thresholds
    assert evidence_thresholds(_Model({})) is None
    # the shape hcml.ml.evidence stores in the model's info: {level: {"threshold": score, ...}}
    stored = {side: {lvl: {"threshold": t, "ci95": None} for lvl, t in levels.items()} for side, levels in thresholds.items()}
    assert evidence_thresholds(_Model({"evidence_thresholds": stored})) == thresholds
    parsed = read_vcf(SAMPLES / "clinvar2016_chr21_region.vcf", bundle)
    summary = summarise(annotate(parsed.variants, bundle)).sort("row")
    scores = np.linspace(0.0, 1.0, summary.height)
    summary = summary.with_columns(pl.Series("pathogenicity_score", scores))
    out = classify_summary(summary, bundle, model)
    for i, (s, hgvsp, terms) in enumerate(zip(scores, summary["hgvsp"], summary["consequence_terms"])):
        codes = _criteria(out, i)
        m = re.search(r"p\.([A-Z][a-z]{2})\d+([A-Z][a-z]{2})$", hgvsp or "")
        if not m or m.group(1) == m.group(2):  # calibrated for single amino-acid substitutions only
            assert not any(c.startswith(("PP3", "BP4")) for c in codes)
            continue
        expected = ("PP3_Strong" if s >= 0.95 else "PP3_Moderate" if s >= 0.8 else "PP3" if s >= 0.6 else
                    "BP4_Strong" if s <= 0.02 else "BP4_Moderate" if s <= 0.1 else "BP4" if s <= 0.3 else None)
        if expected and expected.startswith("BP4") and "splice" in terms:  # BP4 needs splicing not implicated
            expected = None
        got = [c for c in codes if c.startswith(("PP3", "BP4"))]
        assert got == ([expected] if expected else []), (s, codes)


# ---------------------------------------------------------------- configuration
def test_per_gene_override_disables_a_criterion(bundle):
    config = parse_config("genes:\n  APP:\n    disabled: [BP7, PM2]\n", "panel.yaml")
    parsed = read_vcf(SAMPLES / "clinvar2016_chr21_region.vcf", bundle)
    summary = summarise(annotate(parsed.variants, bundle)).sort("row")
    out = classify_summary(summary, bundle, None, config)
    assert not any("BP7" in c or "PM2" in c for c in out["acmg_criteria"].to_list())
    assert all("PM2: disabled for APP by panel.yaml" in x.to_list() for x in out["acmg_not_evaluated"])
    default = classify_summary(summary, bundle, None)
    assert all("PM2_Supporting" in c for c in default["acmg_criteria"].to_list()[:5])


def test_config_errors_name_the_key_and_the_digest_follows_the_content(tmp_path: Path, monkeypatch):
    from hcml.acmg.config import AcmgConfigError, load_config

    with pytest.raises(AcmgConfigError, match=r"genes.APP.bs1: unknown setting"):
        parse_config("genes:\n  APP:\n    bs1: 0.1\n", "x.yaml")
    with pytest.raises(AcmgConfigError, match=r"defaults.ba1_af: a number"):
        parse_config("defaults:\n  ba1_af: high\n", "x.yaml")
    with pytest.raises(AcmgConfigError, match=r"disabled: a list of criteria"):
        parse_config("defaults:\n  disabled: [PS3]\n", "x.yaml")
    f = tmp_path / "acmg.yaml"
    f.write_text("defaults:\n  bs1_af: 0.02\n")
    monkeypatch.setenv("HCML_ACMG_CONFIG", str(f))
    a = load_config()
    f.write_text("defaults:\n  bs1_af: 0.03\n")
    b = load_config()
    monkeypatch.delenv("HCML_ACMG_CONFIG")
    c = load_config()
    assert a.defaults.bs1_af == 0.02 and b.defaults.bs1_af == 0.03
    assert len({a.sha256, b.sha256, c.sha256}) == 3
    monkeypatch.setenv("HCML_ACMG_CONFIG", str(tmp_path / "missing.yaml"))
    with pytest.raises(AcmgConfigError, match="missing.yaml: cannot read"):
        load_config()


def test_pvs1_tree_for_variants_read_from_hgvs(bundle):
    """ClinGen SVI PVS1 tree (Abou Tayoun 2018) on BRCA1, whose LoF mechanism is established by ClinVar's
    pathogenic truncating variants (counted from the TSV here): canonical splice ->
    PVS1_Strong (splicing outcome not predicted); initiation codon -> PVS1_Supporting; nonsense without exon
    structure -> NMD assumed (PVS1). A missense gets no PVS1."""
    from hcml.acmg.classify import classify, input_from_hgvs

    constraint = pl.read_csv(reference_data_dir() / "constraint" / "gnomad_v2.1_constraint_acmg_columns.tsv.gz",
                             separator="\t", infer_schema=False)
    # BRCA1 is not LoF-intolerant in gnomAD (LOEUF 0.9): its mechanism comes from ClinVar's truncating P/LP
    assert float(constraint.filter(pl.col("gene") == "BRCA1")["oe_lof_upper"].cast(pl.Float64).min()) >= 0.35
    cv = pl.read_csv(default_sources()["clinvar"], separator="\t", infer_schema=False)
    truncating = cv.filter((pl.col("symbol") == "BRCA1") & (pl.col("clinical_significance") == "Pathogenic")
                           & pl.col("review_status").str.starts_with("criteria provided, single")
                           & pl.col("hgvs_p").str.contains("Ter$"))
    assert truncating.height >= 2
    rows = pl.DataFrame({
        "symbol": ["BRCA1"] * 4,
        "hgvs_c": ["NM_007294.3:c.4096+1G>A", "NM_007294.3:c.1A>G", "NM_007294.3:c.1687C>T", "NM_007294.3:c.5123C>A"],
        "hgvs_p": [None, "NP_009225.1:p.Met1Val", "NP_009225.1:p.Gln563Ter", "NP_009225.1:p.Ala1708Glu"],
    })
    out = classify(input_from_hgvs(rows), bundle, None)
    pvs1 = [[c for c in out["acmg_criteria"][i].split(", ") if c.startswith("PVS1")] for i in range(4)]
    assert pvs1 == [["PVS1_Strong"], ["PVS1_Supporting"], ["PVS1"], []]
    nonsense = next(x for x in out["acmg_evidence"][2].to_list() if x.startswith("PVS1"))
    assert "NMD assumed" in nonsense and "other ClinVar P/LP null variants in BRCA1" in nonsense
