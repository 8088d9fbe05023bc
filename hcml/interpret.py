"""Interpretation of parsed variants: annotate, pick one consequence per variant, score pathogenicity.

The realtime service calls `interpret` in one go; the Dagster assets call the same `hcml.genomics` and
`hcml.ml` functions step by step, so both paths give the same answer for the same input.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import polars as pl

from hcml.small_inputs import use_small_path


class Scorer(Protocol):
    model_name: str
    model_version: str

    def score(self, summary: pl.DataFrame, sequences: Any = None) -> np.ndarray: ...


@dataclass(frozen=True)
class Interpretation:
    annotations: pl.DataFrame  # one row per variant x feature (VEP columns)
    summary: pl.DataFrame  # one row per variant: summarise() + severity_rank + pathogenicity_score + acmg_*
    rejects: pl.DataFrame  # the inputs that could not be read, with the reason


def interpret(parsed: Any, bundle: Any, scorer: Scorer | None) -> Interpretation:
    """Annotate `parsed.variants` against `bundle` and score each variant with `scorer` (None: no score).

    The summary is ordered most severe first (SO precedence), then by descending score, which is the order
    a clinician reads a report in.
    """
    from hcml.acmg.classify import classify_summary
    from hcml.genomics.annotate import annotate, summarise

    variants: pl.DataFrame = parsed.variants
    if variants.height == 0:
        return Interpretation(annotations=pl.DataFrame(), summary=pl.DataFrame(), rejects=parsed.rejects)
    annotations = annotate(variants, bundle)
    summary = summarise(annotations)
    if scorer is not None and summary.height:
        from hcml.ml.proteins import bundle_proteins

        values = np.asarray(scorer.score(summary, bundle_proteins(bundle, summary)), dtype=np.float64)
    else:
        values = [None] * summary.height
    score = pl.Series("pathogenicity_score", values, dtype=pl.Float64)
    # a new column is appended (hstack: ~2 us; with_columns plans a query, ~15 us), an existing one replaced
    summary = summary.with_columns(score) if score.name in summary.columns else summary.hstack([score])
    summary = classify_summary(summary, bundle, scorer)  # ACMG/AMP class, points and criteria (hcml.acmg)
    return Interpretation(annotations=annotations, summary=order_by_severity(summary), rejects=parsed.rejects)


@functools.cache
def _severity_ranks() -> tuple[pl.DataFrame, int]:
    """The SO term -> rank table (and the rank of an unknown term), built once per process."""
    from hcml.genomics.consequences import SEVERITY_RANK

    worst = max(SEVERITY_RANK.values(), default=0) + 1
    ranks = pl.DataFrame(
        {"most_severe_consequence": list(SEVERITY_RANK), "severity_rank": list(SEVERITY_RANK.values())},
        schema={"most_severe_consequence": pl.Utf8, "severity_rank": pl.Int32},
    )
    return ranks, worst


def order_by_severity(summary: pl.DataFrame) -> pl.DataFrame:
    """Most severe consequence first (VEP's SO precedence), then the highest pathogenicity score."""
    if use_small_path(summary.height):
        return _order_small(summary)
    ranks, worst = _severity_ranks()
    rank = (
        summary.select("most_severe_consequence")
        .join(ranks, on="most_severe_consequence", how="left", maintain_order="left")
        .get_column("severity_rank")
        .fill_null(worst)
    )
    score, row = summary.get_column("pathogenicity_score"), summary.get_column("row")
    order = _severity_order(
        rank.to_numpy(),
        score.cast(pl.Float64).fill_null(0.0).to_numpy(),
        score.is_null().to_numpy(),
        row.fill_null(0).to_numpy(),
        row.is_null().to_numpy(),
    )
    return _in_order(summary, order, rank.gather(order))


def _order_small(summary: pl.DataFrame) -> pl.DataFrame:
    """`order_by_severity` for the small-input path: the same rank table and `_severity_order`, its inputs
    read from Python lists instead of polars columns."""
    from hcml.genomics.consequences import SEVERITY_RANK

    worst = _severity_ranks()[1]
    msc, scores, rows = (
        summary.get_column(c).to_list() for c in ("most_severe_consequence", "pathogenicity_score", "row")
    )
    rank = np.array([worst if m is None else SEVERITY_RANK.get(m, worst) for m in msc], np.int32)
    order = _severity_order(
        rank,
        np.array([0.0 if s is None else s for s in scores], np.float64),
        np.array([s is None for s in scores], bool),
        np.array([0 if r is None else r for r in rows], np.int64),
        np.array([r is None for r in rows], bool),
    )
    return _in_order(summary, order, pl.Series("severity_rank", rank[order], dtype=pl.Int32))


def _severity_order(rank, score, score_null, row, row_null) -> np.ndarray:
    """The order of `order_by_severity`, the one definition both paths read: severity rank ascending, then
    the score descending (NaN first, as polars sorts it, and a missing score last), then row (missing last)."""
    nan = np.isnan(score)
    score_group = np.where(score_null, 2, np.where(nan, 0, 1))  # NaN, then numbers, then missing
    neg_score = np.where(score_null | nan, 0.0, -score)
    return np.lexsort((row, row_null, neg_score, score_group, rank))


def _in_order(summary: pl.DataFrame, order: np.ndarray, rank: pl.Series) -> pl.DataFrame:
    """The summary's rows in `order` (no gather when already in order), severity_rank (Int32) added last."""
    out = summary.drop("severity_rank") if "severity_rank" in summary.columns else summary
    if not np.array_equal(order, np.arange(len(order))):
        out = out[order]
    return out.hstack([rank.alias("severity_rank").cast(pl.Int32)])
