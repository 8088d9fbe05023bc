"""VCF reading, vectorised over lines with polars (no Python loop per record).

Produces candidates for `hcml.genomics.normalise`: one row per (record, ALT allele), exact 1-based file
line numbers kept for rejects.  Record-level problems (wrong column count, a POS that is not an integer)
are rejected here, once per record; allele-level problems are left to the shared checks.
"""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from hcml.genomics.errors import InputError, as_rejects, empty_rejects
from hcml.genomics.normalise import vep_default_ids

VCF_COLUMNS = ["CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO"]


@dataclass
class VcfRecords:
    header: list[str]  # meta lines ("##...") then the "#CHROM..." line
    samples: list[str]
    candidates: pl.DataFrame  # CANDIDATE_SCHEMA + rec (record index) + allele (1-based ALT index) + n_alt
    gt: pl.DataFrame | None  # cand, then one GT column per sample (raw, per record)
    rejects: pl.DataFrame
    n_records: int
    lines: pl.DataFrame  # line, text: every record line as read (for the VCF writer)


def _looks_like_path(text: str) -> bool:
    """A one-line string is a path if it exists or looks like one; otherwise it is the input itself."""
    if "\n" in text or "\t" in text:
        return False
    return Path(text).exists() or "/" in text or text.lower().endswith((".vcf", ".gz", ".bgz", ".txt", ".fa", ".fasta", ".tsv"))


def read_bytes(source: str | Path | bytes) -> bytes:
    """The raw input: a path, VCF text, or bytes; gzip/bgzip (multi-member) decompressed."""
    if isinstance(source, bytes):
        data = source
    elif isinstance(source, Path) or _looks_like_path(source):
        path = Path(source)
        if not path.exists():
            raise InputError(f"input file not found: {path}")
        if path.is_dir():
            raise InputError(f"input is a directory, not a file: {path}")
        data = path.read_bytes()
    else:
        return source.encode("utf-8")
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise InputError(f"input is gzip-compressed but cannot be decompressed: {exc}") from exc
    return data


