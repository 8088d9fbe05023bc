"""`hcml annotate`: read variants (VCF, variant strings or a raw sequence), annotate offline, write VEP tab,
VCF with CSQ, Ensembl REST JSON or Parquet.  Rejects go to a TSV; a one-line summary goes to stderr.
Whole-input errors print one line and exit 2.  A VCF is read, annotated and written a chunk of records at a
time (hcml.genomics.vcf_chunks), each distinct allele of a chunk annotated once."""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from hcml.genomics.bundle.load import ReferenceBundle

FORMATS = ["vep", "vcf", "json", "parquet"]
EXIT_INPUT_ERROR = 2


def _say(message: str) -> None:
    click.echo(message, err=True)


@click.command("annotate")
@click.argument("input_path", metavar="[INPUT]", required=False)
@click.option(
    "--bundle",
    "bundle_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Reference bundle directory (default: $HCML_BUNDLE_DIR or <data dir>/bundle).",
)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="vep", show_default=True, help="Output format.")
@click.option("--output", "-o", type=click.Path(path_type=Path), default=None, help="Output file (default: stdout).")
@click.option(
    "--rejects",
    "rejects_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Write rejected records as TSV (line, field, reason, text) here.",
)
@click.option(
    "--variants",
    "variants",
    default=None,
    help='Comma-separated variant strings instead of INPUT: "21-25891796-C-T,ENST00000346798.7:c.2149G>A".',
)
@click.option(
    "--sequence",
    "sequence_path",
    type=click.Path(path_type=Path),
    default=None,
    help="A raw DNA sequence file (plain or FASTA) to place in the reference and call variants from.",
)
@click.option(
    "--kind",
    type=click.Choice(["auto", "vcf", "variants", "sequence"]),
    default="auto",
    show_default=True,
    help="How to read INPUT.",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress or summary on stderr.")
@click.option(
    "--acmg",
    is_flag=True,
    help="Add the ACMG/AMP class, points, criteria and evidence of each variant "
    "(extra fields ACMG_*; PP3/BP4 from the serving model's evidence thresholds, docs/acmg.md).",
)
def annotate(input_path, bundle_dir, fmt, output, rejects_path, variants, sequence_path, kind, quiet, acmg) -> None:
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
        run(input_path, bundle_dir, fmt, output, rejects_path, variants, sequence_path, kind, quiet, acmg=acmg)
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
    from hcml.genomics.bundle.load import ReferenceBundle

    try:
        return ReferenceBundle.load(path)
    except Exception as exc:  # a corrupt or incompatible bundle is a whole-input error
        raise InputError(f"cannot load the reference bundle at {path}: {exc}") from exc


def run(
    input_path,
    bundle_dir,
    fmt,
    output,
    rejects_path,
    variants,
    sequence_path,
    kind="auto",
    quiet=False,
    chunk_records: int | None = None,
    acmg: bool = False,
) -> dict:
    """Read, annotate and write a chunk of records at a time (VCF inputs; other inputs are one chunk), so
    memory follows the chunk, not the input. Returns the counts: records in, annotated, rejected."""
    from hcml.genomics.errors import InputError

    given = [x is not None for x in (input_path, variants, sequence_path)]
    if sum(given) != 1:
        raise InputError("give exactly one input: INPUT (a VCF path or '-'), --variants or --sequence")
    if fmt == "parquet" and output is None:
        raise InputError("--format parquet needs --output FILE (binary output is not written to a terminal)")
    t0 = time.perf_counter()
    bundle = load_bundle(bundle_dir)
    counts = {"in": 0, "annotated": 0, "rejected": 0}
    shown: list[tuple] = []  # the first rejects, for stderr
    classify_with = _acmg_model() if acmg else None
    with contextlib.ExitStack() as closing:
        rejects_fh = closing.enter_context(open(rejects_path, "wb")) if rejects_path is not None else None

        def annotated():
            parsed_chunks = read_chunks(input_path, variants, sequence_path, kind, bundle, chunk_records)
            for k, parsed in enumerate(parsed_chunks):
                counts["in"] += parsed.n_input
                counts["annotated"] += parsed.variants.height
                counts["rejected"] += parsed.rejects.height
                if len(shown) < 6 and parsed.rejects.height:
                    shown.extend(parsed.rejects.select("line", "field", "reason").head(6 - len(shown)).iter_rows())
                if rejects_fh is not None:
                    write_rejects(parsed.rejects, rejects_fh, include_header=k == 0)
                yield annotate_chunk(parsed, bundle, classify_with)
                if not quiet and counts["in"] >= 10_000:
                    _say(f"  annotated {counts['in']} records ({time.perf_counter() - t0:.1f}s)")

        write(fmt, annotated(), output, bundle)
    if not quiet:
        _say(
            f"{counts['in']} in = {counts['annotated']} annotated + {counts['rejected']} rejected "
            f"({time.perf_counter() - t0:.2f}s)"
        )
        if counts["rejected"] and rejects_path is None:
            for line, field, reason in shown[:5]:
                where = f"line {line}" if line is not None else "input"
                _say(f"  rejected {where} [{field}]: {reason}")
            if counts["rejected"] > 5:
                _say(f"  ... {counts['rejected'] - 5} more (write them all with --rejects FILE)")
    return counts


def read_chunks(input_path, variants, sequence_path, kind, bundle: ReferenceBundle, chunk_records: int | None = None):
    """ParsedInputs of consecutive runs of the input's records, with the whole input's line and row numbers.

    A VCF file or stdin is cut into chunks of `chunk_records` record lines (default HCML_ANNOTATE_CHUNK_RECORDS,
    see hcml.genomics.vcf_chunks), each read by the one VCF reader; anything else (variant strings, a
    sequence, what is not a VCF) is read whole.
    """
    import polars as pl

    from hcml.genomics.errors import InputError
    from hcml.genomics.inputs import call_sequence, parse_variant_strings, read_input, sniff
    from hcml.genomics.vcf_chunks import VcfStream, read_chunk

    if variants is not None:
        yield parse_variant_strings(variants, bundle)
        return
    if sequence_path is not None:
        if not Path(sequence_path).exists():
            raise InputError(f"sequence file not found: {sequence_path}")
        yield call_sequence(Path(sequence_path).read_text(errors="replace"), bundle, name=Path(sequence_path).name)
        return
    stream = VcfStream.open(input_path) if kind in ("auto", "vcf") else None
    if stream is None:
        yield read_input(sys.stdin.buffer.read() if input_path == "-" else Path(input_path), bundle, kind=kind)
        return
    try:
        chunks = None
        if stream.header_end is not None and (kind == "vcf" or sniff(stream.sniff_text()) == "vcf"):
            chunks = stream.chunks(chunk_records)
        if chunks is None:
            yield read_input(stream.read_all(), bundle, kind=kind)
            return
        rows = 0
        for chunk in chunks:
            parsed = read_chunk(chunk, bundle)
            if rows:
                parsed.variants = parsed.variants.with_columns((pl.col("row") + rows).cast(pl.UInt32))
            rows += parsed.variants.height
            yield parsed
    finally:
        stream.close()


BATCH_SIZE = 100_000
KEY = ["variant_id", "chrom", "pos", "ref", "alt"]


def _acmg_model():
    """The serving model (for PP3/BP4's evidence thresholds and the scores), or False when none loads: the
    classification is then made without PP3/BP4."""
    from hcml.ml.serving import load_scorer
    from hcml.observability import configure_logging

    configure_logging("hcml-annotate")  # the loader's log line goes to stderr: stdout may be the output
    try:
        return load_scorer()
    except Exception as exc:  # noqa: BLE001 - classify without the in-silico criteria, and say so
        _say(f"hcml annotate: no model ({type(exc).__name__}): ACMG PP3/BP4 not evaluated")
        return False


def annotate_chunk(parsed, bundle: ReferenceBundle, classify_with=None):
    """The chunk's annotations with each distinct allele annotated once (`AnnotatedChunk`).

    Cohort and multi-sample inputs, sorted by position, repeat the same allele in neighbouring records: its
    rows are computed once and shared (the writers copy their text); `.annotations()` equals
    `annotate(parsed.variants)` row for row.
    """
    from hcml.genomics.outputs import AnnotatedChunk

    distinct, reps = _distinct(parsed.variants, bundle)
    if classify_with is not None:  # --acmg: per allele, so records sharing one share its classification
        from hcml.acmg.classify import annotation_columns

        distinct = annotation_columns(distinct, bundle, classify_with or None)
    return AnnotatedChunk(distinct, reps, parsed)


def _distinct(variants, bundle: ReferenceBundle):
    import polars as pl

    from hcml.genomics.annotate import annotate as annotate_variants

    key = KEY + [c for c in ("sv_class", "sv_end") if c in variants.columns]  # a symbolic allele is its extent too
    distinct = variants.unique(subset=key, keep="first", maintain_order=True)
    ann = annotate_variants(distinct, bundle)
    if distinct.height == variants.height:
        return ann, None
    reps = variants.select("row", *key).join(
        distinct.select(pl.col("row").alias("rep"), *key), on=key, how="left", nulls_equal=True, maintain_order="left"
    )
    return ann, reps.select("row", "rep")


def annotate_in_batches(variants, bundle: ReferenceBundle, batch_size: int = BATCH_SIZE, progress=None):
    """Annotations of `variants` as a stream of frames in input order, `batch_size` records at a time,
    each distinct allele of a batch annotated once; the frames equal `annotate(variants)` row for row."""
    from hcml.genomics.outputs import AnnotatedChunk

    total = variants.height
    for start in range(0, total, batch_size):
        ann, reps = _distinct(variants.slice(start, batch_size), bundle)
        yield AnnotatedChunk(ann, reps).annotations()
        if progress:
            progress(min(start + batch_size, total), total)


def write(fmt: str, chunks, output, bundle: ReferenceBundle | None = None) -> None:
    """Write a stream of `AnnotatedChunk`s (or frames) in `fmt`."""
    from hcml.genomics import outputs

    out = output if output is not None else "-"
    if fmt == "vep":
        meta = {}
        if bundle is not None and getattr(bundle, "manifest", None):
            meta["Reference bundle sha256"] = bundle.manifest.get("bundle_sha256", "unknown")
        outputs.write_vep(chunks, out, meta=meta)
    elif fmt == "vcf":
        outputs.write_vcf(None, chunks, out)
    elif fmt == "json":
        outputs.write_json(chunks, out)
    else:
        outputs.write_parquet(chunks, out)


def write_rejects(rejects, path_or_handle, include_header: bool = True) -> None:
    """TSV with a header: line, field, reason, text (tabs and newlines in the text made visible)."""
    import polars as pl

    rejects.select(
        pl.col("line"),
        pl.col("field"),
        pl.col("reason"),
        pl.col("text").str.replace_all("\t", "\\t", literal=True).str.replace_all("\n", "\\n", literal=True),
    ).write_csv(path_or_handle, separator="\t", quote_style="never", null_value="", include_header=include_header)
