"""Classify variants: the classification input from a summary (annotated variants) or from ClinVar-shaped HGVS
rows, every criterion over all rows at once, then points and classes.

The batch pipeline (`clinical_report`), the realtime service (`hcml.interpret`), `hcml annotate --acmg` and the
concordance benchmark all call `classify`; the input builders read the consequence class, amino-acid change
and protein position through `hcml.ml.features` (the reading the model uses).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from hcml.acmg import combine, criteria
from hcml.acmg.config import EVALUATED, AcmgConfig, load_config
from hcml.acmg.reference import AcmgReference
from hcml.acmg.reference_cache import reference_for
from hcml.ml.evidence import model_thresholds

if TYPE_CHECKING:
    from hcml.genomics.bundle.load import ReferenceBundle

VERSION = "hcml-acmg/1 (Richards 2015, ClinGen SVI, Tavtigian 2020 points)"

OUTPUT_SCHEMA = {
    "acmg_class": pl.Utf8,
    "acmg_points": pl.Int64,
    "acmg_criteria": pl.Utf8,  # "PVS1, PM2_Supporting"
    "acmg_evidence": pl.List(pl.Utf8),  # one line per met criterion: "PM2_Supporting: gnomAD exomes AF absent ..."
    "acmg_not_evaluated": pl.List(pl.Utf8),  # criteria this variant's data could not decide, with the reason
    "acmg_richards_class": pl.Utf8,
    "acmg_rules_agree": pl.Boolean,
}
INPUT_COLUMNS = {  # the keys (and types) of the input dict that `input_from_*` build and `classify` reads
    "gene_symbol": pl.Utf8,
    "consequence_class": pl.Utf8,
    "alt_aa": pl.Utf8,
    "protein_position": pl.Int64,
    "most_severe_consequence": pl.Utf8,
    "consequence_terms": pl.Utf8,
    "hgvsp": pl.Utf8,
    "transcript_id": pl.Utf8,
    "cdna_position": pl.Utf8,
    "chrom": pl.Utf8,
    "pos": pl.Int64,
    "af": pl.Float64,
    **{c: pl.Float64 for c in ("afr_af", "amr_af", "eas_af", "eur_af", "sas_af")},
    "gnomade_af": pl.Float64,
    "pathogenicity_score": pl.Float64,
    "self_clinvar_id": pl.Utf8,
}


SUPER_POPULATIONS = ("afr_af", "amr_af", "eas_af", "eur_af", "sas_af")  # 1000 Genomes


_DIGITS = re.compile(r"\d+")


def _first_int(texts: list) -> np.ndarray:
    """First integer of VEP position strings ("123", "123-125", "?-7"); 0 when none."""
    out = np.zeros(len(texts), np.int64)
    for i, t in enumerate(texts):
        if t:
            if t.isdigit():
                out[i] = int(t)
            else:
                m = _DIGITS.search(t)
                if m:
                    out[i] = int(m.group())
    return out


def _texts(frame: pl.DataFrame, name: str) -> list:
    try:
        return frame.get_column(name).to_list()
    except pl.exceptions.ColumnNotFoundError:
        return [None] * frame.height


def _floats(frame: pl.DataFrame, name: str) -> np.ndarray:
    """NaN for nulls and absent columns (to_numpy's own conversion: no polars query on the hot path)."""
    try:
        column = frame.get_column(name)
    except pl.exceptions.ColumnNotFoundError:
        return np.full(frame.height, np.nan)
    return np.asarray(column.to_numpy(), dtype=np.float64)


def _ints(frame: pl.DataFrame, name: str) -> np.ndarray:
    """0 for nulls and an absent column."""
    values = _floats(frame, name)
    return np.where(np.isnan(values), 0, values).astype(np.int64)


def _classification_input(
    klass,
    gene: list,
    alt_aa: list,
    protein_position: np.ndarray,
    frame: pl.DataFrame,
    hgvsp: list,
    self_ids: list,
    scores: np.ndarray,
) -> dict:
    """The classification input (INPUT_COLUMNS) as column arrays; the frame's annotation / population columns
    where it has them."""
    return {
        "gene_symbol": gene,
        "consequence_class": klass,
        "alt_aa": alt_aa,
        "protein_position": protein_position,
        "most_severe_consequence": _texts(frame, "most_severe_consequence"),
        "consequence_terms": _texts(frame, "consequence_terms"),
        "hgvsp": hgvsp,
        "transcript_id": _texts(frame, "transcript_id"),
        "cdna_position": _texts(frame, "cdna_position"),
        "chrom": [None if c is None else str(c) for c in _texts(frame, "chrom")],
        "pos": _ints(frame, "pos"),
        **{c: _floats(frame, c) for c in ("af", *SUPER_POPULATIONS, "gnomade_af")},
        "pathogenicity_score": scores,
        "self_clinvar_id": self_ids,
    }


def _so_class(terms: list) -> list:
    """The annotator's most severe SO term -> the consequence class (hcml.ml.features' SO table)."""
    from hcml.ml.features import _SO_FALLBACK

    return [_SO_FALLBACK.get(t.split(",", 1)[0], "other") if t else "other" for t in terms]


def _new_residue(amino_acids: list) -> list:
    """VEP's Amino_acids ("V/I") -> the new residue of a single substitution; None otherwise."""
    out = []
    for a in amino_acids:
        ref, _, alt = (a or "").partition("/")
        out.append(alt if len(ref) == 1 and len(alt) == 1 and alt != ref else None)
    return out


def input_from_summary(summary: pl.DataFrame, bundle: ReferenceBundle) -> dict:
    """A `summarise()` frame (+ pathogenicity_score) -> the classification input: the class from the
    annotator's own SO term (VEP's consequence), the new residue and protein position from its Amino_acids and
    Protein_position; the variant's ClinVar record (same GRCh38 allele) is found to keep it out of its evidence."""
    ref = reference_for(bundle, load_config().defaults.clinvar_min_stars)
    get = ref.allele_ids.get
    keys = zip(*(_texts(summary, k) for k in ("chrom", "pos", "ref", "alt")))
    self_ids = [get(f"{c}:{p}:{r}:{a}") for c, p, r, a in keys]
    return _classification_input(
        np.asarray(_so_class(_texts(summary, "most_severe_consequence")), dtype=object),
        _texts(summary, "gene_symbol"),
        _new_residue(_texts(summary, "amino_acids")),
        _first_int(_texts(summary, "protein_position")),
        summary,
        _texts(summary, "hgvsp"),
        self_ids,
        _floats(summary, "pathogenicity_score"),
    )


def input_from_hgvs(rows: pl.DataFrame, scores: np.ndarray | None = None) -> dict:
    """ClinVar-shaped rows (`symbol`, `hgvs_c`, `hgvs_p`, optional `measureset_id`) -> classification input:
    no position, transcript or population data (those criteria are reported as not evaluated); the row's own
    ClinVar record (`measureset_id`) is never its own evidence."""
    from hcml.ml.features import hgvs_block

    block = hgvs_block(rows.select("hgvs_c", "hgvs_p", "symbol"))
    n = rows.height
    ids = [None if i is None else str(i) for i in _texts(rows, "measureset_id")]
    hgvsp = [None if p is None else p.split(":", 1)[-1] for p in _texts(rows, "hgvs_p")]
    empty = pl.DataFrame({"_": [None] * n})
    score = np.full(n, np.nan) if scores is None else np.asarray(scores, dtype=np.float64)
    pos = np.nan_to_num(np.asarray(block.protein_position, dtype=np.float64), nan=0.0).astype(np.int64)
    return _classification_input(
        block.consequence_class, list(block.gene_symbol), list(block.alt_aa), pos, empty, hgvsp, ids, score
    )


def _number(value) -> float:
    """A setting as a number (a strength name -> its level)."""
    if isinstance(value, str):
        return float({n: lvl for lvl, n in criteria.STRENGTH_NAME.items()}[value])
    return float(value)


class _SettingsTable:
    """A configuration as per-gene tables, built once per configuration: row 0 the defaults, one row per gene
    with overrides; a request's settings are one take of the rows of its genes."""

    def __init__(self, config: AcmgConfig) -> None:
        per_row = [config.defaults, *config.genes.values()]
        self.row = {g: i + 1 for i, g in enumerate(config.genes)}
        self.names = [k for k in config.defaults.__dict__ if k != "disabled"]
        self.values = np.array([[_number(getattr(st, k)) for k in self.names] for st in per_row], np.float64)
        self.disabled = np.array([[c in st.disabled for c in EVALUATED] for st in per_row], bool)
        self.any_disabled = bool(self.disabled.any())

    def rows(self, genes: list) -> np.ndarray:
        if not self.row:
            return np.zeros(len(genes), np.int64)
        get = self.row.get
        return np.fromiter((get(g, 0) for g in genes), np.int64, len(genes))


_TABLES: dict[int, tuple[AcmgConfig, _SettingsTable]] = {}


def _settings_table(config: AcmgConfig) -> _SettingsTable:
    held = _TABLES.get(id(config))
    if held is None or held[0] is not config:
        if len(_TABLES) > 16:
            _TABLES.clear()
        held = _TABLES[id(config)] = (config, _SettingsTable(config))
    return held[1]


def _inputs(cols: dict, ref: AcmgReference, config: AcmgConfig) -> criteria.Inputs:
    gene = list(cols["gene_symbol"])
    n = len(gene)
    table = _settings_table(config)
    at = table.rows(gene)
    values = table.values[at]
    settings = {k: values[:, j] for j, k in enumerate(table.names)}
    off = table.disabled[at]
    disabled = {c: off[:, j] for j, c in enumerate(EVALUATED)}
    return criteria.Inputs(
        n=n,
        gene=gene,
        gene_idx=ref.gene_ids(gene),
        klass=np.asarray([k or "other" for k in cols["consequence_class"]], dtype=object),
        so_term=[t.split(",")[0] if t else None for t in cols["most_severe_consequence"]],
        consequence_terms=list(cols["consequence_terms"]),
        alt_aa=list(cols["alt_aa"]),
        protein_position=np.asarray(cols["protein_position"], dtype=np.int64),
        hgvsp=list(cols["hgvsp"]),
        transcript=list(cols["transcript_id"]),
        cdna_position=_first_int(cols["cdna_position"]),
        chrom=list(cols["chrom"]),
        pos=np.asarray(cols["pos"], dtype=np.int64),
        af_1000g=np.asarray(cols["af"], dtype=np.float64),
        af_super=np.array([cols[c] for c in SUPER_POPULATIONS], dtype=np.float64).T.reshape(n, len(SUPER_POPULATIONS)),
        af_gnomade=np.asarray(cols["gnomade_af"], dtype=np.float64),
        score=np.asarray(cols["pathogenicity_score"], dtype=np.float64),
        self_ids=list(cols["self_clinvar_id"]),
        settings=settings,
        disabled=disabled,
        any_disabled=table.any_disabled,
    )


def evaluate_criteria(
    frame: dict, ref: AcmgReference, config: AcmgConfig, thresholds: dict | None, model: str = "model"
) -> list[criteria.Met]:
    """Every evaluated criterion over the input frame, in the order they are reported."""
    inp = _inputs(frame, ref, config)
    ctx = criteria.Context(inp, ref)
    pvs1 = criteria.pvs1(ctx)
    if inp.any_disabled and inp.disabled["PVS1"].any():
        pvs1.strength = np.where(inp.disabled["PVS1"], 0, pvs1.strength).astype(np.int8)
    applied = pvs1.strength > 0
    ba1, bs1, pm2 = criteria.frequency(ctx)
    pp2, bp1 = criteria.gene_spectrum(ctx)
    pp3, bp4 = criteria.in_silico(ctx, thresholds, model, applied)
    mets = [
        pvs1,
        criteria.ps1(ctx),
        criteria.pm4(ctx, applied),
        criteria.pm5(ctx),
        pm2,
        pp2,
        pp3,
        ba1,
        bs1,
        bp1,
        bp4,
        criteria.bp7(ctx),
    ]
    for met in mets if inp.any_disabled else ():
        off = inp.disabled[met.code]
        if off.any():
            met.strength = np.where(off, 0, met.strength).astype(np.int8)
            for i in np.flatnonzero(off).tolist():
                met.evidence.pop(i, None)
                met.not_evaluated[i] = f"disabled for {inp.gene[i]} by {config.source}"
    return mets


def classify(
    frame: dict,
    bundle: ReferenceBundle,
    thresholds: dict | None,
    model: str = "model",
    config: AcmgConfig | None = None,
    reference: AcmgReference | None = None,
) -> pl.DataFrame:
    """The classification input (INPUT_COLUMNS as arrays, from `input_from_*`) -> OUTPUT_SCHEMA columns, one
    row per input row, same order."""
    config = config or load_config()
    ref = reference or reference_for(bundle, config.defaults.clinvar_min_stars)
    n = len(frame["gene_symbol"])
    if n == 0:
        return pl.DataFrame(schema=OUTPUT_SCHEMA)
    mets = evaluate_criteria(frame, ref, config, thresholds, model)
    strengths = {m.code: m.strength for m in mets}
    matrix = combine.strength_matrix(strengths)
    total = combine.points(strengths, matrix)
    ba1 = strengths["BA1"] == criteria.STAND_ALONE
    cls = combine.points_class(total, ba1)
    richards = combine.richards_class(strengths, matrix)
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
    points_out = np.where(ba1, 0, total).astype(np.int64)
    return pl.DataFrame(
        [
            pl.Series("acmg_class", cls.tolist(), dtype=pl.Utf8),
            pl.Series("acmg_points", points_out),
            pl.Series("acmg_criteria", [", ".join(c) for c in codes], dtype=pl.Utf8),
            _text_lists("acmg_evidence", lines),
            _text_lists("acmg_not_evaluated", missing),
            pl.Series("acmg_richards_class", richards.tolist(), dtype=pl.Utf8),
            pl.Series("acmg_rules_agree", richards == cls, dtype=pl.Boolean),
        ]
    )


_TEXT_LIST = OUTPUT_SCHEMA["acmg_evidence"]


def _text_lists(name: str, values: list[list[str]]) -> pl.Series:
    """A list[str] column; built without a dtype (half the cost for a request's few rows), cast only when every
    list was empty (inferred as list[null])."""
    col = pl.Series(name, values)
    return col if col.dtype == _TEXT_LIST else col.cast(_TEXT_LIST)


def classify_summary(
    summary: pl.DataFrame, bundle: ReferenceBundle, model=None, config: AcmgConfig | None = None
) -> pl.DataFrame:
    """`summary` with the OUTPUT_SCHEMA columns appended (replaced when present): the one call the report, the
    realtime service and the annotate command make. `model`: the scorer (its calibrated PP3/BP4 thresholds: hcml.ml.evidence.model_thresholds)."""
    columns = set(summary.columns)
    present = [c for c in OUTPUT_SCHEMA if c in columns]
    base = summary.drop(present) if present else summary
    if summary.height == 0:
        return base.hstack(pl.DataFrame(schema=OUTPUT_SCHEMA))
    name = f"{getattr(model, 'model_name', 'model')} {getattr(model, 'model_version', '')}".strip()
    result = classify(input_from_summary(summary, bundle), bundle, model_thresholds(model), name, config)
    return base.hstack(result)


def provenance_record(config: AcmgConfig | None = None, model=None) -> dict:
    """What the classification of a report depended on: the version, the configuration and its sha256."""
    config = config or load_config()
    return {
        "version": VERSION,
        "config_source": config.source,
        "config_sha256": config.sha256,
        "evidence_thresholds": model_thresholds(model),
        "not_evaluated": dict(criteria.NOT_EVALUATED),
    }


def annotation_columns(
    annotations: pl.DataFrame, bundle: ReferenceBundle, model=None, config: AcmgConfig | None = None
) -> pl.DataFrame:
    """Annotations (one row per variant x feature) with the variant's classification on each of its rows:
    ACMG_class, ACMG_points, ACMG_criteria, ACMG_evidence (lines joined by ' & ', VEP's separator of several
    values in one field) -- the VEP-compatible writers' extra fields (`hcml annotate --acmg`)."""
    from hcml.genomics.annotate import summarise

    if annotations.height == 0:
        return annotations.with_columns(
            pl.lit(None, dtype=pl.Utf8).alias("ACMG_class"),
            pl.lit(None, dtype=pl.Int64).alias("ACMG_points"),
            pl.lit(None, dtype=pl.Utf8).alias("ACMG_criteria"),
            pl.lit(None, dtype=pl.Utf8).alias("ACMG_evidence"),
        )
    summary = summarise(annotations)
    if model is not None:
        from hcml.ml.proteins import bundle_proteins

        scores = model.score(summary, bundle_proteins(bundle, summary))
        summary = summary.hstack([pl.Series("pathogenicity_score", scores, dtype=pl.Float64)])
    classified = classify_summary(summary, bundle, model, config)
    per_row = classified.select(
        "row",
        pl.col("acmg_class").alias("ACMG_class"),
        pl.col("acmg_points").alias("ACMG_points"),
        pl.col("acmg_criteria").alias("ACMG_criteria"),
        pl.col("acmg_evidence").list.join(" & ").alias("ACMG_evidence"),
    )
    return annotations.join(per_row, on="row", how="left", maintain_order="left")