def parse_vcf(data: bytes) -> VcfRecords:
    text = data.decode("utf-8", errors="replace")
    if "\x00" in text[:4096]:
        raise InputError("input is not a VCF: it looks binary (not text, not gzip)")
    lines = text.split("\n")
    header: list[str] = []
    chrom_line = None
    for i, line in enumerate(lines):
        if not line.startswith("#"):
            break
        line = line.rstrip("\r")
        header.append(line)
        if line.startswith("#CHROM"):
            chrom_line = line
            break
    body_start = len(header)
    if chrom_line is None:
        if not any(line.strip() for line in lines):
            raise InputError("empty input: no VCF header and no records")
        raise InputError("input is not a VCF: no '#CHROM\\tPOS\\tID\\tREF\\tALT...' header line before the records")
    columns = chrom_line.lstrip("#").split("\t")
    if [c.upper() for c in columns[:8]] != VCF_COLUMNS:
        raise InputError(
            "input is not a VCF: the header line must start with #CHROM POS ID REF ALT QUAL FILTER INFO "
            f"(tab-separated), found: {chrom_line[:120]!r}"
        )
    samples = columns[9:] if len(columns) > 9 else []
    n_cols = len(columns)

    body = pl.DataFrame({"text": lines[body_start:]}, schema={"text": pl.Utf8}).with_columns(
        (pl.int_range(pl.len(), dtype=pl.Int64) + body_start + 1).alias("line"),
        pl.col("text").str.strip_chars_end("\r"),
    )
    body = body.filter(pl.col("text").str.strip_chars() != "")  # blank lines are not records
    if body.height == 0:
        raise InputError("empty input: the VCF has a header but no records")
    body = body.with_row_index("rec").with_columns(pl.col("text").str.split("\t").alias("_f"))
    f = pl.col("_f")
    body = body.with_columns(
        f.list.len().alias("_ncol"),
        f.list.get(0, null_on_oob=True).alias("chrom_in"),
        f.list.get(1, null_on_oob=True).alias("_pos"),
        f.list.get(2, null_on_oob=True).alias("_id"),
        f.list.get(3, null_on_oob=True).alias("ref"),
        f.list.get(4, null_on_oob=True).alias("_alt"),
        *(
            [f.list.get(8, null_on_oob=True).alias("_fmt")]
            + [f.list.get(9 + k, null_on_oob=True).alias(f"_s{k}") for k in range(len(samples))]
            if samples
            else []
        ),
    ).drop("_f")
    body = body.with_columns(pl.col("_pos").str.strip_chars().cast(pl.Int64, strict=False).alias("pos"))
    reason = (
        pl.when(pl.col("text").str.starts_with("#"))
        .then(pl.lit("header line after the #CHROM line"))
        .when(pl.col("_ncol") != n_cols)
        .then(pl.format("expected {} tab-separated columns, found {}", pl.lit(n_cols), pl.col("_ncol")))
        .when(pl.col("chrom_in").str.strip_chars() == "")
        .then(pl.lit("CHROM is empty"))
        .when(pl.col("pos").is_null())
        .then(pl.format("POS '{}' is not an integer", pl.col("_pos").str.slice(0, 40)))
        .when(pl.col("pos") < 1)
        .then(pl.format("POS {} must be >= 1", pl.col("pos")))
        .otherwise(None)
    )
    field = (
        pl.when(pl.col("text").str.starts_with("#") | (pl.col("_ncol") != n_cols))
        .then(pl.lit("line"))
        .when(pl.col("chrom_in").str.strip_chars() == "")
        .then(pl.lit("CHROM"))
        .otherwise(pl.lit("POS"))
    )
    body = body.with_columns(reason.alias("reason"), field.alias("field"))
    bad = body.filter(pl.col("reason").is_not_null())
    rejects = as_rejects(bad.with_columns(pl.lit(None, dtype=pl.Utf8).alias("variant_id"))) if bad.height else empty_rejects()
    good = body.filter(pl.col("reason").is_null()).drop("reason", "field", "_ncol", "_pos")

    # one row per ALT allele; only multi-allelic records pay for the explode
    is_multi = pl.col("_alt").str.contains(",", literal=True)
    single = good.filter(~is_multi).with_columns(
        pl.col("_alt").alias("alt"), pl.lit(1, pl.Int32).alias("allele"), pl.lit(1, pl.UInt32).alias("n_alt")
    )
    multi = good.filter(is_multi)
    if multi.height:
        multi = (
            multi.with_columns(pl.col("_alt").str.split(",").alias("alt"))
            .with_columns(pl.col("alt").list.len().cast(pl.UInt32).alias("n_alt"))
            .explode("alt")
            .with_columns((pl.int_range(pl.len()).over("rec") + 1).cast(pl.Int32).alias("allele"))
        )
        alleles = pl.concat([single, multi.select(single.columns)]).sort("rec", "allele")
    else:
        alleles = single
    alleles = alleles.drop("_alt").with_row_index("cand")
    no_id = pl.col("_id").is_in([".", ""]) | pl.col("_id").is_null()
    unnamed = alleles.filter(no_id)
    if unnamed.height:
        ids = vep_default_ids(
            unnamed.with_columns(pl.col("ref").str.to_uppercase(), pl.col("alt").str.to_uppercase()), record="rec"
        )
        alleles = alleles.with_columns(pl.col("_id").alias("variant_id")).update(
            unnamed.select("cand", ids.alias("variant_id")), on="cand"
        )
    else:
        alleles = alleles.with_columns(pl.col("_id").alias("variant_id"))
    candidates = alleles.select(
        pl.col("cand").cast(pl.UInt32), "line", "variant_id", "chrom_in", "pos", "ref", "alt", "text",
        "rec", "allele", "n_alt",
    )
    gt = None
    if samples:
        sample_cols = [
            pl.when(pl.col("_fmt").str.starts_with("GT"))
            .then(pl.col(f"_s{k}").str.split_exact(":", 1).struct.field("field_0"))
            .otherwise(None)
            .alias(f"_s{k}")
            for k in range(len(samples))
        ]
        gt = alleles.select(pl.col("cand").cast(pl.UInt32), "allele", "n_alt", *sample_cols)
    return VcfRecords(header, samples, candidates, gt, rejects, body.height, body.select("line", "text"))


def split_genotype(gt: str | None, allele: int) -> str | None:
    """GT of one ALT of a split multi-allelic record, as `bcftools norm -m-` does: that ALT -> 1, others -> 0."""
    if gt is None:
        return None
    out = []
    for part in gt.replace("|", " | ").replace("/", " / ").split(" "):
        if part in ("|", "/", ".", ""):
            out.append(part)
        elif part.isdigit():
            out.append("1" if int(part) == allele else "0")
        else:
            out.append(part)
    return "".join(out)


def genotypes_long(gt: pl.DataFrame, samples: list[str], rows: pl.DataFrame) -> pl.DataFrame:
    """The long genotype frame (row, sample, gt) for the accepted rows (`rows` maps cand -> row)."""
    kept = rows.select("cand", "row").join(gt, on="cand", how="inner", maintain_order="left")
    multi_at = (kept["n_alt"] > 1).arg_true()  # only split records need their GT recoded (Python, rare)
    alleles = kept["allele"].gather(multi_at).to_list()
    frames = []
    for k, name in enumerate(samples):
        col = kept[f"_s{k}"]
        if len(multi_at):
            recoded = [split_genotype(v, a) for v, a in zip(col.gather(multi_at).to_list(), alleles)]
            col = col.scatter(multi_at, pl.Series(recoded, dtype=pl.Utf8))
        frames.append(pl.DataFrame({"row": kept["row"], "sample": pl.repeat(name, kept.height, eager=True), "gt": col}))
    if not frames:
        return pl.DataFrame(schema={"row": pl.UInt32, "sample": pl.Utf8, "gt": pl.Utf8})
    return pl.concat(frames).select(pl.col("row").cast(pl.UInt32), pl.col("sample").cast(pl.Utf8), pl.col("gt").cast(pl.Utf8))
