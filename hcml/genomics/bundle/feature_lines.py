"""GTF / GFF3 feature lines read in chunks into typed columns, a whole-genome file never held as text."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from .files import BundleError, _open_text, normalise_contig

_COLUMNS = ["chrom", "source", "feature", "start", "end", "score", "strand", "frame", "attributes"]


class BundleWarning(UserWarning):
    """Part of a source was left out (e.g. a transcript without exons); the bundle still builds and its
    manifest lists what was skipped and why."""


FEATURE_CHUNK_LINES = 1 << 18  # lines parsed at a time: a whole-genome GTF is never held as text


def _text_chunks(path: Path, kind: str, lines_per_chunk: int):
    """(first line number, lines) of a text / gzip / bgzip file, `lines_per_chunk` lines at a time."""
    try:
        with _open_text(path) as fh:
            first, buf = 1, []
            for line in fh:
                buf.append(line)
                if len(buf) == lines_per_chunk:
                    yield first, buf
                    first, buf = first + len(buf), []
            if buf:
                yield first, buf
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise BundleError(f"{path}: cannot read as a {kind} file ({exc})") from exc


def _read_feature_lines(path: Path, kind: str, extract=None, lines_per_chunk: int | None = None) -> pl.DataFrame:
    """The feature rows of a GTF / GFF3 as its nine columns plus `line` (1-based line in the file); comments,
    blank lines and a GFF3's embedded `##FASTA` section are not features. The file is read in chunks of
    lines and `extract` (frame -> frame) turns each chunk into the columns kept, so memory follows the gene
    model tables, not the file (a whole-genome Ensembl GTF is ~1.5 GB of text, mostly repeated attributes).
    A row that is not nine tab-separated columns, or whose start / end is not an integer, raises BundleError
    naming the file and line: GFF3 (spec 1.26, "Column 9") requires a tab inside an attribute to be written
    %09, so a tenth column means a malformed file, and guessing which tab was meant would hide other damage."""
    parts = []
    for first, lines in _text_chunks(path, kind, lines_per_chunk or FEATURE_CHUNK_LINES):
        df = pl.DataFrame({"text": lines}, schema={"text": pl.Utf8}).with_row_index("line", offset=first)
        df = df.with_columns(pl.col("line").cast(pl.Int64), pl.col("text").str.strip_chars_end("\r\n"))
        fasta = df.filter(pl.col("text").str.starts_with("##FASTA"))
        if fasta.height:
            df = df.filter(pl.col("line") < fasta["line"][0])
        df = _feature_columns(path, kind, df)
        if df.height:
            parts.append(extract(df) if extract is not None else df)
        if fasta.height:
            break
    if not parts:
        raise BundleError(f"{path}: not a {kind} file (no feature lines)")
    if isinstance(parts[0], tuple):  # an `extract` that splits each chunk: one frame per kind
        return tuple(pl.concat(kind_parts, how="vertical_relaxed") for kind_parts in zip(*parts))
    return pl.concat(parts, how="vertical_relaxed")


def _feature_columns(path: Path, kind: str, df: pl.DataFrame) -> pl.DataFrame:
    """One chunk of lines (`line`, `text`) -> its feature rows as the nine columns (errors name the line)."""
    df = df.filter(~pl.col("text").str.starts_with("#") & (pl.col("text").str.strip_chars() != ""))
    df = df.with_columns(pl.col("text").str.split("\t").alias("_f")).with_columns(_n=pl.col("_f").list.len())
    bad = df.filter(pl.col("_n") != 9)
    if bad.height:
        line, n = bad["line"][0], bad["_n"][0]
        hint = " (a tab inside an attribute must be written %09)" if n > 9 else ""
        more = f"; {bad.height - 1} more such lines" if bad.height > 1 else ""
        raise BundleError(f"{path}:{line}: {n} tab-separated columns where {kind} has 9{hint}{more}")
    df = df.select("line", *[pl.col("_f").list.get(i).alias(c) for i, c in enumerate(_COLUMNS)])
    for col in ("start", "end"):
        as_int = pl.col(col).str.strip_chars().cast(pl.Int64, strict=False)
        bad = df.filter(as_int.is_null())
        if bad.height:
            raise BundleError(f"{path}:{bad['line'][0]}: {col} '{bad[col][0][:40]}' is not an integer")
        df = df.with_columns(as_int.alias(col))
    return df.with_columns(
        pl.col("chrom").replace_strict(
            {c: normalise_contig(c) for c in df["chrom"].unique().to_list()}, return_dtype=pl.Utf8
        )
    )
