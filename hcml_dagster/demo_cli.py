"""`hcml demo`: the main job on the embedded default (the Dagster layer; `hcml.cli` imports it lazily)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import click

from hcml.config import REPO_ROOT, data_dir


def demo_samples() -> list[Path]:
    """The bundled real samples: a 1000 Genomes individual and the ClinVar variants of the region."""
    root = REPO_ROOT / "data" / "samples"
    return [root / "HG00096_chr21_region.vcf", root / "clinvar2016_chr21_region.vcf"]


def dagster_home() -> Path:
    """DAGSTER_HOME if set, else `data_dir()/dagster` (a persistent SQLite instance that `dagster dev` shows)."""
    home = Path(os.environ.get("DAGSTER_HOME") or data_dir() / "dagster").resolve()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text("# hcml embedded default: SQLite storage in this directory\ntelemetry:\n  enabled: false\n")
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def _say(message: str) -> None:
    click.echo(message, err=False)
    sys.stdout.flush()


@click.command("demo")
@click.option(
    "--sample",
    "samples",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A VCF to report on (repeatable). Default: the two bundled real samples.",
)
@click.option("--force", is_flag=True, help="Re-run samples whose report is already up to date.")
@click.option(
    "--no-models",
    is_flag=True,
    help="Do not (re)train the model assets; predictions use the current champion or the bundled model.",
)
def demo(samples: tuple[Path, ...], force: bool, no_models: bool) -> None:
    """Materialize the whole graph for the bundled real samples on the embedded default.

    Builds the reference bundle if needed, then (if present) the model assets, then for each sample its
    variants, annotations, features, predictions and clinical report, then the cohort statistics. Runs
    land in a persistent Dagster instance under `$HCML_DATA_DIR/dagster`; re-running is idempotent
    (samples whose input, code and reference are unchanged are skipped unless --force).
    """
    home = dagster_home()
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # keep the progress lines readable
    from hcml_dagster import runner as pipeline_runner

    paths = list(samples) or demo_samples()
    started = time.monotonic()
    _say(f"hcml demo: {len(paths)} sample(s); Dagster instance at {home}")
    try:
        outcome = pipeline_runner.run_demo(paths, force=force, say=_say, models=not no_models)
    except pipeline_runner.PipelineError as exc:
        raise click.ClickException(str(exc)) from exc
    _say(f"\ndone in {time.monotonic() - started:.0f} s.")
    _say("Reports:")
    for key, uris in outcome.reports.items():
        _say(f"  {key}:\n    {uris['report_html_uri']}\n    {uris['report_uri']}")
    if outcome.cohort_uri:
        _say(f"Cohort allele statistics: {outcome.cohort_uri}")
    _say("\nOpen the Dagster UI (lineage, runs, checks) with:")
    bindir = Path(sys.executable).parent
    _say(f"  DAGSTER_HOME={home} {bindir / 'dagster'} dev -w {REPO_ROOT / 'workspace.yaml'}")
    _say("Check a report's provenance with:")
    first = next(iter(outcome.reports.values()), None)
    if first:
        _say(f"  {bindir / 'hcml'} provenance verify {first['report_uri']}")
