"""The clinical report of one sample: JSON for machines and a self-contained HTML page for clinicians.

Variants are ranked by the severity of their most severe consequence (VEP's SO order), then by ClinVar
significance (pathogenic first), then by pathogenicity score. The JSON is validated against
`REPORT_SCHEMA`; both carry the provenance record (`hcml.provenance`).
"""

from __future__ import annotations

import html
import json
import math

import polars as pl

from hcml.lineage.changes import CHANGES_SCHEMA
from hcml.provenance import canonical_json

REPORT_TYPE = "hcml.clinical_report/1"

# ClinVar significance -> rank (0 first). Unknown terms sit between "uncertain" and "benign".
CLINVAR_RANK = {
    "pathogenic": 0,
    "likely_pathogenic": 1,
    "pathogenic/likely_pathogenic": 0,
    "risk_factor": 2,
    "drug_response": 3,
    "uncertain_significance": 4,
    "conflicting_interpretations_of_pathogenicity": 4,
    "not_provided": 6,
    "other": 6,
    "protective": 7,
    "likely_benign": 8,
    "benign/likely_benign": 8,
    "benign": 9,
}
NO_CLINVAR_RANK = 6

VARIANT_FIELDS = [
    # (report field, source column, JSON type)
    ("variant_id", "variant_id", "string"),
    ("chrom", "chrom", "string"),
    ("pos", "pos", "integer"),
    ("ref", "ref", "string"),
    ("alt", "alt", "string"),
    ("gene", "gene_symbol", "string"),
    ("gene_id", "gene_id", "string"),
    ("transcript", "transcript_id", "string"),
    ("consequence", "most_severe_consequence", "string"),
    ("impact", "impact", "string"),
    ("hgvsc", "hgvsc", "string"),
    ("hgvsp", "hgvsp", "string"),
    ("hgvsg", "hgvsg", "string"),
    ("existing_variation", "existing_variation", "string"),
    ("clinvar_significance", "clin_sig", "string"),
    ("clinvar_release_significance", "clinvar_release_sig", "string"),  # in the bundle's ClinVar release itself
    ("af_1000g", "af", "number"),
    ("af_gnomad_exomes", "gnomade_af", "number"),
    ("pathogenicity_score", "pathogenicity_score", "number"),
    ("acmg_class", "acmg_class", "string"),  # ACMG/AMP classification (hcml.acmg, docs/acmg.md)
    ("acmg_points", "acmg_points", "integer"),
    ("acmg_criteria", "acmg_criteria", "string"),
    ("acmg_evidence", "acmg_evidence", "array"),
    ("acmg_not_evaluated", "acmg_not_evaluated", "array"),
    ("acmg_richards_class", "acmg_richards_class", "string"),
    ("acmg_rules_agree", "acmg_rules_agree", "boolean"),
    ("genotype", "gt", "string"),
    ("zygosity", "zygosity", "string"),
]

