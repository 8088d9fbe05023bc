"""Errors and rejects of the input readers.

Two kinds of bad input, handled differently on purpose:
- a problem with one record (a bad line, a REF that disagrees with the genome, an unknown contig) becomes
  one row of `ParsedInput.rejects` and the rest of the input still annotates: counts in = annotated + rejected;
- a problem with the whole input (missing file, not a VCF, empty input, a bundle that cannot serve it)
  raises `InputError` with one clear message; the CLI prints it and exits 2, the API answers 4xx.
"""

from __future__ import annotations

import polars as pl

REJECT_SCHEMA: dict[str, pl.DataType] = {
    "line": pl.Int64,  # 1-based source line, or the 1-based input index for lists (null when unknown)
    "variant_id": pl.Utf8,
    "field": pl.Utf8,  # the field at fault: CHROM, POS, REF, ALT, line, hgvs, sequence...
    "reason": pl.Utf8,  # precise, names the field and the value
    "text": pl.Utf8,  # the raw input, truncated to TEXT_LIMIT characters
}
TEXT_LIMIT = 200
# Largest genome position an input may state: far past any real contig, far from the 64-bit limit of the
# position columns (pos + length must not overflow).
MAX_POSITION = 2**62


class InputError(ValueError):
    """The whole input cannot be read: one clear message, no partial result."""


_EMPTY_REJECTS = pl.DataFrame(schema=REJECT_SCHEMA)


def empty_rejects() -> pl.DataFrame:
    # a clone of one empty frame (~0.3 us) instead of building it (~20 us): a small call's usual rejects
    return _EMPTY_REJECTS.clone()


def rejects_frame(rows: list[dict]) -> pl.DataFrame:
    """Rejects from a few Python dicts (the slow paths: variant strings, HGVS, sequences)."""
    if not rows:
        return empty_rejects()
    frame = pl.DataFrame(rows, schema=REJECT_SCHEMA)
    return frame.with_columns(pl.col("text").str.slice(0, TEXT_LIMIT))


def as_rejects(frame: pl.DataFrame) -> pl.DataFrame:
    """Project a frame that carries line/variant_id/field/reason/text onto the reject schema."""
    cols = []
    for name, dtype in REJECT_SCHEMA.items():
        col = pl.col(name) if name in frame.columns else pl.lit(None)
        if name == "text":
            col = col.cast(pl.Utf8).str.slice(0, TEXT_LIMIT)
        cols.append(col.cast(dtype).alias(name))
    return frame.select(cols)
