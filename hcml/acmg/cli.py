"""`hcml acmg ...`: the ACMG/AMP classification's validation against ClinVar and its configuration."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.group("acmg")
def acmg() -> None:
    """ACMG/AMP classification (Richards 2015, ClinGen SVI, Tavtigian 2020 points): evaluate, show the config."""


@acmg.command("evaluate")
@click.option(
    "--bundle",
    "bundle_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Reference bundle (default: HCML_BUNDLE_DIR or var/bundle).",
)
@click.option(
    "--split",
    default="test",
    show_default=True,
    type=click.Choice(["test", "validation", "train"]),
    help="Which genes of the model's gene split to classify (test: held out from every model).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the whole result as JSON.")
def evaluate_cmd(bundle_dir: Path | None, split: str, as_json: bool) -> None:
    """Classify ClinVar 2016 variants of held-out genes (>= 1 review star, no conflict), each with its own
    ClinVar record removed from every look-up, and compare with ClinVar: dangerous flips, three-tier
    concordance per consequence class, share left VUS."""
    from hcml.acmg.evaluate import evaluate
    from hcml.genomics.annotate_cli import load_bundle
    from hcml.ml.serving import load_scorer
    from hcml.observability import configure_logging

    configure_logging("hcml-acmg")  # log lines to stderr: stdout is the result

    bundle = load_bundle(bundle_dir)
    result = evaluate(bundle, load_scorer(), split=split)
    if as_json:
        click.echo(json.dumps(result, indent=1, default=str))
        return
    click.echo(format_result(result))


def format_result(r: dict) -> str:
    from hcml.acmg.criteria import NO_THRESHOLDS

    lines = [
        f"{r['n_variants']} ClinVar variants in {r['n_genes']} held-out genes ({r['clinvar_tiers']}); model {r['model']}",
        f"dangerous flips: {r['dangerous_flips']} ({(r['dangerous_flip_rate'] or 0):.2%}; target <= "
        f"{r['dangerous_flip_target']:.1%}: {'met' if r['within_target'] else 'NOT met'})",
        f"three-tier concordance {(r['concordance_three_tier'] or 0):.1%}; left VUS {(r['vus_share'] or 0):.1%}; "
        f"Richards 2015 rules agree with the points on {(r['rules_agree_share'] or 0):.1%}",
        f"{'class':<16}{'n':>7}{'concord.':>10}{'VUS':>8}{'flips':>7}",
    ]
    for c in r["per_consequence_class"]:
        lines.append(
            f"{c['consequence_class']:<16}{c['n']:>7}{c['concordance']:>10.1%}{c['vus_share']:>8.1%}{c['dangerous_flips']:>7}"
        )
    lines.append("criteria used: " + ", ".join(f"{k} {v}" for k, v in r["criteria_used"].items()))
    if not r["evidence_thresholds"]:
        lines.append(f"PP3/BP4 not evaluated: {NO_THRESHOLDS}")
    return "\n".join(lines)


@acmg.command("config")
def config_cmd() -> None:
    """Print the configuration in force (HCML_ACMG_CONFIG or the defaults) and its sha256."""
    from hcml.acmg.config import load_config

    cfg = load_config()
    click.echo(
        json.dumps(
            {
                "source": cfg.source,
                "sha256": cfg.sha256,
                "defaults": cfg.defaults.__dict__,
                "genes": {g: s.__dict__ for g, s in cfg.genes.items()},
            },
            indent=1,
            default=list,
        )
    )