REPORT_SCHEMA: dict = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "hcml clinical report",
    "type": "object",
    "required": [
        "report_type",
        "partition",
        "sample",
        "submission_id",
        "generated_at",
        "summary",
        "variants",
        "provenance",
        "integrity",
    ],
    "properties": {
        "report_type": {"const": REPORT_TYPE},
        "partition": {"type": "string", "minLength": 1},
        "sample": {"type": ["string", "null"]},
        "submission_id": {"type": ["string", "null"]},
        "generated_at": {"type": "string", "format": "date-time"},
        "summary": {
            "type": "object",
            "required": ["n_input", "n_reported", "n_rejected", "by_impact", "model"],
            "properties": {
                "n_input": {"type": "integer", "minimum": 0},
                "n_reported": {"type": "integer", "minimum": 0},
                "n_rejected": {"type": "integer", "minimum": 0},
                "by_impact": {"type": "object", "additionalProperties": {"type": "integer"}},
            },
        },
        "variants": {
            "type": "array",
            "items": {
                "type": "object",
                "required": [
                    "rank",
                    "chrom",
                    "pos",
                    "ref",
                    "alt",
                    "consequence",
                    "impact",
                    "pathogenicity_score",
                    "acmg_class",
                ],
                "properties": {
                    "rank": {"type": "integer", "minimum": 1},
                    **{name: {"type": [kind, "null"]} for name, _, kind in VARIANT_FIELDS},
                    "acmg_evidence": {"type": ["array", "null"], "items": {"type": "string"}},
                    "acmg_not_evaluated": {"type": ["array", "null"], "items": {"type": "string"}},
                    "consequence": {"type": "string", "minLength": 1},
                    "pathogenicity_score": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
                },
            },
        },
        "changes_since_previous": CHANGES_SCHEMA,
        "provenance": {
            "type": "object",
            "required": ["schema", "input", "reference_bundle", "code", "model", "run"],
            "properties": {
                "input": {
                    "type": "object",
                    "required": ["uri", "sha256"],
                    "properties": {"sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"}},
                },
                "reference_bundle": {"type": "object", "required": ["bundle_sha256", "sources"]},
                "run": {"type": "object", "required": ["run_id", "started_at"]},
            },
        },
        "integrity": {
            "type": "object",
            "required": ["provenance_sha256", "content_sha256"],
            "properties": {
                "provenance_sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                "content_sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
            },
        },
    },
}


