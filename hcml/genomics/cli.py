"""`hcml reference build` and `hcml compare-vep`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from hcml.config import bundle_dir, default_sources


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


@click.group()
def reference() -> None:
    """Build and inspect the reference bundle (gene models, genome, known variants, ClinVar)."""


@reference.command("build")
@click.option(
    "--gtf",
    type=click.Path(path_type=Path),
    default=None,
    help="Gene models: Ensembl GTF, or GFF3 (by .gff3/.gff name or header). Default: data/reference.",
)
@click.option("--fasta", type=click.Path(path_type=Path), default=None, help="bgzipped+indexed or plain FASTA.")
@click.option("--known-variants", type=click.Path(path_type=Path), default=None, help="VEP-cache known variants TSV.")
@click.option("--clinvar", type=click.Path(path_type=Path), default=None, help="ClinVar TSV with GRCh38 columns.")
@click.option(
    "--out", type=click.Path(path_type=Path), default=None, help="Output directory (default: $HCML_BUNDLE_DIR)."
)
@click.option(
    "--contigs",
    type=click.Choice(["all", "primary"]),
    default="all",
    show_default=True,
    help="'primary': only chromosomes 1-22, X, Y, MT (chr-prefixed or not); unplaced / alt contigs left out.",
)
def build(
    gtf: Path | None,
    fasta: Path | None,
    known_variants: Path | None,
    clinvar: Path | None,
    out: Path | None,
    contigs: str,
) -> None:
    """Compile the sources into a bundle directory (Parquet tables + sequence + manifest.json).

    With no options, builds from the real files shipped in data/ into $HCML_BUNDLE_DIR. When --gtf or
    --fasta is given, known variants and ClinVar are included only if given too."""
    import time
    import warnings

    from hcml.genomics.bundle import BundleError, BundleWarning, build_bundle

    src = default_sources()
    explicit = gtf is not None or fasta is not None
    gtf = gtf or src["gtf"]
    fasta = fasta or src["fasta"]
    if not explicit:
        known_variants = known_variants or src["known_variants"]
        clinvar = clinvar or src["clinvar"]
    out = out or bundle_dir()
    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", BundleWarning)
            path = build_bundle(gtf, fasta, out, known_variants=known_variants, clinvar=clinvar, contigs=contigs)
    except BundleError as exc:
        _fail(str(exc))
    for w in caught:
        click.echo(f"warning: {w.message}", err=True)
    from hcml.genomics.bundle.load import ReferenceBundle

    b = ReferenceBundle.load(path)
    from hcml.acmg.config import load_config
    from hcml.acmg.reference_cache import reference_for

    # ACMG's compiled reference, cached in the bundle: a service on a read-only bundle starts by reading it
    reference_for(b, load_config().defaults.clinvar_min_stars)
    c = b.manifest["counts"]
    click.echo(
        f"bundle written to {path} in {time.perf_counter() - t0:.1f}s: {c['genes']} genes, {c['transcripts']} "
        f"transcripts, {c['exons']} exons, {c['sequence_bases']:,} bases, {c['known_variants']:,} known "
        f"variants, {c['clinvar']:,} ClinVar records; sha256 {b.manifest['bundle_sha256'][:12]}"
    )


@click.command("compare-vep")
@click.option(
    "--vcf", type=click.Path(path_type=Path), default=None, help="Input VCF (default: data/truth/saturation.vcf.gz)."
)
@click.option("--vep", type=click.Path(path_type=Path), default=None, help="Ensembl VEP --tab output for the same VCF.")
@click.option(
    "--bundle",
    "bundle_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Bundle directory (default: $HCML_BUNDLE_DIR, built if absent).",
)
@click.option("--show", type=int, default=0, help="Print up to N disagreeing rows per field.")
def compare_vep(vcf: Path | None, vep: Path | None, bundle_path: Path | None, show: int) -> None:
    """Annotate VCF and print per-field agreement with Ensembl VEP's output on the transcripts both have."""
    from hcml.config import reference_data_dir
    from hcml.genomics.compare import compare_with_vep, format_report

    truth = reference_data_dir() / "truth"
    vcf = vcf or truth / "saturation.vcf.gz"
    vep = vep or truth / "saturation.vep115.tsv.gz"
    for p in (vcf, vep):
        if not Path(p).is_file():
            _fail(f"file not found: {p}")
    bundle = _load_or_build(bundle_path)
    report = compare_with_vep(vcf, vep, bundle)
    click.echo(format_report(report, show=show))


def _load_or_build(bundle_path: Path | None):
    from hcml.genomics.bundle import BundleError, ReferenceBundle, build_bundle

    path = bundle_path or bundle_dir()
    if not (Path(path) / "manifest.json").is_file():
        if bundle_path is not None:
            _fail(f"{path}: not a reference bundle (no manifest.json); build one with `hcml reference build`")
        src = default_sources()
        click.echo(f"building the reference bundle into {path} ...", err=True)
        try:
            build_bundle(src["gtf"], src["fasta"], path, src["known_variants"], src["clinvar"])
        except BundleError as exc:
            _fail(str(exc))
    return ReferenceBundle.load(path)
