"""Classify variants: the classification input from a summary (annotated variants) or from ClinVar-shaped HGVS
rows, every criterion over all rows at once, then points and classes.

The batch pipeline (`clinical_report`), the realtime service (`hcml.interpret`), `hcml annotate --acmg` and the
concordance benchmark all call `classify`; the input builders read the consequence class, amino-acid change
and protein position through `hcml.ml.features` (the reading the model uses).
"""

from __future__ import annotations

import re

import numpy as np
import polars as pl

from hcml.acmg import combine, criteria
from hcml.acmg.config import EVALUATED, AcmgConfig, Settings, load_config
from hcml.acmg.reference import AcmgReference, reference_for

VERSION = "hcml-acmg/1 (Richards 2015, ClinGen SVI, Tavtigian 2020 points)"
_STRENGTH_LEVELS = ("supporting", "moderate", "strong", "very_strong")

OUTPUT_SCHEMA = {
    "acmg_class": pl.Utf8,
    "acmg_points": pl.Int64,
    "acmg_criteria": pl.Utf8,  # "PVS1, PM2_Supporting"
    "acmg_evidence": pl.List(pl.Utf8),  # one line per met criterion: "PM2_Supporting: gnomAD exomes AF absent ..."
    "acmg_not_evaluated": pl.List(pl.Utf8),  # criteria this variant's data could not decide, with the reason
    "acmg_richards_class": pl.Utf8,
    "acmg_rules_agree": pl.Boolean,
}
INPUT_COLUMNS = {
    "gene_symbol": pl.Utf8, "consequence_class": pl.Utf8, "alt_aa": pl.Utf8, "protein_position": pl.Int64,
    "most_severe_consequence": pl.Utf8, "hgvsp": pl.Utf8, "transcript_id": pl.Utf8, "cdna_position": pl.Utf8,
    "chrom": pl.Utf8, "pos": pl.Int64, "af": pl.Float64, **{c: pl.Float64 for c in ("afr_af", "amr_af", "eas_af",
                                                                                     "eur_af", "sas_af")},
    "gnomade_af": pl.Float64,
    "pathogenicity_score": pl.Float64, "self_clinvar_id": pl.Utf8,
}


SUPER_POPULATIONS = ("afr_af", "amr_af", "eas_af", "eur_af", "sas_af")  # 1000 Genomes


def evidence_thresholds(model) -> dict | None:
    """The model's calibrated PP3/BP4 thresholds from its metadata (`evidence_thresholds`, Pejaver et al. 2022),
    normalised to {"pathogenic": {level: score}, "benign": {level: score}}; None when the model has none.
    Never invented: a model without them leaves PP3/BP4 not evaluated."""
    raw = getattr(model, "evidence_thresholds", None)
    if raw is None:
        info = getattr(model, "info", None) or {}
        raw = info.get("evidence_thresholds") if isinstance(info, dict) else None
    if not isinstance(raw, dict):
        return None
    out: dict[str, dict[str, float]] = {}
    for side in ("pathogenic", "benign"):
        levels = raw.get(side) or {}
        if isinstance(levels, dict):
            got = {k.lower(): float(v) for k, v in levels.items()
                   if k.lower() in _STRENGTH_LEVELS and isinstance(v, (int, float)) and not isinstance(v, bool)}
            if got:
                out[side] = got
    return out or None


def _first_int(texts: list) -> np.ndarray:
    """First integer of VEP position strings ("123", "123-125", "?-7"); 0 when none."""
    out = np.zeros(len(texts), np.int64)
    for i, t in enumerate(texts):
        if t:
            m = re.search(r"\d+", t)
            if m:
                out[i] = int(m.group())
    return out


def input_from_summary(summary: pl.DataFrame, bundle) -> pl.DataFrame:
    """A `summarise()` frame (+ pathogenicity_score) -> the classification input (INPUT_COLUMNS)."""
    from hcml.ml.features import features_from_summary

    feats = features_from_summary(summary)
    ref = reference_for(bundle, load_config().defaults.clinvar_min_stars)
    cols = set(summary.columns)

    def col(name, dtype):
        return summary[name].cast(dtype, strict=False) if name in cols else pl.Series(name, [None] * summary.height, dtype)

    keys = [f"{c}:{p}:{r}:{a}" for c, p, r, a in zip(*(col(k, pl.Utf8).to_list() for k in ("chrom", "pos", "ref", "alt")))]
    get = ref.allele_ids.get
    return pl.DataFrame({
        "gene_symbol": feats["gene_symbol"], "consequence_class": feats["consequence_class"],
        "alt_aa": feats["alt_aa"], "protein_position": feats["protein_position"].cast(pl.Int64),
        "most_severe_consequence": col("most_severe_consequence", pl.Utf8), "hgvsp": col("hgvsp", pl.Utf8),
        "transcript_id": col("transcript_id", pl.Utf8), "cdna_position": col("cdna_position", pl.Utf8),
        "chrom": col("chrom", pl.Utf8), "pos": col("pos", pl.Int64), "af": col("af", pl.Float64),
        **{c: col(c, pl.Float64) for c in SUPER_POPULATIONS}, "gnomade_af": col("gnomade_af", pl.Float64), "pathogenicity_score": col("pathogenicity_score", pl.Float64),
        "self_clinvar_id": pl.Series([get(k) for k in keys], dtype=pl.Utf8),
    }, schema=INPUT_COLUMNS)