def schema_errors(report: dict) -> list[str]:
    """Every way the report breaks `REPORT_SCHEMA` (empty when valid)."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(REPORT_SCHEMA, format_checker=jsonschema.FormatChecker())
    return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in validator.iter_errors(report)]


ACMG_CLASSES = ("Pathogenic", "Likely pathogenic", "Uncertain significance", "Likely benign", "Benign")


def unclassified_variants(report: dict) -> list[str]:
    """The variants of a report without an ACMG/AMP class (the blocking check `report_variants_classified`)."""
    return [
        f"rank {v.get('rank')}: {v.get('variant_id') or v.get('chrom')}:{v.get('pos')}"
        for v in report.get("variants", [])
        if v.get("acmg_class") not in ACMG_CLASSES
    ]


def rank_variants(predictions: pl.DataFrame) -> pl.DataFrame:
    """Most severe consequence first, then ClinVar significance (pathogenic first), then score."""
    from hcml.genomics.consequences import SEVERITY_RANK

    worst = max(SEVERITY_RANK.values()) + 1
    clin = (
        pl.col("clin_sig")
        .fill_null("")
        .str.to_lowercase()
        .str.split(",")
        .list.eval(
            pl.element().str.strip_chars().replace_strict(CLINVAR_RANK, default=NO_CLINVAR_RANK, return_dtype=pl.Int64)
        )
        .list.min()
        .fill_null(NO_CLINVAR_RANK)
    )
    return (
        predictions.with_columns(
            pl.col("most_severe_consequence")
            .replace_strict(SEVERITY_RANK, default=worst, return_dtype=pl.Int64)
            .alias("_severity"),
            clin.alias("_clinvar"),
        )
        .sort(["_severity", "_clinvar", "pathogenicity_score"], descending=[False, False, True], nulls_last=True)
        .drop("_severity", "_clinvar")
    )


def _clean(value):
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    return value


def variant_rows(predictions: pl.DataFrame) -> list[dict]:
    ranked = rank_variants(predictions)
    rows = []
    for rank, rec in enumerate(ranked.iter_rows(named=True), start=1):
        row = {"rank": rank}
        for name, column, kind in VARIANT_FIELDS:
            value = _clean(rec.get(column))
            if value is not None and kind == "string":
                value = str(value)
            row[name] = value
        rows.append(row)
    return rows


def build_report(
    *,
    partition: str,
    sample: str | None,
    submission_id: str | None,
    generated_at: str,
    predictions: pl.DataFrame,
    n_input: int,
    n_rejected: int,
    provenance: dict,
) -> dict:
    variants = variant_rows(predictions)
    by_impact: dict[str, int] = {}
    for v in variants:
        by_impact[v["impact"] or "UNKNOWN"] = by_impact.get(v["impact"] or "UNKNOWN", 0) + 1
    return {
        "report_type": REPORT_TYPE,
        "partition": partition,
        "sample": sample,
        "submission_id": submission_id,
        "generated_at": generated_at,
        "summary": {
            "n_input": n_input,
            "n_reported": len(variants),
            "n_rejected": n_rejected,
            "by_impact": by_impact,
            "n_clinvar_pathogenic": sum(
                1
                for v in variants
                if "pathogenic" in (v["clinvar_significance"] or "").lower()
                and "conflicting" not in (v["clinvar_significance"] or "").lower()
            ),
            "model": provenance.get("model", {}),
            "by_acmg_class": {c: sum(1 for v in variants if v.get("acmg_class") == c) for c in ACMG_CLASSES},
        },
        "variants": variants,
        "provenance": provenance,
    }


_IMPACT_CLASS = {"HIGH": "high", "MODERATE": "moderate", "LOW": "low", "MODIFIER": "modifier"}
EMBEDDED_REPORT = '<script type="application/json" id="hcml-report">'  # where the HTML page carries the JSON


def _fmt(value, digits: int = 3) -> str:
    if value is None:
        return "&ndash;"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if value < 0.001 and value != 0 else f"{value:.{digits}f}"
    return html.escape(str(value))


def render_html(report: dict) -> str:
    """A self-contained page (inline CSS, no scripts or external links); the JSON report is embedded."""
    s = report["summary"]
    prov = report["provenance"]
    integ = report.get("integrity", {})
    rows = []
    for v in report["variants"]:
        rows.append(
            f"<tr class='{_IMPACT_CLASS.get(v['impact'] or '', '')}'><td>{v['rank']}</td><td>{_fmt(v['gene'])}</td>"
            f"<td>{_fmt(v['chrom'])}:{_fmt(v['pos'])} {_fmt(v['ref'])}&gt;{_fmt(v['alt'])}</td>"
            f"<td>{_fmt(v['hgvsc'])}<br><small>{_fmt(v['hgvsp'])}</small></td>"
            f"<td>{_fmt((v['consequence'] or '').replace('_', ' '))}</td><td>{_fmt(v['impact'])}</td>"
            f"<td>{_fmt((v['clinvar_significance'] or None) and v['clinvar_significance'].replace('_', ' '))}</td>"
            f"<td>{_fmt(v['pathogenicity_score'])}</td>{_acmg_cell(v)}<td>{_fmt(v['af_1000g'])}</td>"
            f"<td>{_fmt(v['af_gnomad_exomes'])}</td><td>{_fmt(v['zygosity'])}</td>"
            f"<td>{_fmt(v['existing_variation'])}</td></tr>"
        )
    impacts = ", ".join(f"{html.escape(k)}: {n}" for k, n in sorted(s["by_impact"].items()))
    sources = "".join(
        f"<li>{html.escape(name)}: <code>{html.escape(str(src.get('path')))}</code> "
        f"(sha256 <code>{html.escape(str(src.get('sha256'))[:16])}&hellip;</code>, {html.escape(str(src.get('version')))})</li>"
        for name, src in sorted(prov["reference_bundle"].get("sources", {}).items())
    )
    embedded = canonical_json(report).decode().replace("</", "<\\/")
    model = prov.get("model", {})
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>hcml clinical report &ndash; {html.escape(report["partition"])}</title>
<style>
body{{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem;color:#1b1b1b}}
h1{{font-size:1.4rem}} table{{border-collapse:collapse;width:100%;font-size:.85rem}}
th,td{{border-bottom:1px solid #ddd;padding:.3rem .4rem;text-align:left;vertical-align:top}}
th{{background:#f2f4f7;position:sticky;top:0}} tr.high td{{background:#fde2e1}} tr.moderate td{{background:#fff4d6}}
.meta{{color:#555;font-size:.85rem}} code{{font-size:.8rem}} .note{{background:#eef5ff;padding:.6rem;border-radius:4px}}
</style></head><body>
<h1>Variant interpretation report</h1>
<p class="meta">Sample <b>{_fmt(report["sample"])}</b> &middot; submission {_fmt(report["submission_id"])} &middot;
partition {_fmt(report["partition"])} &middot; generated {_fmt(report["generated_at"])} (UTC)</p>
<p class="note">{s["n_reported"]} variants reported ({impacts}); {s["n_rejected"]} input records rejected;
{s.get("n_clinvar_pathogenic", 0)} with a ClinVar pathogenic classification. Ranked by consequence severity,
then ClinVar significance, then pathogenicity score ({_fmt(model.get("name"))} v{_fmt(model.get("version"))}).
Research use: the score supports, never replaces, clinical judgement.</p>
<table><thead><tr><th>#</th><th>Gene</th><th>Variant (GRCh38)</th><th>HGVS</th><th>Consequence</th><th>Impact</th>
<th>ClinVar</th><th>Score</th><th>ACMG/AMP</th><th>AF 1000G</th><th>AF gnomAD exomes</th><th>Zygosity</th><th>Known as</th></tr></thead>
<tbody>{"".join(rows)}</tbody></table>
{_changes_section(report.get("changes_since_previous"))}
{_acmg_legend(prov.get("classification") or {})}
<h2>Provenance</h2>
<ul class="meta">
<li>Input: <code>{html.escape(str(prov["input"].get("uri")))}</code>, sha256 <code>{html.escape(str(prov["input"].get("sha256")))}</code></li>
<li>Reference bundle sha256 <code>{html.escape(str(prov["reference_bundle"].get("bundle_sha256")))}</code>, built {_fmt(prov["reference_bundle"].get("built_at"))}<ul>{sources}</ul></li>
<li>Code: hcml {_fmt(prov["code"].get("version"))}, commit <code>{_fmt(prov["code"].get("git_commit"))}</code></li>
<li>Model: {_fmt(model.get("name"))} version {_fmt(model.get("version"))}</li>
<li>Dagster run <code>{_fmt(prov["run"].get("run_id"))}</code>, started {_fmt(prov["run"].get("started_at"))}</li>
<li>Provenance sha256 <code>{_fmt(integ.get("provenance_sha256"))}</code>; report content sha256 <code>{_fmt(integ.get("content_sha256"))}</code>
(check with <code>hcml provenance verify report.json</code>)</li>
</ul>
{EMBEDDED_REPORT}{embedded}</script>
</body></html>
"""


