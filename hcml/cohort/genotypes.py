"""Genotypes of a joint-called multi-sample VCF, read by htslib (cyvcf2) in chunks of records.

A cohort VCF of 2,504 samples x 200,000 sites is 500 M genotypes: they are never turned into Python
strings. cyvcf2 hands each record's genotypes over as one integer array (allele index, -1 for '.',
-2 past the sample's ploidy); chunks of records are stacked into (alleles x samples x 2) arrays for the
vectorised counts of `hcml.cohort.stats`. Multi-allelic records give one row per ALT (as the project's
VCF reader and `bcftools norm -m-` do): row k counts allele k, every other called allele as reference.

A broken record of a joint-called file (a line whose sample count differs from the header, a GT that is
not allele numbers) stops the read with `InputError` naming the line and the field: the per-site
genotype counts of a file that lost a column cannot be trusted. Site-level problems (REF against the
genome, contig) are per-record rejects, through the same `finish` as every reader.
"""

from __future__ import annotations

import gzip
import itertools
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from hcml.genomics.errors import TEXT_LIMIT, InputError

if TYPE_CHECKING:
    from hcml.genomics.bundle.load import ReferenceBundle

GT_TEXT = re.compile(r"^(\.|[0-9]+)([|/](\.|[0-9]+))*$")
DEFAULT_CHUNK_RECORDS = 5000
SITE_SCHEMA: dict[str, type[pl.DataType]] = {
    "cand": pl.UInt32,
    "line": pl.Int64,
    "variant_id": pl.Utf8,
    "chrom_in": pl.Utf8,
    "pos": pl.Int64,
    "ref": pl.Utf8,
    "alt": pl.Utf8,
    "text": pl.Utf8,
}


def chunk_records() -> int:
    """Records per chunk (HCML_COHORT_CHUNK_RECORDS, read at call time): bounds the genotype array's memory
    (records x samples x 2 x int16: 5,000 x 2,504 -> 50 MB)."""
    raw = os.environ.get("HCML_COHORT_CHUNK_RECORDS", "")
    return int(raw) if raw.strip().isdigit() and int(raw) > 0 else DEFAULT_CHUNK_RECORDS


@dataclass
class GenotypeChunk:
    """One chunk: a site row per ALT allele (candidate columns of `hcml.genomics.normalise`), the ALT index
    each row counts, and the genotype alleles of every sample (rows x samples x 2, int16)."""

    sites: pl.DataFrame
    allele: np.ndarray
    alleles: np.ndarray


def _open_text(path: Path):
    with open(path, "rb") as fh:
        magic = fh.read(2)
    return gzip.open(path, "rt") if magic == b"\x1f\x8b" else open(path)


def header_lines(path: Path) -> int:
    """Number of lines up to and including #CHROM (htslib rewrites the header, so it is counted here)."""
    with _open_text(path) as fh:
        for n, line in enumerate(fh, 1):
            if line.startswith("#CHROM"):
                return n
            if not line.startswith("#"):
                break
    raise InputError(f"{path.name}: not a VCF (no #CHROM header line)")


def _diagnose(path: Path, line_no: int, n_samples: int) -> str:
    """Why htslib refused line `line_no`: read only on the error path, from the raw text."""
    with _open_text(path) as fh:
        line = next(itertools.islice(fh, line_no - 1, None), None)
    if line is None:
        return f"line {line_no}: the record cannot be read (htslib)"
    f = line.rstrip("\r\n").split("\t")
    expected = 9 + n_samples
    if len(f) != expected:
        return (
            f"line {line_no}: {len(f)} tab-separated columns, the #CHROM line has {expected} "
            f"(9 + {n_samples} samples): the sample count differs from the header"
        )
    fmt = f[8].split(":")
    if "GT" not in fmt:
        return f"line {line_no}: FORMAT {f[8][:40]!r} has no GT"
    at = fmt.index("GT")
    for k, value in enumerate(f[9:], 1):
        parts = value.split(":")
        gt = parts[at] if at < len(parts) else ""
        if not GT_TEXT.match(gt):
            return (
                f"line {line_no}, field GT of sample column {k} of {n_samples}: {gt[:20]!r} is not a genotype "
                "(allele numbers or '.', separated by '/' or '|')"
            )
    return f"line {line_no}: the record cannot be read (htslib): {line[:TEXT_LIMIT]!r}"