def input_from_hgvs(rows: pl.DataFrame, scores: np.ndarray | None = None) -> pl.DataFrame:
    """ClinVar-shaped rows (`symbol`, `hgvs_c`, `hgvs_p`, optional `measureset_id`) -> classification input:
    no position, transcript or population data (those criteria are reported as not evaluated); the row's own
    ClinVar record (`measureset_id`) is never its own evidence."""
    from hcml.ml.features import features_from_hgvs

    feats = features_from_hgvs(rows.select("hgvs_c", "hgvs_p", "symbol"))
    n = rows.height
    none = pl.Series([None] * n, dtype=pl.Utf8)
    ids = rows["measureset_id"].cast(pl.Utf8) if "measureset_id" in rows.columns else none
    return pl.DataFrame({
        "gene_symbol": feats["gene_symbol"], "consequence_class": feats["consequence_class"],
        "alt_aa": feats["alt_aa"], "protein_position": feats["protein_position"].cast(pl.Int64),
        "most_severe_consequence": none, "hgvsp": rows["hgvs_p"].cast(pl.Utf8).str.replace(r"^[^:]*:", ""),
        "transcript_id": none, "cdna_position": none, "chrom": none, "pos": pl.Series([None] * n, dtype=pl.Int64),
        **{c: pl.Series([None] * n, dtype=pl.Float64) for c in ("af", *SUPER_POPULATIONS, "gnomade_af")},
        "pathogenicity_score": pl.Series(scores if scores is not None else [None] * n, dtype=pl.Float64),
        "self_clinvar_id": ids,
    }, schema=INPUT_COLUMNS)


def _floats(s: pl.Series) -> np.ndarray:
    """NaN for nulls (to_numpy's own conversion: no polars query on the hot path)."""
    return np.asarray(s.to_numpy(), dtype=np.float64)


def _ints(s: pl.Series) -> np.ndarray:
    """0 for nulls."""
    return np.nan_to_num(np.asarray(s.to_numpy(), dtype=np.float64), nan=0.0).astype(np.int64)


def _number(value) -> float:
    """A setting as a number (a strength name -> its level)."""
    if isinstance(value, str):
        return float({n: lvl for lvl, n in criteria.STRENGTH_NAME.items()}[value])
    return float(value)


def _inputs(frame: pl.DataFrame, ref: AcmgReference, config: AcmgConfig) -> criteria.Inputs:
    n = frame.height
    gene = frame["gene_symbol"].to_list()
    defaults = config.defaults
    settings = {k: np.full(n, _number(v), dtype=np.float64) for k, v in defaults.__dict__.items() if k != "disabled"}
    disabled = {c: np.full(n, c in defaults.disabled) for c in EVALUATED}
    if config.genes:
        gene_arr = np.asarray(gene, dtype=object)
        for g, own in config.genes.items():  # once per overridden gene, not per row
            rows = gene_arr == g
            if rows.any():
                for k, v in own.__dict__.items():
                    if k == "disabled":
                        for c in EVALUATED:
                            disabled[c][rows] = c in v
                    else:
                        settings[k][rows] = _number(v)
    return criteria.Inputs(
        n=n, gene=gene, gene_idx=ref.gene_ids(gene),
        klass=np.asarray([k or "other" for k in frame["consequence_class"].to_list()], dtype=object),
        so_term=[t.split(",")[0] if t else None for t in frame["most_severe_consequence"].to_list()],
        alt_aa=frame["alt_aa"].to_list(), protein_position=_ints(frame["protein_position"]),
        hgvsp=frame["hgvsp"].to_list(), transcript=frame["transcript_id"].to_list(),
        cdna_position=_first_int(frame["cdna_position"].to_list()), chrom=frame["chrom"].to_list(),
        pos=_ints(frame["pos"]), af_1000g=_floats(frame["af"]),
        af_super=np.column_stack([_floats(frame[c]) for c in SUPER_POPULATIONS]),
        af_gnomade=_floats(frame["gnomade_af"]), score=_floats(frame["pathogenicity_score"]),
        self_ids=frame["self_clinvar_id"].to_list(), settings=settings, disabled=disabled,
    )