def _changes_section(changes: dict | None) -> str:
    """ "Changed since the previous report": each variant whose ClinVar significance, score band or ACMG class moved."""
    if not changes:
        return ""
    prev = changes.get("previous_report") or {}
    head = (
        f"<h2>Changed since the previous report</h2><p class='meta'>Previous report {_fmt(prev.get('generated_at'))} "
        f"(ClinVar {_fmt(prev.get('clinvar_release'))}, model v{_fmt(prev.get('model_version'))}); this report: "
        f"ClinVar {_fmt(changes.get('clinvar_release'))}, model v{_fmt(changes.get('model_version'))}.</p>"
    )
    if not changes.get("variants"):
        return head + "<p>No variant changed its ClinVar significance, score band or ACMG/AMP class.</p>"
    rows = "".join(
        f"<tr><td>{_fmt(v.get('gene'))}</td><td>{_fmt(v['variant'])}</td><td>{_fmt(v.get('status'))}</td>"
        f"<td>{_fmt(c['field'].replace('_', ' '))}</td><td>{_fmt(c['before'])}</td><td>{_fmt(c['after'])}</td></tr>"
        for v in changes["variants"]
        for c in v["changes"]
    )
    return (
        head + "<table><thead><tr><th>Gene</th><th>Variant</th><th>Status</th><th>What</th><th>Before</th>"
        f"<th>Now</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def _acmg_cell(v: dict) -> str:
    """Class and points, the criteria codes, and each criterion's evidence line (in a collapsed list)."""
    if not v.get("acmg_class"):
        return "<td>&ndash;</td>"
    lines = "".join(f"<li>{html.escape(x)}</li>" for x in v.get("acmg_evidence") or [])
    missing = "".join(f"<li>{html.escape(x)}</li>" for x in v.get("acmg_not_evaluated") or [])
    agree = (
        ""
        if v.get("acmg_rules_agree") in (True, None)
        else (f"<br><small>Richards 2015 rules: {html.escape(str(v.get('acmg_richards_class')))}</small>")
    )
    return (
        f"<td><b>{html.escape(v['acmg_class'])}</b> ({_fmt(v.get('acmg_points'))} pts)"
        f"<br><small>{_fmt(v.get('acmg_criteria') or None)}</small>{agree}"
        + (f"<details><summary>evidence</summary><ul>{lines}</ul></details>" if lines else "")
        + (f"<details><summary>not evaluated here</summary><ul>{missing}</ul></details>" if missing else "")
        + "</td>"
    )


def _acmg_legend(classification: dict) -> str:
    """What the ACMG/AMP column means: the point system, the strengths, what was never evaluated."""
    never = "".join(
        f"<li><b>{html.escape(k)}</b>: {html.escape(r)}</li>"
        for k, r in sorted((classification.get("not_evaluated") or {}).items())
    )
    thresholds = classification.get("evidence_thresholds")
    pp3 = (
        "PP3/BP4 at the strength of the model's calibrated thresholds "
        f"<code>{html.escape(json.dumps(thresholds, sort_keys=True))}</code>"
        if thresholds
        else "PP3/BP4 not evaluated: the model has no calibrated evidence thresholds"
    )
    return f"""<h2>ACMG/AMP classification: legend</h2>
<div class="meta"><p>Criteria of Richards et al. 2015 with ClinGen SVI refinements, combined with the Bayesian point
system of Tavtigian et al. 2020: Supporting 1, Moderate 2, Strong 4, Very strong 8 points (benign criteria count
negative). Pathogenic &ge; 10, Likely pathogenic 6&ndash;9, Uncertain significance 0&ndash;5, Likely benign
&minus;1 to &minus;6, Benign &le; &minus;7; BA1 alone is Benign. A code with a suffix (<code>PVS1_Strong</code>,
<code>PM2_Supporting</code>) was applied at that strength. Where the combining rules of Richards 2015 (Table 5) give
another class it is shown under the criteria. {pp3}. Each criterion's line names its evidence (population data,
ClinVar record, gene constraint, transcript structure).</p>
<p>Never evaluated here (no data of the platform can decide them; absence is not evidence):</p><ul>{never}</ul>
<p>{html.escape(str(classification.get("version") or ""))}; configuration {html.escape(str(classification.get("config_source") or ""))},
sha256 <code>{html.escape(str(classification.get("config_sha256") or "")[:16])}&hellip;</code>.
A computed classification supports, never replaces, a clinical scientist's review.</p></div>
"""


def embedded_report_json(page: str) -> str | None:
    """The JSON report text that a `render_html` page embeds; None for a page without one."""
    start = page.find(EMBEDDED_REPORT)
    if start < 0:
        return None
    return page[start + len(EMBEDDED_REPORT) : page.index("</script>", start)].replace("<\\/", "</")


def to_json_bytes(report: dict) -> bytes:
    return (json.dumps(report, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode()
