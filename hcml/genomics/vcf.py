"""VCF reading, vectorised over lines with polars (no Python loop per record).

Produces candidates for `hcml.genomics.normalise`: one row per (record, ALT allele), exact 1-based file
line numbers kept for rejects.  Record-level problems (wrong column count, a POS that is not an integer)
are rejected here, once per record; allele-level problems are left to the shared checks.
"""

from __future__ import annotations

import gzip
import io
import re
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from hcml.genomics.errors import MAX_POSITION, InputError, as_rejects, empty_rejects
from hcml.genomics.normalise import vep_default_ids

VCF_COLUMNS = ["CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO"]

# record-level reject reasons, shared by both forms (`pl.format` / `str.format` templates)
HEADER_AFTER_CHROM = "header line after the #CHROM line"
WRONG_COLUMNS = "expected {} tab-separated columns, found {}"
CHROM_EMPTY = "CHROM is empty"
POS_NOT_INTEGER = "POS '{}' is not an integer"  # quotes up to 40 characters
POS_BELOW_ONE = "POS {} must be >= 1"
POS_TOO_LARGE = "POS {} is past the end of every contig"


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
    return (
        Path(text).exists()
        or "/" in text
        or text.lower().endswith((".vcf", ".gz", ".bgz", ".txt", ".fa", ".fasta", ".tsv"))
    )


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


def vcf_header(lines: Iterable[str]) -> tuple[list[str], list[str]]:
    """(header lines, sample names) of a VCF, read from its lines up to and including `#CHROM`; raises
    InputError naming the line that breaks the rule. The one header rule of every route (the CLI, the
    realtime direct and queued routes, the Kafka submissions consumer, the pipeline's sample assets):

    - any number of `#` lines (meta lines), then the `#CHROM` line, before the first record;
    - the `#CHROM` line's first eight tab-separated columns are CHROM POS ID REF ALT QUAL FILTER INFO
      (VCF 4.x, section 1.5; case is not checked, as VEP does not);
    - `##fileformat` is not required: VEP reads a VCF without it (ensembl-vep
      `Bio::EnsEMBL::VEP::Parser::detect_format` skips every `#` line and decides on the first record).

    A header and no records is a valid, empty VCF; no header and no records is empty input."""
    header: list[str] = []
    n = 0
    for n, raw in enumerate(lines, 1):
        line = raw.rstrip("\r\n")
        if not line.startswith("#"):
            if not line.strip() and not any(h.strip() for h in header) and _only_blank(lines):
                break
            raise InputError(
                f"input is not a VCF: line {n}: {'a blank line' if not line.strip() else 'a record'} before the "
                "#CHROM header line "
                f"(a VCF names its columns, #CHROM POS ID REF ALT QUAL FILTER INFO, before its records)"
            )
        header.append(line)
        if line.startswith("#CHROM"):
            columns = line.lstrip("#").split("\t")
            if [c.upper() for c in columns[:8]] != VCF_COLUMNS:
                raise InputError(
                    f"input is not a VCF: line {n}: the #CHROM header line must start with "
                    "#CHROM POS ID REF ALT QUAL FILTER INFO "
                    f"(tab-separated), found: {line[:120]!r}"
                )
            return header, columns[9:] if len(columns) > 9 else []
    if not header:
        raise InputError("empty input: no VCF header and no records")
    raise InputError(
        f"input is not a VCF: line {n}: the header ends without a #CHROM line (a VCF names its columns, "
        "#CHROM POS ID REF ALT QUAL FILTER INFO, before its records)"
    )


def _only_blank(lines: Iterable[str]) -> bool:
    """Whether what is left of `lines` is blank (consumes it: called only on the way to an error)."""
    return all(not line.strip() for line in lines)


def vcf_text_header(text: str) -> tuple[list[str], list[str]]:
    """`vcf_header` of a VCF's text, read lazily up to the #CHROM line (the records are not split); also
    refuses binary input. What the routes that hold the text (queued submissions, Kafka) check it with."""
    if "\x00" in text[:4096]:
        raise InputError("input is not a VCF: it looks binary (not text, not gzip)")
    return vcf_header(io.StringIO(text))


def split_header(data: bytes) -> tuple[list[str], list[str], int, list[str], int]:
    """(lines, header, index of the first body line, samples, number of columns) of a VCF's text; raises
    InputError when it is not a VCF (`vcf_header`'s rule). Shared by `parse_vcf` and its row-by-row twin."""
    text = data.decode("utf-8", errors="replace")
    header, samples = vcf_text_header(text)
    lines = text.split("\n")
    return lines, header, len(header), samples, len(header[-1].split("\t"))


def parse_vcf(data: bytes) -> VcfRecords:
    lines, header, body_start, samples, n_cols = split_header(data)
    body = pl.DataFrame({"text": lines[body_start:]}, schema={"text": pl.Utf8}).with_columns(
        (pl.int_range(pl.len(), dtype=pl.Int64) + body_start + 1).alias("line"),
        pl.col("text").str.strip_chars_end("\r"),
    )
    body = body.filter(pl.col("text").str.strip_chars() != "")  # blank lines are not records
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
        .then(pl.lit(HEADER_AFTER_CHROM))
        .when(pl.col("_ncol") != n_cols)
        .then(pl.format(WRONG_COLUMNS, pl.lit(n_cols), pl.col("_ncol")))
        .when(pl.col("chrom_in").str.strip_chars() == "")
        .then(pl.lit(CHROM_EMPTY))
        .when(pl.col("pos").is_null())
        .then(pl.format(POS_NOT_INTEGER, pl.col("_pos").str.slice(0, 40)))
        .when(pl.col("pos") < 1)
        .then(pl.format(POS_BELOW_ONE, pl.col("pos")))
        .when(pl.col("pos") > MAX_POSITION)
        .then(pl.format(POS_TOO_LARGE, pl.col("pos")))
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
    rejects = (
        as_rejects(bad.with_columns(pl.lit(None, dtype=pl.Utf8).alias("variant_id"))) if bad.height else empty_rejects()
    )
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
        pl.col("cand").cast(pl.UInt32),
        "line",
        "variant_id",
        "chrom_in",
        "pos",
        "ref",
        "alt",
        "text",
        "rec",
        "allele",
        "n_alt",
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
    return pl.concat(frames).select(
        pl.col("row").cast(pl.UInt32), pl.col("sample").cast(pl.Utf8), pl.col("gt").cast(pl.Utf8)
    )


