"""Concordance of the classification with ClinVar on the model's held-out genes.

The set: ClinVar 2016 records of the genes `hcml.ml.data` holds out for testing (a salted hash of the gene
symbol, the same split every model is evaluated on), with a review status of at least one submitter with
criteria (1 star), not conflicted, and one significance tier (P/LP, VUS or B/LB). Each variant is classified
from its HGVS as the model reads it, with its own ClinVar record(s) removed from every ClinVar look-up
(PS1, PM5, PP2, BP1 and PVS1's mechanism rule): it is never its own evidence.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

from hcml.acmg import combine

if TYPE_CHECKING:
    from hcml.genomics.bundle.load import ReferenceBundle

TIER = {
    combine.PATHOGENIC: "P/LP",
    combine.LIKELY_PATHOGENIC: "P/LP",
    combine.UNCERTAIN: "VUS",
    combine.LIKELY_BENIGN: "B/LB",
    combine.BENIGN: "B/LB",
}
MIN_STARS = 1
DANGEROUS_FLIP_TARGET = 0.005


def evaluation_set(split: str = "test", min_stars: int = MIN_STARS) -> pl.DataFrame:
    """ClinVar rows of the held-out genes with one significance tier (`clinvar_tier`), one row per variant."""
    from hcml.acmg.reference import review_stars
    from hcml.config import default_sources
    from hcml.ml.data import BENIGN, PATHOGENIC, _split_of, read_clinvar

    cv = read_clinvar(default_sources()["clinvar"]).filter(pl.col("symbol").is_not_null())
    tokens = pl.col("clinical_significance").fill_null("").str.split(";")
    all_in = lambda terms: tokens.list.eval(pl.element().is_in(list(terms))).list.all()  # noqa: E731
    tier = (
        pl.when(all_in(PATHOGENIC))
        .then(pl.lit("P/LP"))
        .when(all_in(BENIGN))
        .then(pl.lit("B/LB"))
        .when(all_in({"Uncertain significance"}))
        .then(pl.lit("VUS"))
    )
    cv = cv.with_columns(tier.alias("clinvar_tier"), review_stars().alias("stars")).filter(
        pl.col("clinvar_tier").is_not_null()
        & (pl.col("stars") >= min_stars)
        & (pl.col("conflicted").cast(pl.Int8, strict=False).fill_null(0) == 0)
        & pl.col("hgvs_c").is_not_null()
    )
    genes = cv.select(pl.col("symbol").unique())
    genes = genes.with_columns(pl.col("symbol").map_elements(_split_of, return_dtype=pl.Utf8).alias("split"))
    held = genes.filter(pl.col("split") == split)["symbol"]
    cv = cv.filter(pl.col("symbol").is_in(held.implode()))
    # a variant listed twice (same gene and c. change): once, and only when both records agree on the tier
    cv = cv.filter(pl.col("clinvar_tier").n_unique().over("symbol", "hgvs_c") == 1)
    return cv.unique(subset=["symbol", "hgvs_c"], keep="first", maintain_order=True)


def evaluate(bundle: ReferenceBundle, scorer=None, split: str = "test", config=None) -> dict:
    """Classify the evaluation set and compare with ClinVar: dangerous flips, three-tier concordance per
    consequence class, the share left VUS, agreement of the two combining systems, criteria usage."""
    from hcml.acmg.classify import classify, input_from_hgvs
    from hcml.ml.evidence import model_thresholds
    from hcml.ml.features import features_from_hgvs

    rows = evaluation_set(split)
    scores = None
    if scorer is not None and rows.height:
        scores = scorer.score_features(features_from_hgvs(rows.select("hgvs_c", "hgvs_p", "symbol")))
    frame = input_from_hgvs(rows, scores)
    name = f"{getattr(scorer, 'model_name', 'model')} {getattr(scorer, 'model_version', '')}".strip()
    thresholds = model_thresholds(scorer)
    out = classify(frame, bundle, thresholds, name, config)
    df = pl.DataFrame(
        {
            "gene": rows["symbol"],
            "hgvs_c": rows["hgvs_c"],
            "clinvar_tier": rows["clinvar_tier"],
            "consequence_class": frame["consequence_class"],
            "acmg_class": out["acmg_class"],
            "acmg_criteria": out["acmg_criteria"],
            "rules_agree": out["acmg_rules_agree"],
        }
    ).with_columns(pl.col("acmg_class").replace_strict(TIER).alias("acmg_tier"))
    return summarise(df, thresholds, name)


def summarise(df: pl.DataFrame, thresholds: dict | None = None, model: str = "") -> dict:
    n = df.height
    flip = ((pl.col("clinvar_tier") == "P/LP") & (pl.col("acmg_tier") == "B/LB")) | (
        (pl.col("clinvar_tier") == "B/LB") & (pl.col("acmg_tier") == "P/LP")
    )
    per_class = (
        df.group_by("consequence_class")
        .agg(
            pl.len().alias("n"),
            (pl.col("clinvar_tier") == pl.col("acmg_tier")).mean().alias("concordance"),
            flip.sum().alias("dangerous_flips"),
            (pl.col("acmg_tier") == "VUS").mean().alias("vus_share"),
        )
        .sort("n", descending=True)
    )
    confusion = df.group_by("clinvar_tier", "acmg_tier").agg(pl.len().alias("n")).sort("clinvar_tier", "acmg_tier")
    codes = (
        df.select(pl.col("acmg_criteria").str.split(", ").explode())
        .filter(pl.col("acmg_criteria") != "")
        .group_by("acmg_criteria")
        .agg(pl.len().alias("n"))
        .sort("n", descending=True)
    )
    flips = df.filter(flip)
    n_flips = flips.height
    decided = df.filter(pl.col("clinvar_tier") != "VUS")
    return {
        "n_variants": n,
        "n_genes": df["gene"].n_unique(),
        "clinvar_tiers": dict(df.group_by("clinvar_tier").agg(pl.len()).iter_rows()),
        "dangerous_flips": n_flips,
        "dangerous_flip_rate": n_flips / n if n else None,
        "dangerous_flip_target": DANGEROUS_FLIP_TARGET,
        "within_target": (n_flips / n <= DANGEROUS_FLIP_TARGET) if n else None,
        "concordance_three_tier": float((df["clinvar_tier"] == df["acmg_tier"]).mean()) if n else None,
        "concordance_p_lp_b_lb_only": float((decided["clinvar_tier"] == decided["acmg_tier"]).mean())
        if decided.height
        else None,
        "vus_share": float((df["acmg_tier"] == "VUS").mean()) if n else None,
        "rules_agree_share": float(df["rules_agree"].mean()) if n else None,
        "per_consequence_class": per_class.to_dicts(),
        "confusion": confusion.to_dicts(),
        "criteria_used": dict(codes.iter_rows()),
        "flip_examples": flips.head(20)
        .select("gene", "hgvs_c", "clinvar_tier", "acmg_class", "acmg_criteria")
        .to_dicts(),
        "model": model,
        "evidence_thresholds": thresholds,
    }
