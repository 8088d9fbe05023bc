"""Parsed input: every way a variant reaches hcml ends as one `ParsedInput` (see docs/CONTRACTS.md).

Readers (VCF, variant strings, HGVS c., raw DNA sequence) produce candidates; `hcml.genomics.normalise`
checks them against the genome and normalises them, once for all readers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from hcml.genomics.errors import REJECT_SCHEMA, TEXT_LIMIT, InputError, empty_rejects
from hcml.genomics.normalise import (
    CANDIDATE_SCHEMA,
    VARIANT_SCHEMA,
    check_and_normalise,
    check_and_normalise_rows,
    empty_variants,
    number_rows,
)
from hcml.small_inputs import use_small_path

if TYPE_CHECKING:
    from hcml.genomics.bundle.load import ReferenceBundle


@dataclass
class ParsedInput:
    variants: pl.DataFrame
    rejects: pl.DataFrame
    n_input: int
    genotypes: pl.DataFrame | None = None
    samples: list[str] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    kind: str = "vcf"  # vcf | variants | sequence
    records: pl.DataFrame | None = None  # VCF input: line, text of every record line (for the VCF writer)

    def __post_init__(self) -> None:
        # the one invariant every reader keeps: nothing is lost
        assert self.n_input == self.variants.height + self.rejects.height, (
            self.n_input,
            self.variants.height,
            self.rejects.height,
        )

    def summary_line(self) -> str:
        return f"{self.n_input} in = {self.variants.height} annotated + {self.rejects.height} rejected"


def _check_bundle(bundle: ReferenceBundle) -> None:
    for attr in ("contigs", "contig_name", "fetch"):
        if not hasattr(bundle, attr):
            raise InputError(f"not a reference bundle: it has no '{attr}' (load one with ReferenceBundle.load)")
    if not bundle.contigs:
        raise InputError("the reference bundle has no contigs")


def finish(
    cands: pl.DataFrame, pre_rejects: pl.DataFrame, bundle: ReferenceBundle, n_input: int, **extra
) -> tuple[ParsedInput, pl.DataFrame]:
    """Check and normalise candidates; merge their rejects with the reader's own, in input order.

    A few candidates (hcml.small_inputs) take the row-by-row twin `finish_rows`, which returns the same."""
    if (
        use_small_path(cands.height)
        and cands.height
        and all(cands.schema.get(c) == t for c, t in CANDIDATE_SCHEMA.items() if c != "cand")
        and cands.schema.get("cand") in (pl.UInt32, pl.Int64)
        and pre_rejects.schema == REJECT_SCHEMA
    ):
        small = finish_rows(
            cands.select(list(CANDIDATE_SCHEMA)).rows(),
            pre_rejects.rows() if pre_rejects.height else [],
            bundle,
            n_input,
            rows_frame=True,
            cand_dtype=cands.schema["cand"],
            **extra,
        )
        if small is not None and small[1] is not None:  # the rows frame is always there with rows_frame=True
            return small[0], small[1]
    return _finish_vectorised(cands, pre_rejects, bundle, n_input, **extra)


def _finish_vectorised(
    cands: pl.DataFrame, pre_rejects: pl.DataFrame, bundle: ReferenceBundle, n_input: int, **extra
) -> tuple[ParsedInput, pl.DataFrame]:
    variants, rejects = check_and_normalise(cands, bundle)
    rows = number_rows(variants)
    all_rejects = pl.concat([pre_rejects, rejects]).sort("line", nulls_last=True, maintain_order=True)
    return ParsedInput(rows.drop("cand"), all_rejects, n_input, **extra), rows


def finish_rows(
    cands: list[tuple],
    pre_rejects: list[tuple],
    bundle: ReferenceBundle,
    n_input: int,
    rows_frame: bool = False,
    cand_dtype: pl.DataType = pl.UInt32,
    **extra,
) -> tuple[ParsedInput, pl.DataFrame | None, list[tuple]] | None:
    """Row-by-row twin of `finish` for a few candidates (hcml.small_inputs): `cands` as CANDIDATE_SCHEMA
    tuples, the reader's own rejects as REJECT_SCHEMA tuples (text already cut). The same ParsedInput (and,
    with `rows_frame`, the same `rows`; `cand` keeps the candidates' dtype) and the accepted rows as tuples
    (VARIANT_SCHEMA, then cand), or None when the twin leaves these candidates to the vectorised form."""
    checked = check_and_normalise_rows(cands, bundle)
    if checked is None:
        return None
    variants, rejects = checked
    merged = pre_rejects + rejects
    if merged:
        # the vectorised form's sort("line", nulls_last=True, maintain_order=True)
        merged.sort(key=lambda r: (r[0] is None, 0 if r[0] is None else r[0]))
        reject_frame = pl.DataFrame(merged, schema=REJECT_SCHEMA, orient="row")
    else:
        reject_frame = empty_rejects()
    if rows_frame:
        # `number_rows` keeps the candidates' `cand` column, or gives an empty UInt32 one
        schema = {**VARIANT_SCHEMA, "cand": cand_dtype if variants else pl.UInt32}
        rows = pl.DataFrame(variants, schema=schema, orient="row")
        return ParsedInput(rows.drop("cand"), reject_frame, n_input, **extra), rows, variants
    frame = (
        pl.DataFrame([r[:-1] for r in variants], schema=VARIANT_SCHEMA, orient="row") if variants else empty_variants()
    )
    return ParsedInput(frame, reject_frame, n_input, **extra), None, variants


def check_contig_lengths(header: list[str], bundle: ReferenceBundle) -> None:
    """A VCF whose ##contig lengths differ from the bundle's was called on another assembly (GRCh37 vs
    GRCh38): annotating it would give wrong answers or reject every record, so it is a whole-input error."""
    import re

    for line in header:
        if not line.startswith("##contig=<"):
            continue
        cid = re.search(r"[<,]ID=([^,>]+)", line)
        length = re.search(r"[<,]length=(\d+)", line)
        if not cid or not length:
            continue
        name = bundle.contig_name(cid.group(1))
        if name is not None and int(length.group(1)) != bundle.contigs[name]:
            raise InputError(
                f"wrong reference: the VCF header gives contig {cid.group(1)} length {int(length.group(1)):,} but "
                f"the reference bundle's {name} has {bundle.contigs[name]:,} (another assembly?)"
            )


def read_vcf(source: str | Path | bytes, bundle: ReferenceBundle) -> ParsedInput:
    """A VCF (path, text or bytes; plain or bgzipped), multi-allelic records split into one row per ALT."""
    from hcml.genomics.vcf import genotypes_long, parse_vcf, read_bytes

    _check_bundle(bundle)
    data = read_bytes(source)
    small = _read_small_vcf(data, bundle)
    if small is not None:
        return small
    records = parse_vcf(data)
    check_contig_lengths(records.header, bundle)
    cands = records.candidates
    n_input = cands.height + records.rejects.height
    parsed, rows = finish(
        cands.drop("rec", "allele", "n_alt"),
        records.rejects,
        bundle,
        n_input,
        samples=records.samples,
        header=records.header,
        kind="vcf",
    )
    parsed.records = records.lines
    if records.gt is not None:
        parsed.genotypes = genotypes_long(records.gt, records.samples, rows)
    return parsed


def _read_small_vcf(data: bytes, bundle: ReferenceBundle) -> ParsedInput | None:
    """`read_vcf` row by row for a VCF of a few records (hcml.small_inputs); None: not small, or left to the
    vectorised form (which then raises the same whole-input errors)."""
    from hcml.genomics.vcf import LINES_SCHEMA, genotype_rows, parse_vcf_rows, split_header

    # the number of lines after the #CHROM line, counted in the bytes (a large input is not decoded twice)
    head = data.find(b"#CHROM")
    end = data.find(b"\n", head) if head >= 0 else -1
    n_lines = 0 if end < 0 else data.count(b"\n", end + 1) + (0 if data.endswith(b"\n") else 1)
    if head < 0 or not use_small_path(n_lines):
        return None
    lines, header, body_start, samples, n_cols = split_header(data)
    vcf = parse_vcf_rows(lines, body_start, samples, n_cols)
    if vcf is None:
        return None
    check_contig_lengths(header, bundle)
    n_input = len(vcf.candidates) + len(vcf.rejects)
    done = finish_rows(vcf.candidates, vcf.rejects, bundle, n_input, samples=samples, header=header, kind="vcf")
    if done is None:
        return None
    parsed, _, variants = done
    parsed.records = pl.DataFrame(vcf.lines, schema=LINES_SCHEMA, orient="row")
    if samples:
        parsed.genotypes = genotype_rows(vcf, samples, variants)
    return parsed


def parse_variant_strings(items: list[str] | str, bundle: ReferenceBundle) -> ParsedInput:
    """`21-25891796-C-T`, `chr21:25891796:C:T`, `21:g.25891796C>T` (and g. del/ins/delins/dup),
    `ENST00000346798.7:c.2149G>A` (HGVS c. on a transcript of the bundle)."""
    from hcml.genomics.variant_strings import candidate_frames, candidate_rows

    _check_bundle(bundle)
    if isinstance(items, str):
        items = [s for s in items.replace(",", "\n").splitlines()]
    items = [s.strip() for s in items if s and s.strip() and not s.strip().startswith("#")]
    if not items:
        raise InputError("empty input: no variants given")
    rows, bad = candidate_rows(items, bundle)
    if use_small_path(len(items)):
        small = finish_rows(
            [tuple(r[c] for c in CANDIDATE_SCHEMA) for r in rows],
            [(b["line"], b["variant_id"], b["field"], b["reason"], b["text"][:TEXT_LIMIT]) for b in bad],
            bundle,
            len(items),
            kind="variants",
        )
        if small is not None:
            return small[0]
    cands, rejects = candidate_frames(rows, bad)
    parsed, _ = _finish_vectorised(cands, rejects, bundle, len(items), kind="variants")
    return parsed


def call_sequence(sequence: str, bundle: ReferenceBundle, name: str | None = None) -> ParsedInput:
    """A raw DNA read of a gene region (plain or FASTA): locate it in the reference, call SNVs and indels."""
    from hcml.genomics.sequence_input import candidate_frames, candidate_tuples, sequence_rows

    _check_bundle(bundle)
    rows, bad = sequence_rows(sequence, bundle, name=name)
    if use_small_path(len(rows)):
        cand_rows, reject_rows, n_input = candidate_tuples(rows, bad)
        small = finish_rows(cand_rows, reject_rows, bundle, n_input, kind="sequence")
        if small is not None:
            return small[0]
    cands, rejects, n_input = candidate_frames(rows, bad)
    parsed, _ = _finish_vectorised(cands, rejects, bundle, n_input, kind="sequence")
    return parsed


def sniff(text: str) -> str:
    """vcf | sequence | variants, from the first meaningful lines."""
    head = text.lstrip()[:5000]
    if head.startswith("##fileformat=VCF") or head.startswith("#CHROM") or "\n#CHROM" in head:
        return "vcf"
    body = "".join(line.strip() for line in head.splitlines() if line.strip() and not line.startswith(">"))
    if head.startswith(">") or (body and set(body.upper()) <= set("ACGTN") and len(body) >= 30):
        return "sequence"
    return "variants"


def read_input(source: str | Path | bytes, bundle: ReferenceBundle, kind: str = "auto") -> ParsedInput:
    """Dispatch on `kind` (auto | vcf | variants | sequence); `source` is a path, text or bytes."""
    from hcml.genomics.vcf import read_bytes

    if kind not in ("auto", "vcf", "variants", "sequence"):
        raise InputError(f"unknown input kind '{kind}': use auto, vcf, variants or sequence")
    if kind == "vcf":
        return read_vcf(source, bundle)
    data = read_bytes(source)
    text = data.decode("utf-8", errors="replace")
    auto = kind == "auto"
    if auto:
        if not text.strip():
            raise InputError("empty input")
        kind = sniff(text)
    if kind == "vcf":
        return read_vcf(data, bundle)
    if kind == "sequence":
        return call_sequence(text, bundle)
    parsed = parse_variant_strings(text, bundle)
    if auto and parsed.variants.height == 0 and (parsed.rejects["field"] == "variant").mean() > 0.5:
        first = parsed.rejects["text"][0][:60]
        raise InputError(
            "input is not a VCF (no #CHROM header line), not a list of variants and not a DNA sequence: "
            f"none of its {parsed.n_input} entries is a variant (first: {first!r})"
        )
    return parsed


__all__ = [
    "InputError",
    "ParsedInput",
    "call_sequence",
    "empty_rejects",
    "empty_variants",
    "parse_variant_strings",
    "read_input",
    "read_vcf",
]