# ---- the row-by-row twin of `parse_vcf` + `genotypes_long` for a few records (hcml.small_inputs) ----------

_WHITESPACE = " \t\n\r\x0b\x0c"  # what polars' strip_chars() strips from ASCII text
_INTEGER = re.compile(r"[+-]?[0-9]+")  # what polars' cast to Int64 parses (up to overflow)


@dataclass
class VcfRows:
    """`VcfRecords` as Python rows: candidates as CANDIDATE_SCHEMA tuples, with their ALT index, ALT count
    and GT per sample alongside (`alleles[i]`, `gts[i]`); rejects as REJECT_SCHEMA tuples."""

    candidates: list[tuple]
    alleles: list[tuple[int, int]]  # (allele, n_alt) per candidate
    gts: list[list[str | None]]  # per candidate: the raw GT of each sample
    rejects: list[tuple]
    lines: list[tuple[int, str]]  # line, text of every record line


def _vcf_pos(raw: str) -> int | None | bool:
    """POS as `str.strip_chars().cast(pl.Int64, strict=False)` reads it; False where unsure (overflow)."""
    s = raw.strip(_WHITESPACE)
    if not _INTEGER.fullmatch(s):
        return None
    return int(s) if len(s.lstrip("+-")) <= 18 else False


def parse_vcf_rows(lines: list[str], body_start: int, samples: list[str], n_cols: int) -> VcfRows | None:
    """Row-by-row twin of `parse_vcf`'s body (after `split_header`), for a few records. None when a line
    lies outside what it reproduces exactly (non-ASCII text, a POS that may overflow Int64): the caller then
    takes `parse_vcf`."""
    from hcml.genomics.errors import TEXT_LIMIT
    from hcml.genomics.normalise import vep_default_id_rows

    body = []
    for i, raw in enumerate(lines[body_start:]):
        if not raw.isascii():
            return None
        text = raw.rstrip("\r")
        if text.strip(_WHITESPACE):  # blank lines are not records
            body.append((body_start + 1 + i, text))
    cands, alleles, gts, rejects = [], [], [], []
    n_samples = len(samples)
    for line, text in body:
        f = text.split("\t")
        ncol = len(f)
        pos = _vcf_pos(f[1]) if ncol > 1 else None
        if pos is False:
            return None
        if text.startswith("#"):
            bad = ("line", HEADER_AFTER_CHROM)
        elif ncol != n_cols:
            bad = ("line", WRONG_COLUMNS.format(n_cols, ncol))
        elif not f[0].strip(_WHITESPACE):
            bad = ("CHROM", CHROM_EMPTY)
        elif pos is None:
            bad = ("POS", POS_NOT_INTEGER.format(f[1][:40]))
        elif pos < 1:
            bad = ("POS", POS_BELOW_ONE.format(pos))
        elif pos > MAX_POSITION:
            bad = ("POS", POS_TOO_LARGE.format(pos))
        else:
            bad = None
        if bad is not None:
            rejects.append((line, None, bad[0], bad[1], text[:TEXT_LIMIT]))
            continue
        chrom_in, vid, ref, alt_field = f[0], f[2], f[3], f[4]
        alts = alt_field.split(",")
        if vid in (".", ""):
            ids = vep_default_id_rows(chrom_in, pos, ref.upper(), [a.upper() for a in alts])
        else:
            ids = [vid] * len(alts)
        if n_samples:
            fmt_gt = f[8].startswith("GT")
            gt = [f[9 + k].split(":", 1)[0] if fmt_gt else None for k in range(n_samples)]
        for k, (alt, variant_id) in enumerate(zip(alts, ids)):
            cands.append((len(cands), line, variant_id, chrom_in, pos, ref, alt, text))
            alleles.append((k + 1, len(alts)))
            if n_samples:
                gts.append(gt)
    return VcfRows(cands, alleles, gts, rejects, body)


def genotype_rows(vcf: VcfRows, samples: list[str], variants: list[tuple]) -> pl.DataFrame:
    """Row-by-row twin of `genotypes_long`: `variants` are the accepted rows (row first, cand last)."""
    out = []
    for k, name in enumerate(samples):
        for v in variants:
            cand = v[-1]
            allele, n_alt = vcf.alleles[cand]
            gt = vcf.gts[cand][k]
            out.append((v[0], name, split_genotype(gt, allele) if n_alt > 1 else gt))
    return pl.DataFrame(out, schema=GENOTYPE_SCHEMA, orient="row")


LINES_SCHEMA = {"line": pl.Int64, "text": pl.Utf8}
GENOTYPE_SCHEMA = {"row": pl.UInt32, "sample": pl.Utf8, "gt": pl.Utf8}
