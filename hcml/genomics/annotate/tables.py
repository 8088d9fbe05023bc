"""Columns, codon tables, text-column buffers and VEP's allele reduction: what every annotation step reads."""

from __future__ import annotations

import numpy as np
import polars as pl

from hcml.genomics import hgvs as H
from hcml.genomics.compiled import core
from hcml.genomics.consequences import TERMS
from hcml.genomics.transcript_map import CODON_TABLES, TranscriptIndex

FLANK = 5000
CHUNK_VARIANTS = 20_000  # variants annotated at once inside `annotate` (bounds its peak memory)
_TERM_BIT = {t: 1 << i for i, t in enumerate(TERMS)}
_B = _TERM_BIT

OUTPUT_COLUMNS = [
    "row",
    "chrom",
    "pos",
    "ref",
    "alt",
    "Uploaded_variation",
    "Location",
    "Allele",
    "Gene",
    "Feature",
    "Feature_type",
    "Consequence",
    "IMPACT",
    "cDNA_position",
    "CDS_position",
    "Protein_position",
    "Amino_acids",
    "Codons",
    "Existing_variation",
    "EXON",
    "INTRON",
    "HGVSc",
    "HGVSp",
    "HGVSg",
    "DISTANCE",
    "STRAND",
    "FLAGS",
    "SYMBOL",
    "BIOTYPE",
    "CANONICAL",
    "AF",
    "AFR_AF",
    "AMR_AF",
    "EAS_AF",
    "EUR_AF",
    "SAS_AF",
    "gnomADe_AF",
    "CLIN_SIG",
    "most_severe_consequence",
]
FREQ_COLUMNS = ["AF", "AFR_AF", "AMR_AF", "EAS_AF", "EUR_AF", "SAS_AF", "gnomADe_AF"]

# codon -> amino acid as 64-entry tables (one row per NCBI genetic code, `TranscriptIndex.code` picks the
# row) indexed by 2 bits per base (A=0, C=1, G=2, T=3); 64 = unknown
_BASE_CODE = np.full(256, 4, np.int64)
for _i, _b in enumerate(b"ACGT"):
    _BASE_CODE[_b] = _i
_AA_TABLES = np.zeros((max(CODON_TABLES) + 1, 65), np.uint8)
for _code, _table in CODON_TABLES.items():
    for _codon, _aa in _table.items():
        _AA_TABLES[
            _code, _BASE_CODE[ord(_codon[0])] * 16 + _BASE_CODE[ord(_codon[1])] * 4 + _BASE_CODE[ord(_codon[2])]
        ] = ord(_aa)
_AA_TABLES[:, 64] = ord("X")
_COMP = np.arange(256, dtype=np.uint8)
for _a, _c in zip(b"ACGTN", b"TGCAN"):
    _COMP[_a] = _c
_THREE = {ord(k): v for k, v in H.THREE_LETTER.items()}


_THREE_ARR = np.array(["Xaa"] * 256, dtype="U3")
for _k, _v in _THREE.items():
    _THREE_ARR[_k] = _v


_LETTERS = pl.Series("letters", [chr(i) for i in range(256)], dtype=pl.Utf8)
_THREE_LIST = _THREE_ARR.tolist()  # the small-input path reads the same tables as lists
_THREE_S = pl.Series("three", _THREE_LIST, dtype=pl.Utf8)
# every codon (index 16*b0 + 4*b1 + b2 over ACGT) with its base `phase` upper case, the rest lower case
_CODON_CASE_LIST = [
    "".join(c.upper() if j == ph else c.lower() for j, c in enumerate(a + b + c_))
    for a in "ACGT"
    for b in "ACGT"
    for c_ in "ACGT"
    for ph in range(3)
]
_CODON_CASE = pl.Series("codons", _CODON_CASE_LIST, dtype=pl.Utf8)


class _Cols:
    """Text columns of the pair rows, filled in pieces: vectorised pieces are scattered into Arrow-backed
    Series (compact for millions of rows), per-pair values are collected in dicts and scattered once."""

    def __init__(self, n: int, names: list[str]) -> None:
        self.n = n
        self.series = {c: pl.repeat(None, n, dtype=pl.Utf8, eager=True).alias(c) for c in names}
        self.scalars: dict[str, dict[int, str | None]] = {c: {} for c in names}

    def put(self, name: str, k: np.ndarray, values) -> None:
        if len(k):
            vals = values if isinstance(values, pl.Series) else pl.Series(list(values), dtype=pl.Utf8)
            self.series[name] = self.series[name].scatter(k, vals.cast(pl.Utf8))

    def set(self, name: str, k: int, value: str | None) -> None:
        self.scalars[name][k] = value

    def finish(self) -> dict[str, pl.Series]:
        for name, d in self.scalars.items():
            if d:
                self.put(name, np.fromiter(d.keys(), np.int64, len(d)), pl.Series(list(d.values()), dtype=pl.Utf8))
        return self.series


