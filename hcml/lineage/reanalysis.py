"""Re-analysis when evidence changes: which current reports were built with another ClinVar release or model
than the platform serves now, and what re-running them is estimated to cost (from what their last run cost).

Settings (read when called): HCML_REANALYSIS = `off` | `estimate` (default: report stale reports and the cost,
launch nothing) | `on` (launch when the estimate is at most HCML_REANALYSIS_MAX_COST, rate-card currency).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import polars as pl

from hcml.lineage.impact import ReportRef

MODES = ("off", "estimate", "on")


class ReanalysisConfigError(ValueError):
    pass


@dataclass(frozen=True)
class ReanalysisSettings:
    mode: str
    max_cost: float


def settings() -> ReanalysisSettings:
    mode = os.environ.get("HCML_REANALYSIS", "estimate").strip().lower() or "estimate"
    if mode not in MODES:
        raise ReanalysisConfigError(f"HCML_REANALYSIS={mode!r}: expected one of {', '.join(MODES)}")
    raw = os.environ.get("HCML_REANALYSIS_MAX_COST", "10")
    try:
        max_cost = float(raw)
    except ValueError as exc:
        raise ReanalysisConfigError(f"HCML_REANALYSIS_MAX_COST={raw!r}: expected a number") from exc
    return ReanalysisSettings(mode, max_cost)


@dataclass(frozen=True)
class Stale:
    ref: ReportRef
    reasons: tuple[str, ...]


def stale_reports(refs: list[ReportRef], clinvar_sha256: str | None, champion_version: str | None) -> list[Stale]:
    """Current reports built with another ClinVar release file than `clinvar_sha256`, or with another model
    than the champion `champion_version` (None: no champion yet, the model is not compared)."""
    out = []
    for ref in refs:
        if not ref.current:
            continue
        reasons = []
        if clinvar_sha256 and ref.clinvar_sha256 != clinvar_sha256:
            reasons.append(f"ClinVar {ref.clinvar_release or ref.clinvar_sha256} -> new release")
        if champion_version is not None and ref.model_version != str(champion_version):
            reasons.append(f"model {ref.model_version} -> champion {champion_version}")
        if reasons:
            out.append(Stale(ref, tuple(reasons)))
    return sorted(out, key=lambda s: s.ref.partition)


@dataclass(frozen=True)
class CostEstimate:
    total: float
    currency: str
    per_partition: dict[str, float]
    unmeasured: tuple[str, ...]  # partitions whose last run has no usage figures: priced at the measured mean


def estimate_cost(priced_usage: pl.DataFrame, stale: list[Stale], currency: str) -> CostEstimate:
    """Re-running a partition is estimated at what the run that built its current report cost (every asset
    of that run, `hcml.cost.chargeback.price_usage` rows); runs without figures at the mean of the others."""
    by_run = dict(priced_usage.group_by("run_id").agg(pl.col("cost").sum()).iter_rows()) if priced_usage.height else {}
    per = {s.ref.partition: by_run.get(s.ref.run_id) for s in stale}
    known = [v for v in per.values() if v is not None]
    mean = sum(known) / len(known) if known else 0.0
    unmeasured = tuple(sorted(p for p, v in per.items() if v is None))
    filled = {p: (mean if v is None else float(v)) for p, v in per.items()}
    return CostEstimate(sum(filled.values()), currency, filled, unmeasured)
