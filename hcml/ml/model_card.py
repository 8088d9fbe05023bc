"""The model card: a markdown page written from an evaluation report (logged to MLflow with each version;
docs/model.md carries the shipped model's)."""

from __future__ import annotations

from typing import Any


def _f(value: Any) -> str:
    return "-" if value is None else (f"{value:.3f}" if isinstance(value, float) else str(value))


def _row(name: str, m: dict[str, Any]) -> str:
    return f"| {name} | {m.get('n', '-')} | {_f(m.get('positive_rate'))} | {_f(m.get('auroc'))} | {_f(m.get('ece'))} |"


def model_card(report: dict[str, Any], info: dict[str, Any] | None = None) -> str:
    """Markdown: data, split, features, figures (overall, per class, per protein coverage, per gene),
    evidence thresholds, limitations."""
    info = info or {}
    lines = [
        f"# Model card: {report.get('model_name')} {report.get('model_version')}",
        "",
        f"Kind shipped: **{report.get('model_kind')}** (the torch MLP and gradient-boosted trees are trained on the same "
        "matrix; the lower validation log-loss is shipped). Validation log-loss: "
        f"{info.get('validation_log_loss', '-')}.",
        "",
        "## Data and split",
        "ClinVar 2016-05-20 (GRCh38 lift), Pathogenic/Likely pathogenic = 1, Benign/Likely benign = 0, conflicts and "
        "uncertain excluded; split by a salted hash of the gene symbol (train 70 % / validation 10 % / test 20 % of "
        f"genes). Test genes: {report.get('test_genes')}, genes in both train and test: {report.get('genes_in_both')}.",
        "",
        "## Features",
        "Consequence class and nucleotide change from HGVS c./p.; amino-acid substitution properties (BLOSUM62, "
        "Grantham, hydropathy, charge, volume, polarity); protein length, relative position, residue window "
        "composition (±10 / ±3 residues: hydropathy, charge, aromatic, Gly/Pro, Cys, disorder-promoting share, "
        "entropy) from the RefSeq protein (ClinVar rows, accepted only where the HGVS reference residue agrees) or "
        "the bundle's own translation (annotated variants); gnomAD v2.1 gene constraint (mis_z, o/e missense and "
        "LoF upper bounds, pLI, ...); gene label statistics from training genes only. No 'has a sequence' input: "
        "a training row without a sequence takes a random same-class row's protein features, served rows the median.",
        "",
        "## Figures on held-out genes",
        "| rows | n | pathogenic share | AUROC | ECE |",
        "|---|---|---|---|---|",
        _row("all", report["overall"]["model"]),
    ]
    for name, block in report.get("per_class", {}).items():
        lines.append(_row(name, block["model"]))
    lines += [
        "",
        "Per protein-sequence coverage (model / gradient-boosted baseline AUROC):",
        "",
        "| rows | n | pathogenic share | AUROC | ECE | GBM AUROC |",
        "|---|---|---|---|---|---|",
    ]
    for name, block in report.get("protein_coverage", {}).items():
        lines.append(_row(name, block["model"]) + f" {_f(block['gradient_boosting'].get('auroc'))} |")
    lines += [
        "",
        f"Baselines: gradient-boosted trees AUROC {_f(report.get('baseline_gbm_auroc'))} (missense "
        f"{_f(report.get('baseline_gbm_auroc_missense'))}); logistic regression / consequence rule: "
        f"{_f(report['overall']['logistic_regression'].get('auroc'))} / {_f(report.get('baseline_rule_auroc'))}.",
        "",
        f"Per gene (the {len(report.get('per_gene', {}))} test genes with most variants):",
        "",
        "| gene | n | pathogenic share | AUROC | ECE |",
        "|---|---|---|---|---|",
    ]
    for gene, m in report.get("per_gene", {}).items():
        lines.append(_row(gene, m))
    ev = report.get("evidence_thresholds", {})
    lines += [
        "",
        "## Evidence thresholds (missense, PP3 / BP4)",
        "",
        ev.get("source", ""),
        "",
        "| direction | strength | LR | score threshold | 95 % CI |",
        "|---|---|---|---|---|",
    ]
    for direction in ("pathogenic", "benign"):
        for level, t in ev.get(direction, {}).items():
            ci = t.get("ci95")
            lines.append(
                f"| {direction} | {level} | {t['likelihood_ratio']:.3g} | {_f(t.get('threshold'))} | "
                f"{'-' if ci is None else f'{ci[0]:.3f}-{ci[1]:.3f}'} |"
            )
    lines += [
        "",
        "## Limitations",
        "- ClinVar 2016 is ascertained on disease genes; 75 % of its labelled missense are pathogenic.",
        "- No conservation or structure input: the missense score says what the substitution is and where it "
        "falls in the protein and gene, not how conserved the residue is.",
        "- Protein coverage is biased (pathogenic rows have a sequence more often): compare the with/without rows.",
        "- Evidence thresholds come from the test genes' missense predictions (the calibration set of this card); "
        "a threshold a level never reaches is '-'.",
        "- Population frequency is not a model input; read the score with the frequency the report shows.",
    ]
    return "\n".join(lines) + "\n"
