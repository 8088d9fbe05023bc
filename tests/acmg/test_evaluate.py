"""The concordance evaluation: a variant is never its own evidence, and the dangerous-flip bar holds on the
model's held-out genes."""

from __future__ import annotations

import re

import polars as pl

from hcml.acmg.classify import classify, input_from_hgvs
from hcml.config import default_sources

_P = r"p\.([A-Z][a-z]{2})(\d+)([A-Z][a-z]{2})$"


def _pathogenic_missense() -> pl.DataFrame:
    from hcml.ml.data import label_expr  # the platform's label rule: non-clinical tags ("risk factor") ignored

    cv = pl.read_csv(default_sources()["clinvar"], separator="\t", infer_schema=False)
    plp = label_expr() == 1
    one_star = pl.col("review_status").is_in(["criteria provided, single submitter",
                                              "criteria provided, multiple submitters, no conflicts",
                                              "reviewed by expert panel", "practice guideline"])
    p = pl.col("hgvs_p").str.extract_groups(_P)
    return (cv.filter(plp & one_star & (pl.col("conflicted") == "0") & pl.col("symbol").is_not_null())
            .with_columns(p.struct.field("2").alias("residue"), p.struct.field("3").alias("alt3"))
            .filter(pl.col("residue").is_not_null() & (p.struct.field("1") != pl.col("alt3"))
                    & (pl.col("alt3") != "Ter") & (pl.col("residue") != "1")))


def test_a_variant_is_never_its_own_ps1_or_pm5(bundle):
    """Residues where exactly one P/LP missense record exists (read from the ClinVar TSV here): with its own id
    removed the variant has no PS1/PM5; counted as a stranger (no id), its own record would give it PS1."""
    mis = _pathogenic_missense()
    lone = mis.filter(pl.len().over("symbol", "residue") == 1).sort("measureset_id").head(60)
    rows = lone.select("symbol", "hgvs_c", "hgvs_p", "measureset_id")
    with_self = classify(input_from_hgvs(rows), bundle, None)
    stranger = classify(input_from_hgvs(rows.with_columns(pl.lit(None, dtype=pl.Utf8).alias("measureset_id"))), bundle, None)
    n_ps1 = 0
    for i in range(rows.height):
        own = with_self["acmg_criteria"][i].split(", ")
        assert "PS1" not in own and "PM5" not in own, (rows.row(i), own)
        n_ps1 += "PS1" in stranger["acmg_criteria"][i].split(", ")
    assert n_ps1 == rows.height  # the record itself is found when it is not excluded


def test_pm5_names_another_change_at_the_residue(bundle):
    mis = _pathogenic_missense()
    shared = mis.filter(pl.col("alt3").n_unique().over("symbol", "residue") >= 2).sort("measureset_id").head(30)
    out = classify(input_from_hgvs(shared.select("symbol", "hgvs_c", "hgvs_p", "measureset_id")), bundle, None)
    for i, line in enumerate(out["acmg_evidence"].to_list()):
        pm5 = [x for x in line if x.startswith("PM5")]
        assert pm5, shared.row(i, named=True)
        named = re.search(r"ClinVar (\S+) (\S+)", pm5[0])
        assert named.group(1) != shared["measureset_id"][i]
        assert named.group(2) != shared["hgvs_p"][i].split(":")[-1]


def test_held_out_genes_dangerous_flips_within_the_bar(bundle):
    from hcml.acmg.evaluate import evaluate
    from hcml.ml.data import _split_of
    from hcml.ml.serving import load_bundled

    result = evaluate(bundle, load_bundled())
    assert result["n_variants"] > 5000
    assert result["dangerous_flip_rate"] <= 0.005, result["flip_examples"]
    # every evaluated gene is one the model never trained on
    genes = {e["gene"] for e in result["flip_examples"]}
    assert all(_split_of(g) == "test" for g in genes)
    assert 0 < result["vus_share"] < 1
    assert {c["consequence_class"] for c in result["per_consequence_class"]} >= {"missense", "frameshift", "stop_gained"}
