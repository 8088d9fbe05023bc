"""`hcml annotate`: read variants (VCF, variant strings or a raw sequence), annotate offline, write VEP tab,
VCF with CSQ, Ensembl REST JSON or Parquet.  Rejects go to a TSV; a one-line summary goes to stderr.
Whole-input errors print one line and exit 2."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

FORMATS = ["vep", "vcf", "json", "parquet"]
EXIT_INPUT_ERROR = 2


def _say(message: str) -> None:
    click.echo(message, err=True)


@click.command("annotate")
@click.argument("input_path", metavar="[INPUT]", required=False)
@click.option("--bundle", "bundle_dir", type=click.Path(path_type=Path), default=None,
              help="Reference bundle directory (default: $HCML_BUNDLE_DIR or <data dir>/bundle).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="vep", show_default=True, help="Output format.")
@click.option("--output", "-o", type=click.Path(path_type=Path), default=None, help="Output file (default: stdout).")
@click.option("--rejects", "rejects_path", type=click.Path(path_type=Path), default=None,
              help="Write rejected records as TSV (line, field, reason, text) here.")
@click.option("--variants", "variants", default=None,
              help='Comma-separated variant strings instead of INPUT: "21-25891796-C-T,ENST00000346798.7:c.2149G>A".')
@click.option("--sequence", "sequence_path", type=click.Path(path_type=Path), default=None,
              help="A raw DNA sequence file (plain or FASTA) to place in the reference and call variants from.")
@click.option("--kind", type=click.Choice(["auto", "vcf", "variants", "sequence"]), default="auto", show_default=True,
              help="How to read INPUT.")
@click.option("--quiet", "-q", is_flag=True, help="No progress or summary on stderr.")
def annotate(input_path, bundle_dir, fmt, output, rejects_path, variants, sequence_path, kind, quiet) -> None:
    """Annotate INPUT (a VCF, plain or bgzipped, a variant list or a sequence file; '-' for stdin) offline
    against a reference bundle, as Ensembl VEP would.

    \b
    Examples:
      hcml annotate sample.vcf.gz --format vcf -o annotated.vcf --rejects rejects.tsv
      hcml annotate --variants "21-25891784-C-T,ENST00000346798.7:c.2149G>A" --format json
      hcml annotate --sequence read.fa
    Bad records are rejected with their line and reason (counts in = annotated + rejected);
    an unreadable input exits with status 2.
    """
    from hcml.genomics.errors import InputError

    try:
        run(input_path, bundle_dir, fmt, output, rejects_path, variants, sequence_path, kind, quiet)
    except InputError as exc:
        _say(f"hcml annotate: error: {exc}")
        sys.exit(EXIT_INPUT_ERROR)


def load_bundle(bundle_dir: Path | None):
    from hcml.config import bundle_dir as default_bundle_dir
    from hcml.genomics.errors import InputError

    path = Path(bundle_dir) if bundle_dir else default_bundle_dir()
    if not (path / "manifest.json").exists():
        raise InputError(
            f"no reference bundle at {path} (no manifest.json): build one with `hcml reference build` or pass --bundle"
        )
    from hcml.genomics.bundle import ReferenceBundle

    try:
        return ReferenceBundle.load(path)
    except Exception as exc:  # a corrupt or incompatible bundle is a whole-input error
        raise InputError(f"cannot load the reference bundle at {path}: {exc}") from exc


def run(input_path, bundle_dir, fmt, output, rejects_path, variants, sequence_path, kind="auto", quiet=False):
    from hcml.genomics.errors import InputError
    from hcml.genomics.inputs import call_sequence, parse_variant_strings, read_input

    given = [x is not None for x in (input_path, variants, sequence_path)]
    if sum(given) != 1:
        raise InputError("give exactly one input: INPUT (a VCF path or '-'), --variants or --sequence")
    if fmt == "parquet" and output is None:
        raise InputError("--format parquet needs --output FILE (binary output is not written to a terminal)")
    t0 = time.perf_counter()
    bundle = load_bundle(bundle_dir)
    if variants is not None:
        parsed = parse_variant_strings(variants, bundle)
    elif sequence_path is not None:
        if not Path(sequence_path).exists():
            raise InputError(f"sequence file not found: {sequence_path}")
        parsed = call_sequence(Path(sequence_path).read_text(errors="replace"), bundle, name=Path(sequence_path).name)
    else:
        source = sys.stdin.buffer.read() if input_path == "-" else Path(input_path)
        parsed = read_input(source, bundle, kind=kind)
    t_read = time.perf_counter()
    if not quiet and parsed.n_input >= 10_000:
        _say(f"read {parsed.n_input} records in {t_read - t0:.1f}s; annotating {parsed.variants.height} variants...")
    if parsed.variants.height:
        # streamed: each distinct allele annotated once, batches written as they come (bounded memory)
        def progress(done: int, total: int) -> None:
            if not quiet and total >= 10_000:
                _say(f"  annotated {done}/{total} variants ({time.perf_counter() - t_read:.1f}s)")

        annotations = annotate_in_batches(parsed.variants, bundle, progress=progress)
    else:
        annotations = annotate_parsed(parsed, bundle)
    write(fmt, parsed, annotations, output, bundle)
    if rejects_path is not None:
        write_rejects(parsed.rejects, rejects_path)
    if not quiet:
        _say(f"{parsed.summary_line()} ({time.perf_counter() - t0:.2f}s)")
        if parsed.rejects.height and rejects_path is None:
            for line, field, reason in parsed.rejects.select("line", "field", "reason").head(5).iter_rows():
                where = f"line {line}" if line is not None else "input"
                _say(f"  rejected {where} [{field}]: {reason}")
            if parsed.rejects.height > 5:
                _say(f"  ... {parsed.rejects.height - 5} more (write them all with --rejects FILE)")
    return parsed, annotations


def annotate_parsed(parsed, bundle):
    from hcml.genomics.annotate import annotate as annotate_variants

    return annotate_variants(parsed.variants, bundle)


BATCH_SIZE = 100_000
KEY = ["variant_id", "chrom", "pos", "ref", "alt"]


def annotate_in_batches(variants, bundle, batch_size: int = BATCH_SIZE, progress=None):
    """Annotations of `variants` as a stream of frames in input order, in bounded memory.

    Records are taken `batch_size` at a time; within a batch each distinct allele is annotated once and
    its rows copied to every record that carries it (with that record's own `row`).  Cohort and
    multi-sample inputs, sorted by position, repeat the same allele in neighbouring records, so this
    annotates each allele about once; the result equals `annotate(variants)` row for row.
    """
    import polars as pl

    from hcml.genomics.annotate import annotate as annotate_variants

    total = variants.height
    key = KEY + [c for c in ("sv_class", "sv_end") if c in variants.columns]  # a symbolic allele is its extent too
    for start in range(0, total, batch_size):
        chunk = variants.slice(start, batch_size)
        distinct = chunk.unique(subset=key, keep="first", maintain_order=True)
        ann = annotate_variants(distinct, bundle)
        if distinct.height == chunk.height:
            yield ann
        else:
            mapping = chunk.select("row", *key).join(
                distinct.select(pl.col("row").alias("rep"), *key), on=key, how="left", nulls_equal=True,
                maintain_order="left",
            )
            yield (
                mapping.select("row", "rep")
                .join(ann.rename({"row": "rep"}), on="rep", how="inner", maintain_order="left_right")
                .drop("rep")
                .select(ann.columns)
            )
        if progress:
            progress(min(start + batch_size, total), total)


def write(fmt: str, parsed, annotations, output, bundle=None) -> None:
    from hcml.genomics import outputs

    out = output if output is not None else "-"
    if fmt == "vep":
        meta = {}
        if bundle is not None and getattr(bundle, "manifest", None):
            meta["Reference bundle sha256"] = bundle.manifest.get("bundle_sha256", "unknown")
        outputs.write_vep(annotations, out, meta=meta)
    elif fmt == "vcf":
        outputs.write_vcf(parsed, annotations, out)
    elif fmt == "json":
        outputs.write_json(annotations, out, parsed=parsed)
    else:
        outputs.write_parquet(annotations, out)


def write_rejects(rejects, path: Path) -> None:
    """TSV with a header: line, field, reason, text (tabs and newlines in the text made visible)."""
    import polars as pl

    rejects.select(
        pl.col("line"),
        pl.col("field"),
        pl.col("reason"),
        pl.col("text").str.replace_all("\t", "\\t", literal=True).str.replace_all("\n", "\\n", literal=True),
    ).write_csv(path, separator="\t", quote_style="never", null_value="")
