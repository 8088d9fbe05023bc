"""`hcml cohort stats` and `hcml cohort report`: a cohort VCF summarised per site, and the researcher's page."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


@click.group()
def cohort() -> None:
    """Joint-called cohort VCFs: per-site allele statistics (each site annotated once) and a report page."""


def _summarise(vcf: Path, panel: Path | None, out: Path):
    from hcml.cohort.stats import read_panel, summarise_cohort
    from hcml.config import bundle_dir
    from hcml.genomics.bundle.load import ReferenceBundle
    from hcml.genomics.errors import InputError

    try:
        bundle = ReferenceBundle.load(bundle_dir())
        return summarise_cohort(vcf, bundle, out, panel=read_panel(panel) if panel else None)
    except (InputError, FileNotFoundError) as exc:
        _fail(str(exc))


@cohort.command("stats")
@click.argument("vcf", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--panel",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Sample panel (tab-separated: sample, super_pop) for per-population counts.",
)
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Output Parquet (one row per site x ALT).")
def stats(vcf: Path, panel: Path | None, out: Path) -> None:
    """Per-site AC/AN/AF, genotype counts and call rate over every sample of VCF, each site annotated once."""
    t0 = time.perf_counter()
    s = _summarise(vcf, panel, out)
    click.echo(
        f"{s.n_samples} samples; {s.n_input} in = {s.n_sites} annotated + {s.n_rejected} rejected "
        f"(rejects: {s.rejects_path}); {out} in {time.perf_counter() - t0:.1f} s"
    )


@cohort.command("report")
@click.argument("vcf", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--panel",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Sample panel (tab-separated: sample, super_pop) for per-population frequencies.",
)
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Output HTML page.")
@click.option(
    "--stats",
    "stats_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Where to keep the per-site Parquet (default: next to the page).",
)
def report(vcf: Path, panel: Path | None, out: Path, stats_path: Path | None) -> None:
    """A self-contained HTML page: allele-frequency spectrum, population frequencies against the known ones,
    consequence counts, top genes by rare damaging burden."""
    import polars as pl

    from hcml.cohort.report import figures, render_html

    stats_path = stats_path or out.with_suffix(".stats.parquet")
    s = _summarise(vcf, panel, stats_path)
    fig = figures(pl.read_parquet(s.path), s.populations)
    out.parent.mkdir(parents=True, exist_ok=True)
    note = f"{vcf.name}: {s.n_samples} samples, {s.n_input} site alleles in = {s.n_sites} annotated + {s.n_rejected} rejected."
    out.write_text(render_html(fig, f"Cohort report: {vcf.name}", note))
    click.echo(f"{out} ({s.n_samples} samples, {s.n_sites} sites); per-site table {stats_path}")