def evaluate_criteria(frame: pl.DataFrame, ref: AcmgReference, config: AcmgConfig,
                      thresholds: dict | None, model: str = "model") -> list[criteria.Met]:
    """Every evaluated criterion over the input frame, in the order they are reported."""
    inp = _inputs(frame, ref, config)
    ctx = criteria.Context(inp, ref)
    pvs1 = criteria.pvs1(ctx)
    if inp.disabled["PVS1"].any():
        pvs1.strength = np.where(inp.disabled["PVS1"], 0, pvs1.strength).astype(np.int8)
    applied = pvs1.strength > 0
    ba1, bs1, pm2 = criteria.frequency(ctx)
    pp2, bp1 = criteria.gene_spectrum(ctx)
    pp3, bp4 = criteria.in_silico(ctx, thresholds, model, applied)
    mets = [pvs1, criteria.ps1(ctx), criteria.pm4(ctx, applied), criteria.pm5(ctx), pm2, pp2, pp3,
            ba1, bs1, bp1, bp4, criteria.bp7(ctx)]
    for met in mets:
        off = inp.disabled[met.code]
        if off.any():
            met.strength = np.where(off, 0, met.strength).astype(np.int8)
            for i in np.flatnonzero(off).tolist():
                met.evidence.pop(i, None)
                met.not_evaluated[i] = f"disabled for {inp.gene[i]} by {config.source}"
    return mets


def classify(frame: pl.DataFrame, bundle, thresholds: dict | None, model: str = "model",
             config: AcmgConfig | None = None, reference: AcmgReference | None = None) -> pl.DataFrame:
    """The classification input (INPUT_COLUMNS) -> OUTPUT_SCHEMA columns, one row per input row, same order."""
    config = config or load_config()
    ref = reference or reference_for(bundle, config.defaults.clinvar_min_stars)
    n = frame.height
    if n == 0:
        return pl.DataFrame(schema=OUTPUT_SCHEMA)
    mets = evaluate_criteria(frame, ref, config, thresholds, model)
    strengths = {m.code: m.strength for m in mets}
    total = combine.points(strengths)
    ba1 = strengths["BA1"] == criteria.STAND_ALONE
    cls = combine.points_class(total, ba1)
    richards = combine.richards_class(strengths)
    codes: list[list[str]] = [[] for _ in range(n)]
    lines: list[list[str]] = [[] for _ in range(n)]
    missing: list[list[str]] = [[] for _ in range(n)]
    for met in mets:
        for i, text in met.evidence.items():  # only the rows the criterion is met on
            code = criteria.code_with_strength(met.code, int(met.strength[i]))
            codes[i].append(code)
            lines[i].append(f"{code}: {text}")
        for i, reason in met.not_evaluated.items():
            missing[i].append(f"{met.code}: {reason}")
    return pl.DataFrame({
        "acmg_class": pl.Series(cls.tolist(), dtype=pl.Utf8),
        "acmg_points": pl.Series(np.where(ba1, 0, total), dtype=pl.Int64),
        "acmg_criteria": pl.Series([", ".join(c) for c in codes], dtype=pl.Utf8),
        "acmg_evidence": pl.Series(lines, dtype=pl.List(pl.Utf8)),
        "acmg_not_evaluated": pl.Series(missing, dtype=pl.List(pl.Utf8)),
        "acmg_richards_class": pl.Series(richards.tolist(), dtype=pl.Utf8),
        "acmg_rules_agree": pl.Series((richards == cls).tolist(), dtype=pl.Boolean),
    }, schema=OUTPUT_SCHEMA)


def classify_summary(summary: pl.DataFrame, bundle, model=None, config: AcmgConfig | None = None) -> pl.DataFrame:
    """`summary` with the OUTPUT_SCHEMA columns appended (replaced when present): the one call the report, the
    realtime service and the annotate command make. `model`: the scorer (for its evidence_thresholds)."""
    base = summary.drop([c for c in OUTPUT_SCHEMA if c in summary.columns])
    if summary.height == 0:
        return base.hstack(pl.DataFrame(schema=OUTPUT_SCHEMA))
    name = f"{getattr(model, 'model_name', 'model')} {getattr(model, 'model_version', '')}".strip()
    result = classify(input_from_summary(summary, bundle), bundle, evidence_thresholds(model), name, config)
    return base.hstack(result)


def provenance_record(config: AcmgConfig | None = None, model=None) -> dict:
    """What the classification of a report depended on: the version, the configuration and its sha256."""
    config = config or load_config()
    return {"version": VERSION, "config_source": config.source, "config_sha256": config.sha256,
            "evidence_thresholds": evidence_thresholds(model), "not_evaluated": dict(criteria.NOT_EVALUATED)}


def settings_doc() -> dict:
    return dict(Settings().__dict__)