class _ListCols(_Cols):
    """`_Cols` of the small-input path: the same put / set semantics (a `set` value wins over any `put`,
    applied at `finish`) over plain Python lists."""

    def __init__(self, n: int, names: list[str]) -> None:
        self.n = n
        self.lists: dict[str, list[str | None]] = {c: [None] * n for c in names}
        self.scalars = {c: {} for c in names}

    def put(self, name: str, k: np.ndarray, values) -> None:
        col = self.lists[name]
        for i, value in zip(k.tolist(), values):
            col[i] = value

    def finish(self) -> dict[str, list[str | None]]:  # type: ignore[override]
        for name, d in self.scalars.items():
            col = self.lists[name]
            for i, value in d.items():
                col[i] = value
        return self.lists


def _overlap(a_s, a_e, b_s, b_e):
    return (a_e >= b_s) & (a_s <= b_e)


# How many bases VEP 115 removes from the start and from the end of an allele pair: its one reduction
# rule, used by `vep_alleles` and `_vep_allele` alike (compiled: `hcml_core.allele_trim`).
#
# VEP's VCF parser drops an indel's shared first base, then `Parser::post_process_vfs` sends every allele pair
# of unequal length through `minimise_alleles`, i.e. ensembl-variation's `Utils::Sequence::trim_sequences`:
# the shared leading bases go first (start advances), then the shared trailing bases (end moves back), each
# only while both alleles are non-empty. Equal-length pairs (SNVs, MNVs) are kept whole. The reduced variant
# is what VEP annotates and reports (Location, Allele, consequences, HGVS), so a padded `CCAT>CCT` is the
# deletion of its A, like `CA>C`.
allele_trim = core.allele_trim


def vep_alleles(variants: pl.DataFrame) -> pl.DataFrame:
    """VEP's reduced alleles (`allele_trim`): vstart, vend (insertion: vstart = vend + 1), vref, valt ('-'
    when empty). The rule runs once per distinct unequal-length (ref, alt) pair of the frame."""
    ref, alt = pl.col("ref"), pl.col("alt")
    pairs = variants.lazy().filter(ref.str.len_bytes() != alt.str.len_bytes()).select("ref", "alt").unique().collect()
    if pairs.height:
        cuts = [allele_trim(r, a) for r, a in zip(pairs["ref"].to_list(), pairs["alt"].to_list())]
        pairs = pairs.with_columns(
            _head=pl.Series([c[0] for c in cuts], dtype=pl.Int64), _tail=pl.Series([c[1] for c in cuts], dtype=pl.Int64)
        )
        v = variants.join(pairs, on=["ref", "alt"], how="left", maintain_order="left", nulls_equal=False)
        v = v.with_columns(pl.col("_head").fill_null(0), pl.col("_tail").fill_null(0))
    else:
        v = variants.with_columns(_head=pl.lit(0, pl.Int64), _tail=pl.lit(0, pl.Int64))
    head, tail = pl.col("_head"), pl.col("_tail")
    return (
        v.with_columns(
            vstart=pl.col("pos") + head,
            _r=ref.str.slice(head, ref.str.len_bytes() - head - tail),
            _a=alt.str.slice(head, alt.str.len_bytes() - head - tail),
        )
        .with_columns(
            vend=pl.col("vstart") + pl.col("_r").str.len_bytes().cast(pl.Int64) - 1,
            vref=pl.when(pl.col("_r") == "").then(pl.lit("-")).otherwise(pl.col("_r")),
            valt=pl.when(pl.col("_a") == "").then(pl.lit("-")).otherwise(pl.col("_a")),
        )
        .drop("_r", "_a", "_head", "_tail")
    )


def _vep_allele(pos: int, ref: str, alt: str) -> tuple[int, int, str, str]:
    """`vep_alleles` of one variant (the small-input path): (vstart, vend, vref, valt)."""
    head, tail = allele_trim(ref, alt)
    r, a = ref[head : len(ref) - tail], alt[head : len(alt) - tail]
    vstart = pos + head
    return vstart, vstart + len(r) - 1, r or "-", a or "-"


class _CodingSeqs:
    """All padded CDS of a bundle concatenated into one byte array (+ each transcript's 3' UTR after it)."""

    def __init__(self, idx: TranscriptIndex) -> None:
        if idx.stored_cds is not None:  # compiled into the bundle: mapped, nothing to splice
            self.seq, self.off, self.len = idx.stored_cds
            return
        parts, off, lens = [], np.zeros(len(idx.ids), np.int64), np.zeros(len(idx.ids), np.int64)
        pos = 0
        for t in range(len(idx.ids)):
            s = idx.coding_sequence(t)
            off[t], lens[t] = pos, len(s)
            parts.append(s)
            pos += len(s)
        self.seq = np.frombuffer("".join(parts).encode("ascii") or b"N", dtype=np.uint8)
        self.off, self.len = off, lens


def _coding_seqs(idx: TranscriptIndex) -> _CodingSeqs:
    cs = idx.__dict__.get("_coding_seqs")
    if cs is None:
        cs = idx.__dict__["_coding_seqs"] = _CodingSeqs(idx)
    return cs