def open_vcf(path: Path, samples: list[str] | None = None):
    from cyvcf2 import VCF

    try:
        return VCF(str(path), samples=samples)
    except OSError as exc:
        raise InputError(f"{path.name}: cannot open as VCF ({exc})") from exc


def read_chunks(
    path: str | Path, samples: list[str] | None = None, records: int | None = None
) -> Iterator[GenotypeChunk]:
    """Stream `path` (plain or bgzipped VCF/BCF) as `GenotypeChunk`s of about `records` records."""
    path = Path(path)
    n_header = header_lines(path)
    vcf = open_vcf(path, samples)
    n_samples = len(vcf.samples)
    if not n_samples:
        raise InputError(f"{path.name}: a cohort VCF needs sample columns; the #CHROM line names none")
    records = records or chunk_records()
    rec_no = 0
    rows: list[tuple] = []
    allele_idx: list[int] = []
    arrays: list[np.ndarray] = []
    n_alts: list[int] = []  # ALT count of each row's record
    it = iter(vcf)
    try:
        while True:
            try:
                v = next(it)
            except StopIteration:
                break
            except Exception as exc:  # htslib's refusal of a record (cyvcf2 raises a bare Exception)
                raise InputError(_diagnose(path, n_header + rec_no + 1, n_samples)) from exc
            rec_no += 1
            line = n_header + rec_no
            if "GT" not in (v.FORMAT or []):
                raise InputError(f"line {line}: FORMAT {':'.join(v.FORMAT or [])[:40]!r} has no GT")
            a = v.genotype.array()
            if a.shape[1] == 3:  # diploid: alleles, then the phase column
                g = a[:, :2]
            else:
                g = np.full((n_samples, 2), -2, np.int16)
                g[:, : min(2, a.shape[1] - 1)] = a[:, : min(2, a.shape[1] - 1)]
                if a.shape[1] > 3 and (a[:, 2:-1] != -2).any():
                    raise InputError(f"line {line}, field GT: ploidy above 2 (polyploid genotypes are not counted)")
            alts = v.ALT
            vid = v.ID or "."
            text = f"{v.CHROM}\t{v.POS}\t{vid}\t{v.REF}\t{','.join(alts)}"[:TEXT_LIMIT]
            for k, alt in enumerate(alts, 1):
                rows.append((len(rows), line, vid, v.CHROM, v.POS, v.REF, alt, text))
                allele_idx.append(k)
                arrays.append(g)
                n_alts.append(len(alts))
            if len(arrays) >= records:
                yield _chunk(rows, allele_idx, arrays, n_alts)
                rows, allele_idx, arrays, n_alts = [], [], [], []
        if arrays:
            yield _chunk(rows, allele_idx, arrays, n_alts)
    finally:
        vcf.close()


def _chunk(rows: list[tuple], allele_idx: list[int], arrays: list[np.ndarray], n_alts: list[int]) -> GenotypeChunk:
    """Stack a chunk; a GT naming an allele the record lacks is found here, for the whole chunk at once."""
    alleles = np.stack(arrays)
    too_high = np.maximum(alleles[..., 0], alleles[..., 1]) > np.asarray(n_alts, np.int16)[:, None]
    if too_high.any():
        i, k = np.argwhere(too_high)[0]
        raise InputError(
            f"line {rows[i][1]}, field GT of sample column {k + 1} of {alleles.shape[1]}: allele "
            f"{int(alleles[i, k].max())} but the record has {n_alts[i]} ALT allele(s)"
        )
    return GenotypeChunk(sites_frame(rows), np.asarray(allele_idx, np.int16), alleles)


def sites_frame(rows: list[tuple]) -> pl.DataFrame:
    """Candidate rows (SITE_SCHEMA tuples) as a frame, unnamed sites given VEP's default name."""
    from hcml.genomics.normalise import vep_default_ids

    sites = pl.DataFrame(rows, schema=SITE_SCHEMA, orient="row")
    unnamed = sites["variant_id"] == "."
    if unnamed.any():
        # VEP's default name, one rule with the VCF reader (records numbered by line)
        named = vep_default_ids(
            sites.with_columns(pl.col("ref").str.to_uppercase(), pl.col("alt").str.to_uppercase()), record="line"
        )
        sites = sites.with_columns(pl.when(unnamed).then(named).otherwise(pl.col("variant_id")).alias("variant_id"))
    return sites


def vcf_samples(path: str | Path) -> list[str]:
    vcf = open_vcf(Path(path))
    try:
        return list(vcf.samples)
    finally:
        vcf.close()


def cohort_min_samples() -> int:
    """HCML_COHORT_MIN_SAMPLES (read at call time, default 50): from this many sample columns on, one sample's
    variants are read through htslib with only that sample's column parsed (`read_sample`), not by reading
    every column of every record."""
    raw = os.environ.get("HCML_COHORT_MIN_SAMPLES", "")
    return int(raw) if raw.strip().isdigit() else 50


def read_sample(path: str | Path, bundle: ReferenceBundle, sample: str):
    """One sample's `ParsedInput` from a cohort VCF: every site (checked and normalised as `read_vcf` does)
    with that sample's GT, split per ALT as `read_vcf` splits it; htslib parses only that sample's column."""
    from hcml.genomics.errors import empty_rejects
    from hcml.genomics.inputs import check_contig_lengths, finish
    from hcml.genomics.vcf import split_genotype

    path = Path(path)
    if sample not in vcf_samples(path):
        # the sample name is not repeated: it may identify a patient
        raise InputError("the requested sample is not among the cohort VCF's sample columns")
    sites: list[tuple] = []
    gts: list[str | None] = []
    n_header = header_lines(path)
    vcf = open_vcf(path, [sample])
    header = vcf.raw_header.splitlines()
    rec_no = 0
    it = iter(vcf)
    try:
        while True:
            try:
                v = next(it)
            except StopIteration:
                break
            except Exception as exc:
                raise InputError(_diagnose(path, n_header + rec_no + 1, len(vcf_samples(path)))) from exc
            rec_no += 1
            line = n_header + rec_no
            if "GT" not in (v.FORMAT or []):
                raise InputError(f"line {line}: FORMAT {':'.join(v.FORMAT or [])[:40]!r} has no GT")
            *alleles, phased = v.genotypes[0]
            raw = ("|" if phased else "/").join("." if a == -1 else str(a) for a in alleles if a != -2) or None
            vid = v.ID or "."
            text = f"{v.CHROM}\t{v.POS}\t{vid}\t{v.REF}\t{','.join(v.ALT)}"[:TEXT_LIMIT]
            for k, alt in enumerate(v.ALT, 1):
                sites.append((len(sites), line, vid, v.CHROM, v.POS, v.REF, alt, text))
                gts.append(split_genotype(raw, k) if len(v.ALT) > 1 else raw)
    finally:
        vcf.close()
    check_contig_lengths(header, bundle)
    cands = sites_frame(sites)
    parsed, rows = finish(cands, empty_rejects(), bundle, cands.height, samples=[sample], header=header, kind="vcf")
    gt_of = pl.DataFrame({"cand": pl.Series(range(len(gts)), dtype=pl.UInt32), "gt": pl.Series(gts, dtype=pl.Utf8)})
    parsed.genotypes = (
        rows.select("cand", "row")
        .join(gt_of, on="cand", how="left", maintain_order="left")
        .select(pl.col("row").cast(pl.UInt32), pl.lit(sample).alias("sample"), pl.col("gt"))
    )
    return parsed
