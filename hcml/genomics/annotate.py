"""Consequence annotation compatible with Ensembl VEP 115: one row per variant x overlapping transcript
(plus up/downstream within 5 kb), SO terms with VEP's rules and ordering, positions, codons, HGVS.

Design: every (variant, transcript) pair is a row of numpy arrays. Where a variant lies in a transcript
(exon / intron / splice sites / UTR / CDS) is interval arithmetic done for all pairs at once; the codon
and protein effects of substitutions are array lookups into the concatenated coding sequences. Only
insertions, deletions and multi-base substitutions that touch an exon take a per-pair Python path
(they need sequence splicing and 3' shifting for HGVS) -- a minority of rows.

Variants are taken as given (VCF style, `pos`/`ref`/`alt`), reduced like VEP: the first base is removed
when an indel's alleles share it (Location then starts one base later; insertions have start = end + 1).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import polars as pl

from hcml.genomics import hgvs as H
from hcml.genomics.consequences import IMPACT_OF, SEVERITY_RANK, TERMS
from hcml.genomics.transcript_map import CODON_TABLES, TranscriptIndex, revcomp, translate
from hcml.small_inputs import small_input_max, use_small_path

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


def allele_trim(ref: str, alt: str) -> tuple[int, int]:
    """How many bases VEP 115 removes from the start and from the end of an allele pair: its one reduction
    rule, used by `vep_alleles` and `_vep_allele` alike.

    VEP's VCF parser drops an indel's shared first base, then `Parser::post_process_vfs` sends every
    allele pair of unequal length through `minimise_alleles`, i.e. ensembl-variation's
    `Utils::Sequence::trim_sequences`: the shared leading bases go first (start advances), then the shared
    trailing bases (end moves back), each only while both alleles are non-empty. Equal-length pairs (SNVs,
    MNVs) are kept whole. The reduced variant is what VEP annotates and reports (Location, Allele,
    consequences, HGVS), so a padded `CCAT>CCT` is the deletion of its A, like `CA>C`."""
    if len(ref) == len(alt):
        return 0, 0
    n = min(len(ref), len(alt))
    head = 0
    while head < n and ref[head] == alt[head]:
        head += 1
    n -= head
    tail = 0
    while tail < n and ref[-1 - tail] == alt[-1 - tail]:
        tail += 1
    return head, tail


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


# --------------------------------------------------------------------------------------------- pairs
def _pairs(chrom: np.ndarray, vs: np.ndarray, ve: np.ndarray, idx: TranscriptIndex) -> tuple[np.ndarray, np.ndarray]:
    """(variant index, transcript row) of every variant within 5 kb of a transcript: per contig, the sorted
    variant starts are searched for every transcript window at once (no loop over transcripts)."""
    by_chrom = idx.__dict__.get("_by_chrom")
    if by_chrom is None:
        tx_chrom = idx.tx["chrom"].to_numpy()
        by_chrom = idx.__dict__["_by_chrom"] = {c: np.flatnonzero(tx_chrom == c) for c in np.unique(tx_chrom)}
    vi_all, t_all = [], []
    lo_v = np.minimum(vs, ve)
    for c in np.unique(chrom):
        tr = by_chrom.get(c)
        if tr is None or not len(tr):
            continue
        sel = np.flatnonzero(chrom == c)
        order = sel[np.argsort(lo_v[sel], kind="stable")]
        starts = lo_v[order]
        maxlen = int((np.abs(ve[sel] - vs[sel]) + 1).max())
        a = np.searchsorted(starts, idx.t_start[tr] - FLANK - maxlen - 1, "left")
        b = np.searchsorted(starts, idx.t_end[tr] + FLANK + 1, "right")
        counts = b - a
        total = int(counts.sum())
        if not total:
            continue
        t_rep = np.repeat(tr, counts)
        within = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
        cand = order[np.repeat(a, counts) + within]
        keep = _overlap(vs[cand], ve[cand], idx.t_start[t_rep] - FLANK, idx.t_end[t_rep] + FLANK)
        vi_all.append(cand[keep])
        t_all.append(t_rep[keep])
    if not vi_all:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    vi, t = np.concatenate(vi_all), np.concatenate(t_all).astype(np.int64)
    o = np.lexsort((idx.id_rank[t], vi))  # VEP-like order: per variant, by transcript id
    return vi[o], t[o]


_NUM_TABLE: list[tuple[int, pl.Series | None]] = [(0, None)]  # (first number, its text onwards); swapped whole
_NUM_SPAN = 1 << 20  # largest number range kept as a lookup table (about 16 MB)


def _num_text(a: np.ndarray) -> pl.Series:
    """Decimal text of integers, gathered from a cached table of number strings (several times faster
    than casting each column); ranges wider than _NUM_SPAN are cast. The table is replaced, never
    mutated, so concurrent callers always see a consistent (base, text) pair."""
    a = np.asarray(a, np.int64)
    if not len(a):
        return pl.Series([], dtype=pl.Utf8)
    lo, hi = int(a.min()), int(a.max())
    base, text = _NUM_TABLE[0]
    if text is None or lo < base or hi >= base + len(text):
        new_lo = min(lo, -1024) if text is None else min(lo, base)
        new_hi = max(hi, 65535) if text is None else max(hi, base + len(text) - 1)
        if new_hi - new_lo + 1 > _NUM_SPAN:
            return pl.Series(a).cast(pl.Utf8)
        base, text = new_lo, pl.int_range(new_lo, new_hi + 1, eager=True).cast(pl.Utf8)
        _NUM_TABLE[0] = (base, text)
    return text.gather(a - base)


def _null_text(n: int) -> pl.Series:
    return pl.repeat(None, n, dtype=pl.Utf8, eager=True)


def _fmt_range(x: np.ndarray, xo: np.ndarray, y: np.ndarray, yo: np.ndarray, ok: np.ndarray) -> pl.Series:
    """VEP's format_coords over arrays: 'a', 'a-b' (sorted), 'a-?', '?-b', or null. Text is built only
    for the rows that get one: single positions are number text, the others (sorted in numpy) one
    concatenation of two parts."""
    sel = np.flatnonzero(ok & (xo | yo))
    if not len(sel):
        return _null_text(len(ok))
    x, xo, y, yo = x[sel], xo[sel], y[sel], yo[sel]
    both = xo & yo
    one = both & (x == y)
    a, b = np.where(both, np.minimum(x, y), x), np.where(both, np.maximum(x, y), y)
    k = np.flatnonzero(~one)
    text = _num_text(np.where(one, a, 0))
    if len(k):  # ranges: one concatenation (none for the usual single-position rows)
        f = pl.DataFrame({"a": _num_text(a[k]), "b": _num_text(b[k]), "xo": xo[k], "yo": yo[k]})
        pairs = f.select(
            pl.concat_str(
                [
                    pl.when(pl.col("xo")).then(pl.col("a")).otherwise(pl.lit("?")),
                    pl.when(pl.col("yo")).then(pl.col("b")).otherwise(pl.lit("?")),
                ],
                separator="-",
            )
        ).to_series()
        text = text.scatter(k, pairs)
    return _null_text(len(ok)).scatter(sel, text)


def _fmt_range_list(x: np.ndarray, xo: np.ndarray, y: np.ndarray, yo: np.ndarray, ok: np.ndarray) -> list:
    """`_fmt_range` row by row (the small-input path): the same texts as a list."""
    out: list[str | None] = [None] * len(ok)
    for i in np.flatnonzero(ok & (xo | yo)).tolist():
        a, b, ao, bo = int(x[i]), int(y[i]), bool(xo[i]), bool(yo[i])
        if ao and bo:
            a, b = min(a, b), max(a, b)
            out[i] = str(a) if a == b else f"{a}-{b}"
        else:
            out[i] = f"{a if ao else '?'}-{b if bo else '?'}"
    return out


def _rank_text_list(lo: np.ndarray, hi: np.ndarray, n: np.ndarray, ok: np.ndarray) -> list:
    """`_rank_text` row by row (the small-input path): 'n/total' or 'a-b/total', null when not `ok`
    (`_rank_tables` hold the same 'r/total' texts)."""
    out: list[str | None] = [None] * len(ok)
    for i in np.flatnonzero(ok).tolist():
        a, b = int(lo[i]), int(hi[i])
        out[i] = f"{a}/{int(n[i])}" if a == b else f"{a}-{b}/{int(n[i])}"
    return out


def _rank_text(
    lo: np.ndarray,
    hi: np.ndarray,
    n: np.ndarray,
    ok: np.ndarray,
    first: np.ndarray | None = None,
    table: pl.Series | None = None,
) -> pl.Series:
    """EXON / INTRON text over arrays: 'n/total' or 'a-b/total' (null when none overlapped). With `table`
    (the text 'r/total' of rank r of each transcript at position first + r - 1, see `_rank_tables`),
    single ranks are gathered from it and only ranges are concatenated."""
    sel = np.flatnonzero(ok)
    if not len(sel):
        return _null_text(len(ok))
    lo, hi, n = lo[sel], hi[sel], n[sel]
    build = np.ones(len(sel), bool) if table is None else (lo != hi) | (lo < 1) | (lo > n)
    k = np.flatnonzero(build)
    if len(k):  # built text (with a table: ranges and out-of-table ranks only, usually none)
        f = pl.DataFrame(
            {"lo": _num_text(lo[k]), "hi": _num_text(hi[k]), "range": lo[k] != hi[k], "n": _num_text(n[k])}
        )
        text = f.select(
            pl.concat_str(
                [pl.col("lo"), pl.when(pl.col("range")).then(pl.lit("-") + pl.col("hi")), pl.lit("/"), pl.col("n")],
                ignore_nulls=True,
            )
        ).to_series()
    if table is not None:
        gathered = table.gather(np.where(build, 0, first[sel] + lo - 1))
        text = gathered.scatter(k, text) if len(k) else gathered
    return _null_text(len(ok)).scatter(sel, text)


def _rank_tables(idx: TranscriptIndex) -> tuple[pl.Series, pl.Series]:
    """'r/n_exons' and 'r/n_introns' for every rank r of every transcript, at exon row ex_lo[t] + r - 1
    (cached on the index)."""
    tabs = idx.__dict__.get("_rank_tables")
    if tabs is None:
        n_ex = idx.n_exons[idx.ex_t]
        r = np.arange(len(idx.ex_t)) - idx.ex_lo[idx.ex_t] + 1
        f = pl.DataFrame({"r": r, "e": n_ex, "i": n_ex - 1})
        tabs = f.select(exon=pl.format("{}/{}", "r", "e"), intron=pl.format("{}/{}", "r", "i"))
        tabs = idx.__dict__["_rank_tables"] = (tabs["exon"], tabs["intron"])
    return tabs


def _canonical_text(idx: TranscriptIndex) -> pl.Series:
    """VEP's CANONICAL column ('YES' or null) of every transcript (cached on the index)."""
    text = idx.__dict__.get("_canonical_text")
    if text is None:
        text = idx.tx.select(pl.when(pl.col("canonical")).then(pl.lit("YES"))).to_series()
        idx.__dict__["_canonical_text"] = text
    return text


def _coord_parts(
    idx: TranscriptIndex, t: np.ndarray, cdna: np.ndarray, offset: np.ndarray, padded: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """HGVS coordinates (c. or n.) of cDNA positions (+ intronic offsets) as numbers: `star` (3' UTR
    '*N'), `num` (the position, negative in the 5' UTR), `off`. VEP numbers substitutions inside the CDS
    of a cds_start_NF transcript like CDS_position (with the N padding), and everything else from the
    first annotated coding base; `padded` selects the former per row."""
    star, num = _coord_numbers(idx, t, cdna, padded)
    return {"star": star, "num": _num_text(num), "off": offset, "off_text": _num_text(offset)}


def _coord_numbers(
    idx: TranscriptIndex, t: np.ndarray, cdna: np.ndarray, padded: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """`star` and `num` of `_coord_parts` as numbers."""
    coding = idx.coding[t]
    pad = idx.start_phase[t] if padded is None else np.where(padded, idx.start_phase[t], 0)
    cds = cdna - idx.cdna_cds_start[t] + 1 + pad
    cds_len = idx.cdna_cds_end[t] - idx.cdna_cds_start[t] + 1 + pad
    utr5 = cds <= 0
    star = coding & ~utr5 & (cds > cds_len)
    num = np.where(~coding, cdna, np.where(utr5, cds - 1, np.where(star, cds - cds_len, cds)))
    return star, num


def _coord_strs(
    idx: TranscriptIndex, t: np.ndarray, cdna: np.ndarray, offset: np.ndarray, padded: np.ndarray | None = None
) -> list[str]:
    """`_coord_text` row by row (the small-input path): the texts `_coord_expr` concatenates, as a list."""
    star, num = _coord_numbers(idx, t, cdna, padded)
    out = []
    for s, c, o in zip(star.tolist(), num.tolist(), np.asarray(offset, np.int64).tolist()):
        text = f"*{c}" if s else str(c)
        out.append(f"{text}+{o}" if o > 0 else f"{text}{o}" if o < 0 else text)
    return out


def _coord_expr(star: str = "star", num: str = "num", off: str = "off", off_text: str = "off_text") -> list[pl.Expr]:
    """Pieces of the coordinate text of `_coord_parts` columns, for one `concat_str(..., ignore_nulls=True)`."""
    return [
        pl.when(pl.col(star)).then(pl.lit("*")),
        pl.col(num),
        pl.when(pl.col(off) > 0).then(pl.lit("+") + pl.col(off_text)).when(pl.col(off) < 0).then(pl.col(off_text)),
    ]


def _coord_text(
    idx: TranscriptIndex, t: np.ndarray, cdna: np.ndarray, offset: np.ndarray, padded: np.ndarray | None = None
) -> pl.Series:
    """HGVS coordinate text (c. or n.) for cDNA positions (+ intronic offsets), vectorised."""
    df = pl.DataFrame(_coord_parts(idx, t, cdna, offset, padded))
    return df.select(pl.concat_str(_coord_expr(), ignore_nulls=True).alias("coord")).to_series()


# ------------------------------------------------------------------------------------------ annotate
def annotate(variants: pl.DataFrame, bundle) -> pl.DataFrame:
    """Annotate a variants frame (see docs/CONTRACTS.md: row, variant_id, chrom, pos, ref, alt) against
    the bundle. Returns one row per variant x feature with VEP's columns."""
    idx = TranscriptIndex.of(bundle)
    _translate_to_stop_cached.cache_clear()  # shared across the isoforms of this call only
    if "row" not in variants.columns:
        variants = variants.with_row_index("row")
    if "variant_id" not in variants.columns:
        variants = variants.with_columns(variant_id=pl.format("{}_{}_{}/{}", "chrom", "pos", "ref", "alt"))
    if "sv_class" in variants.columns:  # symbolic structural alleles: hcml.genomics.structural
        from hcml.genomics.structural import annotate_mixed

        return annotate_mixed(variants, bundle, annotate)
    if use_small_path(variants.height):  # a few variants: the row-by-row twin (same frame)
        sv = _SmallVariants.of(variants, bundle)
        if sv.n <= CHUNK_VARIANTS:
            return _annotate_chunk(sv, bundle, idx)
        return pl.concat(
            [_annotate_chunk(sv.slice(s0, CHUNK_VARIANTS), bundle, idx) for s0 in range(0, sv.n, CHUNK_VARIANTS)],
            rechunk=False,
        )
    names = {c: bundle.contig_name(c) or c for c in variants["chrom"].unique().to_list()}
    if any(k != v_ for k, v_ in names.items()):  # 'chr21' -> the bundle's '21'
        variants = variants.with_columns(pl.col("chrom").replace(names))
    variants = variants.select("row", "variant_id", "chrom", "pos", "ref", "alt")
    if variants.height <= CHUNK_VARIANTS:
        return _annotate_chunk(variants, bundle, idx)
    # rows of a variant never depend on other variants: annotate in chunks so that the per-pair
    # intermediates (about 1 KB per output row) are bounded by the chunk, not the whole frame
    return pl.concat(
        [
            _annotate_chunk(variants.slice(s0, CHUNK_VARIANTS), bundle, idx)
            for s0 in range(0, variants.height, CHUNK_VARIANTS)
        ],
        rechunk=False,
    )


class _SmallVariants:
    """The variants of a small-input call as Python lists (what `annotate` selects and `vep_alleles` adds),
    with the frame's dtypes for the output."""

    COLUMNS = ("row", "variant_id", "chrom", "pos", "ref", "alt")

    def __init__(self, cols: dict[str, list], schema: dict[str, pl.DataType]) -> None:
        self.cols, self.schema = cols, schema
        self.n = len(cols["row"])
        reduced = [_vep_allele(p, r, a) for p, r, a in zip(cols["pos"], cols["ref"], cols["alt"])]
        self.vstart, self.vend, self.vref, self.valt = ([x[i] for x in reduced] for i in range(4))

    @classmethod
    def of(cls, variants: pl.DataFrame, bundle) -> _SmallVariants:
        cols = {c: variants.get_column(c).to_list() for c in cls.COLUMNS}
        names: dict[str, str] = {}
        for c in cols["chrom"]:  # 'chr21' -> the bundle's '21'
            if c not in names:
                names[c] = bundle.contig_name(c) or c
        cols["chrom"] = [names[c] for c in cols["chrom"]]
        return cls(cols, {c: variants.get_column(c).dtype for c in cls.COLUMNS})

    def slice(self, start: int, length: int) -> _SmallVariants:
        return _SmallVariants({c: x[start : start + length] for c, x in self.cols.items()}, self.schema)


def with_intergenic_rows(out: pl.DataFrame, vi: np.ndarray, n_var: int) -> tuple[pl.DataFrame, int]:
    """`out` plus one intergenic_variant row for each variant of the chunk without any feature (rows sorted by
    `_vi`), and the intergenic rank; shared by the SNV/indel and the structural annotators."""
    covered = np.zeros(n_var, bool)
    covered[vi] = True
    miss = np.flatnonzero(~covered)
    inter_rank = SEVERITY_RANK["intergenic_variant"]
    if len(miss):
        ig = pl.DataFrame(
            {
                "_vi": miss.astype(np.int64),
                "Consequence": ["intergenic_variant"] * len(miss),
                "IMPACT": ["MODIFIER"] * len(miss),
                "_rank": np.full(len(miss), inter_rank, np.int64),
            }
        )
        out = pl.concat([out, ig], how="diagonal_relaxed").sort("_vi", maintain_order=True)
    return out, inter_rank


def _annotate_chunk(variants: pl.DataFrame | _SmallVariants, bundle, idx: TranscriptIndex) -> pl.DataFrame:
    small = isinstance(variants, _SmallVariants)
    if small:
        sv = variants
        n_var = sv.n
        chrom = np.array(sv.cols["chrom"], dtype=str)
        vs = np.array(sv.vstart, np.int64)
        ve = np.array(sv.vend, np.int64)
        vref, valt = sv.vref, sv.valt
    else:
        v = vep_alleles(variants)
        n_var = v.height
        chrom = v["chrom"].to_numpy().astype(str)
        vs = v["vstart"].to_numpy().astype(np.int64)
        ve = v["vend"].to_numpy().astype(np.int64)
        vref = v["vref"].to_list()
        valt = v["valt"].to_list()
    vref_a = np.array(vref, dtype=object)
    valt_a = np.array(valt, dtype=object)
    ref_len = np.where(vref_a == "-", 0, np.fromiter((len(x) for x in vref), np.int64, n_var))
    alt_len = np.where(valt_a == "-", 0, np.fromiter((len(x) for x in valt), np.int64, n_var))
    is_snv = (ref_len == 1) & (alt_len == 1)
    is_ins = ref_len == 0
    # single-base alleles as bytes (substitution paths); other variants get 'N' here and are never read
    snv_ref_b = np.frombuffer("".join(x if len(x) == 1 else "N" for x in vref).encode("ascii"), np.uint8)
    snv_alt_b = np.frombuffer("".join(x if len(x) == 1 else "N" for x in valt).encode("ascii"), np.uint8)

    vi, t = _pairs(chrom, vs, ve, idx)
    p = _locate(idx, vi, t, vs, ve, is_ins, alt_len < ref_len)
    keep = p["within"] | p["upstream"] | p["downstream"]
    vi, t = vi[keep], t[keep]
    p = {k: a[keep] for k, a in p.items()}
    n = len(vi)

    fields = (_ListCols if small else _Cols)(n, ["Amino_acids", "Codons", "HGVSc", "HGVSp"])
    bits = p["bits"]
    # positions
    cds5, cds3 = idx.cds_of_cdna(t, p["c5"]), idx.cds_of_cdna(t, p["c3"])
    cds_len = idx.cdna_cds_end[t] - idx.cdna_cds_start[t] + 1 + idx.start_phase[t]
    cds5_ok = p["c5_ok"] & idx.coding[t] & (cds5 >= 1) & (cds5 <= cds_len)
    cds3_ok = p["c3_ok"] & idx.coding[t] & (cds3 >= 1) & (cds3 <= cds_len)
    in_cds = p["within_cds"]
    pr5, pr3 = (cds5 - 1) // 3 + 1, (cds3 - 1) // 3 + 1

    # substitutions in the CDS: vectorised codon / amino-acid lookups
    snv_cds = is_snv[vi] & in_cds & cds5_ok
    if snv_cds.any():
        _snv_coding(idx, t, vi, p, cds5, cds_len, snv_cds, snv_alt_b, fields, small)
        bits = p["bits"]

    # HGVSc of substitutions (exonic or intronic)
    snv_tx = is_snv[vi] & p["within"]
    if snv_tx.any():
        k = np.flatnonzero(snv_tx)
        tk = t[k]
        anchor = np.where(p["c5_ok"][k], p["c5"][k], p["anchor5"][k])
        off = np.where(p["c5_ok"][k], 0, p["offset5"][k])
        strand = idx.strand[tk]
        r = snv_ref_b[vi[k]]
        a = snv_alt_b[vi[k]]
        r = np.where(strand == 1, r, _COMP[r])
        a = np.where(strand == 1, a, _COMP[a])
        if small:
            pre = idx.hgvs_prefix
            coords = _coord_strs(idx, tk, anchor, off, padded=p["c5_ok"][k])
            fields.put(
                "HGVSc",
                k,
                [
                    f"{pre[t_]}{c}{chr(r_)}>{chr(a_)}"
                    for t_, c, r_, a_ in zip(tk.tolist(), coords, r.tolist(), a.tolist())
                ],
            )
        else:
            df = pl.DataFrame(
                {
                    "prefix": idx.hgvs_prefix_series.gather(tk),
                    **_coord_parts(idx, tk, anchor, off, padded=p["c5_ok"][k]),
                    "r": _LETTERS.gather(r),
                    "a": _LETTERS.gather(a),
                }
            )
            fields.put(
                "HGVSc",
                k,
                df.select(
                    pl.concat_str(
                        [pl.col("prefix"), *_coord_expr(), pl.col("r"), pl.lit(">"), pl.col("a")], ignore_nulls=True
                    )
                ).to_series(),
            )

    # everything else inside a transcript: indels / MNVs. HGVSc vectorised over pairs (one 3' shift per
    # variant and strand), codon / protein effects per pair where they touch a CDS.
    other = ~is_snv[vi] & p["within"]
    shifts: dict[tuple[int, int], tuple] = {}
    p["hgvsc_ok"] = np.zeros(n, bool)
    if other.any():
        _indel_hgvsc(idx, vi, t, other, chrom, vs, ve, vref, valt, fields, shifts, p["hgvsc_ok"], small)
    ks = np.flatnonzero(other & p["within_cds"])
    if len(ks):
        _indel_pairs(idx, ks, vi, t, chrom, vs, ve, vref, valt, p, fields, cds5_ok, cds3_ok, shifts)
    bits = p["bits"]

    # consequence strings / impact
    uniq, inv = np.unique(bits, return_inverse=True)
    terms_of = [[tm for tm in TERMS if b & _B[tm]] for b in uniq.tolist()]
    csq_u = [",".join(x) for x in terms_of]
    imp_u = [IMPACT_OF[x[0]] if x else "MODIFIER" for x in terms_of]
    top_rank = np.array([SEVERITY_RANK[x[0]] if x else len(TERMS) for x in terms_of], np.int64)[inv]

    tx = idx.tx
    # EXON / INTRON
    n_ex = idx.n_exons[t]
    e_lo, e_hi = np.minimum(p["exon_lo"], p["exon_hi"]), np.maximum(p["exon_lo"], p["exon_hi"])
    i_lo, i_hi = np.minimum(p["intron_lo"], p["intron_hi"]), np.maximum(p["intron_lo"], p["intron_hi"])
    distance = np.where(p["upstream"] | p["downstream"], p["distance"], -1)
    if small:
        positions = {
            "cDNA_position": _fmt_range_list(
                p["c5"], p["c5_ok"], p["c3"], p["c3_ok"], p["exon_any"] | (p["c5_ok"] & p["c3_ok"])
            ),
            "CDS_position": _fmt_range_list(cds5, cds5_ok, cds3, cds3_ok, in_cds),
            "Protein_position": _fmt_range_list(pr5, cds5_ok, pr3, cds3_ok, in_cds),
            "EXON": _rank_text_list(e_lo, e_hi, n_ex, p["exon_any"]),
            "INTRON": _rank_text_list(i_lo, i_hi, n_ex - 1, p["intron_any"]),
        }
        return _small_frame(
            sv,
            bundle,
            idx,
            vi,
            t,
            [csq_u[i] for i in inv.tolist()],
            [imp_u[i] for i in inv.tolist()],
            top_rank,
            positions,
            fields.finish(),
            distance,
            chrom,
            vs,
            ve,
            is_snv,
            shifts,
        )
    exon_tab, intron_tab = _rank_tables(idx)
    positions = {
        "cDNA_position": _fmt_range(
            p["c5"], p["c5_ok"], p["c3"], p["c3_ok"], p["exon_any"] | (p["c5_ok"] & p["c3_ok"])
        ),
        "CDS_position": _fmt_range(cds5, cds5_ok, cds3, cds3_ok, in_cds),
        "Protein_position": _fmt_range(pr5, cds5_ok, pr3, cds3_ok, in_cds),
        "EXON": _rank_text(e_lo, e_hi, n_ex, p["exon_any"], idx.ex_lo[t], exon_tab),
        "INTRON": _rank_text(i_lo, i_hi, n_ex - 1, p["intron_any"], idx.ex_lo[t], intron_tab),
    }

    S = lambda a: pl.Series(a.tolist() if isinstance(a, np.ndarray) else a, dtype=pl.Utf8)  # noqa: E731
    out = pl.DataFrame(
        {
            "_vi": vi.astype(np.int64),
            "Gene": tx["gene_id"].gather(t),
            "Feature": tx["transcript_id"].gather(t),
            "Consequence": S(csq_u).gather(inv),
            "IMPACT": S(imp_u).gather(inv),
            "_rank": top_rank,
            **positions,
            **fields.finish(),
            "DISTANCE": pl.Series(distance).replace(-1, None).cast(pl.Int64),
            "STRAND": idx.strand[t].astype(np.int8),
            "FLAGS": tx["flags"].gather(t),
            "SYMBOL": tx["gene_symbol"].gather(t),
            "BIOTYPE": tx["biotype"].gather(t),
            "CANONICAL": _canonical_text(idx).gather(t),
        },
        strict=False,
    ).with_columns(Feature_type=pl.lit("Transcript"))
    out, inter_rank = with_intergenic_rows(out, vi, n_var)
    # most severe consequence per variant
    best = np.full(n_var, inter_rank, np.int64)
    np.minimum.at(best, vi, top_rank)
    term_names = np.array(TERMS + ["intergenic_variant"], object)
    # per-variant columns, gathered onto the rows
    vv = v.with_columns(
        Location=pl.when(pl.col("vstart") == pl.col("vend"))
        .then(pl.format(_LOCATION_1, "chrom", "vstart"))
        .when(pl.col("vstart") > pl.col("vend"))
        .then(pl.format(_LOCATION_2, "chrom", "vend", "vstart"))
        .otherwise(pl.format(_LOCATION_2, "chrom", "vstart", "vend")),
        Allele=pl.col("valt"),
        HGVSg=_hgvs_g(bundle, v, chrom, vs, ve, vref_a, valt_a, is_snv, shifts),
        most_severe_consequence=pl.Series(term_names[best].tolist(), dtype=pl.Utf8),
        Uploaded_variation=pl.col("variant_id"),
    )
    vv = _join_known(vv, bundle)
    rows_vi = out["_vi"].to_numpy()
    wanted = set(OUTPUT_COLUMNS)  # gather only the per-variant columns the output keeps
    vv = vv.select([c for c in vv.columns if c in wanted and c not in out.columns])
    out = pl.concat([out, vv[rows_vi]], how="horizontal")
    for c in OUTPUT_COLUMNS:
        if c not in out.columns:
            out = out.with_columns(pl.lit(None, pl.Utf8).alias(c))
    out = out.select(OUTPUT_COLUMNS)
    if out.schema["DISTANCE"] != pl.Int64 or out.schema["STRAND"] != pl.Int8:
        out = out.with_columns(pl.col("DISTANCE").cast(pl.Int64), pl.col("STRAND").cast(pl.Int8))
    return out


# text formats shared by the vectorised (pl.format) and small-input (str.format) paths
_LOCATION_1, _LOCATION_2, _HGVSG_SNV = "{}:{}", "{}:{}-{}", "{}:g.{}{}>{}"


def _small_frame(
    sv: _SmallVariants,
    bundle,
    idx: TranscriptIndex,
    vi,
    t,
    csq: list,
    imp: list,
    top_rank,
    positions: dict[str, list],
    fields: dict[str, list],
    distance,
    chrom,
    vs,
    ve,
    is_snv,
    shifts,
) -> pl.DataFrame:
    """The end of `_annotate_chunk` for the small-input path: the same output frame (columns, dtypes, row
    order: each variant's rows in order, an intergenic row where it has none) built from Python lists in
    one DataFrame construction."""
    from hcml.genomics.known_index import known_index

    n_var, n = sv.n, len(vi)
    inter_rank = SEVERITY_RANK["intergenic_variant"]
    best = np.full(n_var, inter_rank, np.int64)
    np.minimum.at(best, vi, top_rank)
    term_names = TERMS + ["intergenic_variant"]
    c = sv.cols
    vstart, vend, vref, valt = sv.vstart, sv.vend, sv.vref, sv.valt
    per_var: dict[str, list] = {
        "row": c["row"],
        "chrom": c["chrom"],
        "pos": c["pos"],
        "ref": c["ref"],
        "alt": c["alt"],
        "Uploaded_variation": c["variant_id"],
        "Location": [
            _LOCATION_1.format(ch, s0) if s0 == e0 else _LOCATION_2.format(ch, min(s0, e0), max(s0, e0))
            for ch, s0, e0 in zip(c["chrom"], vstart, vend)
        ],
        "Allele": valt,
        "HGVSg": [
            _HGVSG_SNV.format(c["chrom"][i], vstart[i], vref[i], valt[i])
            if snv
            else H.hgvs_genomic(bundle, chrom[i], int(vs[i]), int(ve[i]), vref[i], valt[i], shifts.get((i, 1)))
            for i, snv in enumerate(is_snv.tolist())
        ],
        "most_severe_consequence": [term_names[b] for b in best.tolist()],
    }
    kidx = known_index(bundle, variant_lookup(bundle))
    known = kidx.values_small(kidx.rows_small(c["chrom"], vstart, vref, valt))
    for j, name in enumerate(kidx.values.columns):
        per_var[name] = [r[j] for r in known]
    # per pair, then the intergenic rows of the variants without any
    tl = t.tolist()
    txt = _tx_text(idx)
    per_pair: dict[str, list] = {
        "Gene": [txt["gene_id"][i] for i in tl],
        "Feature": [txt["transcript_id"][i] for i in tl],
        "Feature_type": ["Transcript"] * n,
        "Consequence": csq,
        "IMPACT": imp,
        **positions,
        **fields,
        "DISTANCE": [None if d == -1 else d for d in distance.tolist()],
        "STRAND": idx.strand[t].astype(np.int8).tolist(),
        "FLAGS": [txt["flags"][i] for i in tl],
        "SYMBOL": [txt["gene_symbol"][i] for i in tl],
        "BIOTYPE": [txt["biotype"][i] for i in tl],
        "CANONICAL": [txt["CANONICAL"][i] for i in tl],
    }
    row_vi = vi.tolist()
    covered = np.zeros(n_var, bool)
    covered[vi] = True
    miss = np.flatnonzero(~covered).tolist()
    order = None
    if miss:
        ig = {"Consequence": "intergenic_variant", "IMPACT": "MODIFIER"}
        per_pair = {name: vals + [ig.get(name)] * len(miss) for name, vals in per_pair.items()}
        row_vi = row_vi + miss
        order = sorted(range(len(row_vi)), key=row_vi.__getitem__)  # stable, as sort("_vi", maintain_order)
        row_vi = [row_vi[j] for j in order]
    n_rows = len(row_vi)
    columns = []
    for name in OUTPUT_COLUMNS:
        if name in per_var:
            vals = per_var[name]
            columns.append([vals[i] for i in row_vi])
        elif name in per_pair:
            vals = per_pair[name]
            columns.append(vals if order is None else [vals[j] for j in order])
        else:
            columns.append([None] * n_rows)
    schema = _small_schema(sv, idx, kidx)
    if n_rows <= 48:  # row orient costs least for a few rows, a Series per column for more
        return pl.DataFrame(list(zip(*columns)), schema=schema, orient="row")
    return pl.DataFrame([pl.Series(name, col, dtype=schema[name]) for name, col in zip(OUTPUT_COLUMNS, columns)])


def _small_schema(sv: _SmallVariants, idx: TranscriptIndex, kidx) -> dict[str, pl.DataType]:
    """The dtypes of `annotate`'s output columns, as the vectorised path gives them (cached on the index
    for the input's dtypes and the known-variant index)."""
    key = tuple(sv.schema[c] for c in _SmallVariants.COLUMNS)
    cached = idx.__dict__.get("_small_schema")
    if cached is not None and cached[1] is kidx and cached[0] == key:
        return cached[2]
    tx, known = idx.tx.schema, kidx.values.schema
    source = {
        "row": sv.schema["row"],
        "chrom": sv.schema["chrom"],
        "pos": sv.schema["pos"],
        "ref": sv.schema["ref"],
        "alt": sv.schema["alt"],
        "Uploaded_variation": sv.schema["variant_id"],
        "Gene": tx["gene_id"],
        "Feature": tx["transcript_id"],
        "FLAGS": tx["flags"],
        "SYMBOL": tx["gene_symbol"],
        "BIOTYPE": tx["biotype"],
        "DISTANCE": pl.Int64,
        "STRAND": pl.Int8,
        **known,
    }
    schema = {name: source.get(name, pl.Utf8) for name in OUTPUT_COLUMNS}
    idx.__dict__["_small_schema"] = (key, kidx, schema)
    return schema


def _tx_text(idx: TranscriptIndex) -> dict[str, list]:
    """The transcripts' text columns the output repeats, as lists (small-input path; cached on the index)."""
    text = idx.__dict__.get("_tx_text")
    if text is None:
        text = {c: idx.tx[c].to_list() for c in ("gene_id", "transcript_id", "flags", "gene_symbol", "biotype")}
        text["CANONICAL"] = _canonical_text(idx).to_list()
        idx.__dict__["_tx_text"] = text
    return text


def _hgvs_g(bundle, v: pl.DataFrame, chrom, vs, ve, vref_a, valt_a, is_snv, shifts) -> pl.Series:
    """HGVSg: substitutions vectorised, indels (3'-shifted) per variant, reusing the forward-strand shifts
    already made for HGVSc."""
    out = v.select(
        pl.when(pl.Series(is_snv)).then(pl.format(_HGVSG_SNV, "chrom", "vstart", "vref", "valt")).alias("HGVSg")
    ).to_series()
    k = np.flatnonzero(~is_snv)
    if len(k):
        vals = [
            H.hgvs_genomic(bundle, chrom[i], int(vs[i]), int(ve[i]), vref_a[i], valt_a[i], shifts.get((i, 1)))
            for i in k.tolist()
        ]
        out = out.scatter(k, pl.Series(vals, dtype=pl.Utf8))
    return out


# ------------------------------------------------------------------------------------------ location
_STACK_PAIRS = 4096  # up to this many pairs `_locate` scans the three candidate exons of a pair at once
_SCAN_REDUCE = {"ex_lo": "min", "intr_lo": "min", "ex_hi": "max", "intr_hi": "max"}  # others: any
_SCAN_UFUNC = {"min": np.minimum, "max": np.maximum, "any": np.logical_or}


def _exon_scan(idx: TranscriptIndex, jj, t, vs, ve, ins, fwd, within) -> dict[str, np.ndarray]:
    """For each row (a pair and one candidate exon jj, in genomic order on its transcript): whether the
    variant overlaps the exon (its rank, else 10**9 / 0 for the min / max), the intron to the exon's genomic
    right (its rank likewise) and that intron's splice sites and regions. `_locate` reduces the candidates
    of a pair over `_SCAN_REDUCE` (min / max, else any)."""
    lo_ex, hi_ex = idx.ex_lo[t], idx.ex_hi[t]
    valid = within & (jj >= lo_ex) & (jj < hi_ex)
    jc = np.clip(jj, 0, len(idx.ex_start) - 1)
    ov = valid & _overlap(vs, ve, idx.ex_start[jc], idx.ex_end[jc])
    ex_rank = idx.ex_rank[jc]
    # intron to the genomic right of exon jj
    has_next = valid & (jj + 1 < hi_ex)
    jn = np.clip(jj + 1, 0, len(idx.ex_start) - 1)
    i_s, i_e = idx.ex_end[jc] + 1, idx.ex_start[jn] - 1
    local = jj - lo_ex
    rank = np.where(fwd, local + 1, idx.n_exons[t] - local - 1)
    io = has_next & _overlap(vs, ve, i_s, i_e)
    ss_start = has_next & _overlap(vs, ve, i_s, i_s + 1)
    ss_end = has_next & _overlap(vs, ve, i_e - 1, i_e)
    return {
        "ex_any": ov,
        "ex_lo": np.where(ov, ex_rank, 10**9),
        "ex_hi": np.where(ov, ex_rank, 0),
        "intr_any": io,
        "intr_lo": np.where(io, rank, 10**9),
        "intr_hi": np.where(io, rank, 0),
        "donor": np.where(fwd, ss_start, ss_end),
        "acceptor": np.where(fwd, ss_end, ss_start),
        "intronic": has_next & (_overlap(vs, ve, i_s + 2, i_e - 2) | (ins & ((vs == i_s + 2) | (ve == i_e - 2)))),
        "region": has_next
        & (
            _overlap(vs, ve, i_s + 2, i_s + 7)
            | _overlap(vs, ve, i_e - 7, i_e - 2)
            | _overlap(vs, ve, i_s - 3, i_s - 1)
            | _overlap(vs, ve, i_e + 1, i_e + 3)
            | (ins & ((vs == i_s) | (ve == i_e) | (vs == i_s + 2) | (ve == i_e - 2)))
        ),
        "fifth": has_next & np.where(fwd, _overlap(vs, ve, i_s + 4, i_s + 4), _overlap(vs, ve, i_e - 4, i_e - 4)),
        "donor_region": has_next
        & np.where(fwd, _overlap(vs, ve, i_s + 2, i_s + 5), _overlap(vs, ve, i_e - 5, i_e - 2)),
        "ppt": has_next & np.where(fwd, _overlap(vs, ve, i_e - 16, i_e - 2), _overlap(vs, ve, i_s + 2, i_s + 16)),
    }


def _locate(idx: TranscriptIndex, vi, t, vs_all, ve_all, is_ins_all, is_del_all=None) -> dict[str, np.ndarray]:
    """Where each pair's variant lies on its transcript, and the location-only consequence bits."""
    vs, ve, ins = vs_all[vi], ve_all[vi], is_ins_all[vi]
    ts, te, strand = idx.t_start[t], idx.t_end[t], idx.strand[t]
    n = len(vi)
    within = _overlap(vs, ve, ts, te)
    before = ~within & (ve >= ts - FLANK) & (ve < ts)
    after = ~within & (vs <= te + FLANK) & (vs > te)
    upstream = np.where(strand == 1, before, after)
    downstream = np.where(strand == 1, after, before)
    glo, ghi = np.minimum(vs, ve), np.maximum(vs, ve)
    distance = np.where(ghi < ts, ts - ghi, np.where(glo > te, glo - te, 0))

    fwd = strand == 1
    need = ("exonic", "cdna", "intronic", "anchor_cdna", "offset", "prev_cdna", "next_cdna")
    # the 5' and 3' ends differ only for variants longer than one base: map the other end for those only
    m5 = idx.map_positions(t, glo)
    m3 = {k: m5[k].copy() for k in need}
    multi = np.flatnonzero(ghi != glo)
    if len(multi):
        m_hi = idx.map_positions(t[multi], ghi[multi])
        f = fwd[multi]
        for k in need:
            a, b = m5[k][multi], m_hi[k]
            m5[k][multi] = np.where(f, a, b)
            m3[k][multi] = np.where(f, b, a)
        del m_hi
    in_span5 = np.where(fwd, glo >= ts, ghi <= te) & within
    in_span3 = np.where(fwd, ghi <= te, glo >= ts) & within
    c5_ok = m5["exonic"] & in_span5
    c3_ok = m3["exonic"] & in_span3
    c5, c3 = m5["cdna"].copy(), m3["cdna"].copy()
    # an insertion at an exon boundary sits at the splice junction in cDNA space
    fix3 = ins & c5_ok & ~c3_ok & within & (c5 < idx.cdna_len[t])
    fix5 = ins & c3_ok & ~c5_ok & within & (c3 > 1)
    c3 = np.where(fix3, c5 + 1, c3)
    c5 = np.where(fix5, c3 - 1, c5)
    c3_ok, c5_ok = c3_ok | fix3, c5_ok | fix5

    # exons overlapped: candidates = exon containing/left of ghi and the two before (d = 0, 1, 2)
    j = np.searchsorted(idx.ex_key, t * TranscriptIndex._SHIFT + np.maximum(vs, ve), "right") - 1
    if n <= _STACK_PAIRS:  # a few pairs: the three candidates scanned at once as 3n rows, reduced over d
        s3 = _exon_scan(
            idx, np.concatenate([j, j - 1, j - 2]), *(np.concatenate([a, a, a]) for a in (t, vs, ve, ins, fwd, within))
        )
        scan = {k: getattr(a.reshape(3, n), _SCAN_REDUCE.get(k, "any"))(axis=0) for k, a in s3.items()}
    else:  # many: one candidate at a time, accumulated (a third of the temporaries' memory)
        scan = {}
        for d in (0, 1, 2):
            s1 = _exon_scan(idx, j - d, t, vs, ve, ins, fwd, within)
            scan = s1 if not scan else {k: _SCAN_UFUNC[_SCAN_REDUCE.get(k, "any")](scan[k], a) for k, a in s1.items()}
    ex_any, ex_rank_lo, ex_rank_hi = scan["ex_any"], scan["ex_lo"], scan["ex_hi"]
    intr_any, intr_lo, intr_hi = scan["intr_any"], scan["intr_lo"], scan["intr_hi"]
    donor, acceptor, intronic, region = scan["donor"], scan["acceptor"], scan["intronic"], scan["region"]
    fifth, donor_region, ppt = scan["fifth"], scan["donor_region"], scan["ppt"]
    bits = np.zeros(n, np.int64)

    coding = idx.coding[t]
    cds_s, cds_e = idx.cds_g_start[t], idx.cds_g_end[t]
    before_coding = coding & ((ins & (vs == cds_s)) | _overlap(vs, ve, ts, cds_s - 1))
    after_coding = coding & ((ins & (ve == cds_e)) | _overlap(vs, ve, cds_e + 1, te))
    within_cdna = ex_any | c5_ok | c3_ok
    utr5 = within_cdna & np.where(fwd, before_coding, after_coding)
    utr3 = within_cdna & np.where(fwd, after_coding, before_coding)
    # covered cDNA range (for CDS membership)
    cov_lo = np.where(c5_ok, c5, np.where(m5["intronic"] & in_span5, m5["next_cdna"], 1))
    cov_hi = np.where(c3_ok, c3, np.where(m3["intronic"] & in_span3, m3["prev_cdna"], idx.cdna_len[t]))
    within_cds = (
        coding & within & (cov_lo <= cov_hi) & (cov_hi >= idx.cdna_cds_start[t]) & (cov_lo <= idx.cdna_cds_end[t])
    )
    # an insertion is in the CDS only when both flanking bases are
    within_cds &= ~ins | (c5_ok & c3_ok & (cov_lo >= idx.cdna_cds_start[t]) & (cov_hi <= idx.cdna_cds_end[t]))

    nmd_tx = idx.__dict__.get("_nmd")
    if nmd_tx is None:
        nmd_tx = idx.__dict__["_nmd"] = (idx.tx["biotype"] == "nonsense_mediated_decay").fill_null(False).to_numpy()
    nmd = within & nmd_tx[t]
    noncoding = ~coding
    nc_exon = within & noncoding & ex_any
    nc_variant = within & noncoding & ~nc_exon

    splice_region = region & ~donor & ~acceptor & ~fifth & ~donor_region
    bits |= np.where(donor, _B["splice_donor_variant"], 0)
    bits |= np.where(acceptor, _B["splice_acceptor_variant"], 0)
    bits |= np.where(fifth, _B["splice_donor_5th_base_variant"], 0)
    bits |= np.where(donor_region & ~fifth, _B["splice_donor_region_variant"], 0)
    bits |= np.where(ppt, _B["splice_polypyrimidine_tract_variant"], 0)
    bits |= np.where(splice_region, _B["splice_region_variant"], 0)
    bits |= np.where(intronic, _B["intron_variant"], 0)
    bits |= np.where(utr5, _B["5_prime_UTR_variant"], 0)
    bits |= np.where(utr3, _B["3_prime_UTR_variant"], 0)
    bits |= np.where(nc_exon, _B["non_coding_transcript_exon_variant"], 0)
    bits |= np.where(nc_variant, _B["non_coding_transcript_variant"], 0)
    bits |= np.where(nmd, _B["NMD_transcript_variant"], 0)
    bits |= np.where(upstream, _B["upstream_gene_variant"], 0)
    bits |= np.where(downstream, _B["downstream_gene_variant"], 0)
    if is_del_all is not None:
        # a deletion covering the whole transcript: transcript_ablation alone (VEP's feature_ablation)
        ablation = is_del_all[vi] & (vs <= ts) & (ve >= te)
        bits = np.where(ablation, _B["transcript_ablation"], bits)
        within_cds = within_cds & ~ablation
    return {
        "within": within,
        "upstream": upstream,
        "downstream": downstream,
        "distance": distance,
        "c5": c5,
        "c3": c3,
        "c5_ok": c5_ok,
        "c3_ok": c3_ok,
        "anchor5": m5["anchor_cdna"],
        "offset5": m5["offset"],
        "exon_any": ex_any & within,
        "exon_lo": ex_rank_lo,
        "exon_hi": ex_rank_hi,
        "intron_any": intr_any & within,
        "intron_lo": intr_lo,
        "intron_hi": intr_hi,
        "within_cds": within_cds,
        "bits": bits,
    }


# ------------------------------------------------------------------------------------- SNVs in CDS
def _snv_coding(idx, t, vi, p, cds_pos, cds_len, sel, alt_bytes, fields: _Cols, small: bool = False) -> None:
    cs = _coding_seqs(idx)
    k = np.flatnonzero(sel)
    tk, cp = t[k], cds_pos[k]
    codon_start = (cp - 1) // 3 * 3  # 0-based in CDS
    phase = (cp - 1) % 3
    complete = codon_start + 3 <= cds_len[k]
    base_idx = cs.off[tk][:, None] + codon_start[:, None] + np.arange(3)[None, :]
    base_idx = np.minimum(base_idx, len(cs.seq) - 1)
    ref_codon = cs.seq[base_idx].copy()
    alt_b = alt_bytes[vi[k]]
    alt_b = np.where(idx.strand[tk] == 1, alt_b, _COMP[alt_b]).astype(np.uint8)
    alt_codon = ref_codon.copy()
    rows = np.arange(len(k))
    alt_codon[rows, phase] = alt_b

    genetic_code = idx.code[tk]

    def aa_of(c):
        code = _BASE_CODE[c]
        bad = (code == 4).any(axis=1)
        i = code[:, 0] * 16 + code[:, 1] * 4 + code[:, 2]
        return _AA_TABLES[genetic_code, np.where(bad, 64, i)]

    ra, aa = aa_of(ref_codon), aa_of(alt_codon)
    prot = codon_start // 3 + 1
    for i in np.flatnonzero(idx.has_sec[tk]):  # the reference residue of a selenocysteine codon is U
        if int(prot[i]) in idx.selenocysteine_positions(int(tk[i])):
            ra[i] = ord("U")
    ref_l, alt_l = ref_codon + 32, alt_codon + 32  # lower case, the changed base upper case
    ref_l[rows, phase] -= 32
    alt_l[rows, phase] -= 32
    first_codon = (codon_start == 0) & ~idx.start_nf[tk]
    stop = ord("*")
    xx = ord("X")
    same = ra == aa
    unknown = (ra == xx) | (aa == xx) | ~complete
    start_lost = first_codon & ~same & ~unknown
    stop_lost = (ra == stop) & (aa != stop) & ~unknown
    stop_gained = (aa == stop) & (ra != stop) & ~unknown & ~start_lost
    stop_retained = (ra == stop) & same
    synonymous = same & (ra != stop) & ~unknown
    missense = ~same & ~unknown & ~start_lost & ~stop_lost & ~stop_gained
    b = np.zeros(len(k), np.int64)
    b |= np.where(start_lost, _B["start_lost"], 0)
    b |= np.where(stop_lost, _B["stop_lost"], 0)
    b |= np.where(stop_gained, _B["stop_gained"], 0)
    b |= np.where(stop_retained, _B["stop_retained_variant"], 0)
    b |= np.where(synonymous, _B["synonymous_variant"], 0)
    b |= np.where(missense, _B["missense_variant"], 0)
    b |= np.where(unknown & complete, _B["coding_sequence_variant"], 0)
    b |= np.where(~complete, _B["incomplete_terminal_codon_variant"] | _B["coding_sequence_variant"], 0)
    p["bits"][k] |= b

    def codon_case(c):
        code = _BASE_CODE[c]
        bad = (code == 4).any(axis=1)
        return np.where(bad, 0, (code[:, 0] * 16 + code[:, 1] * 4 + code[:, 2]) * 3 + phase), bad

    rci, rbad = codon_case(ref_codon)
    aci, abad = codon_case(alt_codon)
    if small:
        codons, amino, hgvsp = _snv_texts_small(
            idx, tk, rci, aci, rbad | abad, ra, aa, prot, same, complete, unknown, start_lost
        )
    else:
        codons, amino, hgvsp = _snv_texts(
            idx,
            tk,
            _CODON_CASE.gather(rci),
            _CODON_CASE.gather(aci),
            rbad | abad,
            ra,
            aa,
            prot,
            same,
            complete,
            unknown,
            start_lost,
        )
    # codons containing N (cds_start_NF padding): written base by base
    for i in np.flatnonzero(complete & (rbad | abad)):
        fields.set("Codons", int(k[i]), ref_l[i].tobytes().decode() + "/" + alt_l[i].tobytes().decode())
    fields.put("Codons", k, codons)
    fields.put("Amino_acids", k, amino)
    fields.put("HGVSp", k, hgvsp)
    # stop lost: extension to the next stop in the 3' UTR (few rows: per row)
    for i in np.flatnonzero(stop_lost):
        tt = int(tk[i])
        seq = bytearray((idx.coding_sequence(tt)[int(codon_start[i]) :] + idx.utr3_sequence(tt)).encode())
        seq[int(phase[i])] = int(alt_b[i])
        pep = H.translate_to_stop(seq.decode(), code=int(idx.code[tt]))
        ext = f"Ter{pep.index('*')}" if "*" in pep else "Ter?"
        fields.set("HGVSp", int(k[i]), f"{idx.protein_prefix[tt]}p.Ter{prot[i]}{H._aa3(pep[0])}ext{ext}")


def _snv_texts(idx, tk, rc, ac, nbad, ra, aa, prot, same, complete, unknown, start_lost):
    """Codons, Amino_acids and HGVSp texts of substitutions in a CDS (vectorised)."""
    df = pl.DataFrame(
        {
            "rc": rc,
            "ac": ac,
            "nbad": nbad,
            "ra": _LETTERS.gather(ra),
            "aa": _LETTERS.gather(aa),
            "r3": _THREE_S.gather(ra),
            "a3": _THREE_S.gather(aa),
            "prot": prot,
            "same": same,
            "complete": complete,
            "unknown": unknown,
            "start_lost": start_lost,
            "pref": idx.protein_prefix_series.gather(tk),
        }
    )
    prot_s = pl.col("prot").cast(pl.Utf8)
    # each text is one concat_str whose optional pieces are null (skipped), not a when/then over whole texts
    cols = df.select(
        codons=pl.when(pl.col("complete") & ~pl.col("nbad")).then(
            pl.concat_str([pl.col("rc"), pl.col("ac")], separator="/")
        ),
        amino=pl.when(pl.col("complete")).then(
            pl.concat_str([pl.col("ra"), pl.when(~pl.col("same")).then(pl.col("aa"))], separator="/", ignore_nulls=True)
        ),
        hgvsp=pl.when(~pl.col("unknown")).then(
            pl.concat_str(
                [
                    pl.col("pref"),
                    pl.lit("p."),
                    pl.when(pl.col("start_lost") & ~pl.col("same"))
                    .then(pl.lit("Met1?"))
                    .otherwise(
                        pl.concat_str(
                            [
                                pl.col("r3"),
                                prot_s,
                                pl.when(pl.col("same")).then(pl.lit(H.SYNONYMOUS_ESCAPED)).otherwise(pl.col("a3")),
                            ]
                        )
                    ),
                ]
            )
        ),
    )
    return cols["codons"], cols["amino"], cols["hgvsp"]


def _snv_texts_small(idx, tk, rci, aci, nbad, ra, aa, prot, same, complete, unknown, start_lost):
    """`_snv_texts` row by row (the small-input path), from the same codon / letter tables."""
    case, three, pref = _CODON_CASE_LIST, _THREE_LIST, idx.protein_prefix
    codons, amino, hgvsp = [], [], []
    for t_, rc, ac, bad, r_, a_, pr, sm, comp, unk, sl in zip(
        tk.tolist(),
        rci.tolist(),
        aci.tolist(),
        nbad.tolist(),
        ra.tolist(),
        aa.tolist(),
        prot.tolist(),
        same.tolist(),
        complete.tolist(),
        unknown.tolist(),
        start_lost.tolist(),
    ):
        codons.append(f"{case[rc]}/{case[ac]}" if comp and not bad else None)
        amino.append((chr(r_) if sm else f"{chr(r_)}/{chr(a_)}") if comp else None)
        if unk:
            hgvsp.append(None)
        elif sl and not sm:
            hgvsp.append(f"{pref[t_]}p.Met1?")
        else:
            hgvsp.append(f"{pref[t_]}p.{three[r_]}{pr}{H.SYNONYMOUS_ESCAPED if sm else three[a_]}")
    return codons, amino, hgvsp


# -------------------------------------------------------------------------------- indels, per pair
@lru_cache(maxsize=65536)
def _pep(codon: str, code: int = 1) -> str:
    """VEP's peptide of a codon string (genetic code `code`): translation, 'X' for a trailing partial codon,
    cut after a stop."""
    if not codon:
        return ""
    s = translate(codon, code)
    if len(codon) % 3:
        s += "X"
    k = s.find("*")
    return s if k < 0 else s[: k + 1]


@lru_cache(maxsize=8192)
def _translate_to_stop_cached(seq: str, code: int = 1) -> str:
    """Isoforms sharing the sequence after a frameshift share its translation: translate once."""
    return H.translate_to_stop(seq, code=code)


def _codon_change(cds: str, cds_start: int, cds_end: int, seq_t: str, with_alt_cds: bool = True):
    """Splice `seq_t` over CDS positions cds_start..cds_end (insertion: start = end + 1) and return
    (ref_codon, alt_codon, alt_cds, tl_start, tl_end, lead) as VEP's TranscriptVariationAllele does;
    alt_cds (the whole edited CDS) only when asked for."""
    tl_start, tl_end = (cds_start + 2) // 3, (cds_end + 2) // 3
    codon_s, codon_e = tl_start * 3 - 2, tl_end * 3
    ref_codon = cds[codon_s - 1 : codon_e] if codon_e >= codon_s else ""
    alt_codon = cds[codon_s - 1 : cds_start - 1] + seq_t + cds[max(cds_end, cds_start - 1) : codon_e]
    alt_cds = cds[: cds_start - 1] + seq_t + cds[cds_end:] if with_alt_cds else None
    return ref_codon, alt_codon, alt_cds, tl_start, tl_end, cds_start - codon_s


class _TxLists:
    """Per-transcript scalars as Python lists: the per-pair paths read them without numpy scalar boxing."""

    def __init__(self, idx: TranscriptIndex) -> None:
        self.strand = idx.strand.tolist()
        self.cdna_cds_start = idx.cdna_cds_start.tolist()
        self.start_nf = idx.start_nf.tolist()
        self.start_phase = idx.start_phase.tolist()
        self.cds_length = (idx.cdna_cds_end - idx.cdna_cds_start + 1 + idx.start_phase).tolist()


def _tx_lists(idx: TranscriptIndex) -> _TxLists:
    tl = idx.__dict__.get("_tx_lists")
    if tl is None:
        tl = idx.__dict__["_tx_lists"] = _TxLists(idx)
    return tl


def _indel_pairs(idx, ks, vi, t, chrom, vs, ve, vref, valt, p, fields, cds5_ok, cds3_ok, shifts) -> None:
    """`_indel_pair` over the selected pairs (indexes ks), with the per-pair inputs read as lists once, the
    shifted variants placed on the CDS for all pairs at once, and the consequence bits scattered back once."""
    tl = _tx_lists(idx)
    vk = vi[ks]
    places = _shifted_cds_places(idx, vk, t[ks], chrom, vs, ve, vref, valt, shifts)
    rows = zip(
        ks.tolist(),
        vk.tolist(),
        t[ks].tolist(),
        p["c5"][ks].tolist(),
        p["c3"][ks].tolist(),
        (p["c5_ok"][ks] & p["c3_ok"][ks]).tolist(),
        cds5_ok[ks].tolist(),
        cds3_ok[ks].tolist(),
        p["hgvsc_ok"][ks].tolist(),
        places,
    )
    out = [
        _indel_pair(idx, tl, k, t_, vref[v_], valt[v_], c5, c3, cdna_ok, d5, d3, h_ok, placed, fields)
        for k, v_, t_, c5, c3, cdna_ok, d5, d3, h_ok, placed in rows
    ]
    p["bits"][ks] |= np.array(out, np.int64)


def _shifted_cds_places(idx, vk, tk, chrom, vs, ve, vref, valt, shifts) -> list:
    """Per pair (variant vk on transcript tk): its 3'-shifted form (HGVSp describes it, as VEP does) placed
    on the CDS, (cds_start, cds_end, transcript-strand allele), or None when not wholly inside the CDS.
    Insertions at a splice junction count as inside (the intronic flank is the neighbouring cDNA base);
    insertions have cds_start = cds_end + 1. Coordinates are mapped for all pairs at once."""
    strand = idx.strand[tk]
    sh = []
    for v_, d in zip(vk.tolist(), strand.tolist()):
        shifted = shifts.get((v_, d))
        if shifted is None:
            r, a, s0, e0 = vref[v_], valt[v_], int(vs[v_]), int(ve[v_])
            if r == "-" or a == "-":
                s0, e0, r, a = H.shift_indel(idx.bundle, chrom[v_], s0, e0, r, a, d)
            shifted = shifts[(v_, d)] = (s0, e0, r, a)
        sh.append(shifted)
    n = len(sh)
    s0 = np.fromiter((x[0] for x in sh), np.int64, n)
    e0 = np.fromiter((x[1] for x in sh), np.int64, n)
    ins = np.fromiter((x[2] == "-" for x in sh), bool, n)
    m0, m1 = idx.map_positions(tk, np.minimum(s0, e0)), idx.map_positions(tk, np.maximum(s0, e0))
    ok0, ok1, cd0, cd1 = m0["exonic"], m1["exonic"], m0["cdna"], m1["cdna"]
    junction = ins & (ok0 != ok1)
    step = np.where(strand == 1, 1, -1)
    cd0, cd1 = np.where(junction & ~ok0, cd1 - step, cd0), np.where(junction & ok0, cd0 + step, cd1)
    base = idx.start_phase[tk] - idx.cdna_cds_start[tk] + 1
    lo, hi = np.minimum(cd0, cd1) + base, np.maximum(cd0, cd1) + base
    cds_len = idx.cdna_cds_end[tk] - idx.cdna_cds_start[tk] + 1 + idx.start_phase[tk]
    good = ((ok0 & ok1) | junction) & (lo >= 1) & (hi <= cds_len)
    first, last = np.where(ins, hi, lo).tolist(), np.where(ins, lo, hi).tolist()
    seqs: dict[tuple[str, int], str] = {}
    out = []
    for i, (g, x, d) in enumerate(zip(good.tolist(), sh, strand.tolist())):
        if not g:
            out.append(None)
            continue
        a = x[3]
        seq_t = seqs.get((a, d))
        if seq_t is None:
            seq_t = seqs[(a, d)] = "" if a == "-" else (a if d == 1 else revcomp(a))
        out.append((first[i], last[i], seq_t))
    return out


def _start_codon_edit(
    idx, t: int, cds_start_cdna: int, c_lo: int, c_hi: int, seq_t: str, length_change: bool
) -> tuple[bool, bool, bool]:
    """VEP's start-codon predicates (ensembl-variation Utils/VariationEffect.pm) for an allele at cDNA
    c_lo..c_hi (insertion: c_lo = c_hi + 1, both ends exonic) of a transcript that is not cds_start_NF:
    (_overlaps_start_codon, _ins_del_start_altered, _inv_start_altered). The edit is made on the 5' UTR
    + translateable sequence: `altered` when the length changes and the result is shorter than the CDS or
    no longer ends with it (the ATG and everything after it kept); `broken` when there is a 5' UTR and the
    bases where the start codon was are no longer ATG."""
    if not (c_hi >= cds_start_cdna and c_lo <= cds_start_cdna + 2):
        return False, False, False
    cds = idx.coding_sequence(t)
    utr = idx.cdna_sequence(t)[: cds_start_cdna - 1]
    edited = (utr + cds)[: c_lo - 1] + seq_t + (utr + cds)[c_hi:]
    altered = length_change and (len(edited) < len(cds) or not edited.endswith(cds))
    broken = bool(utr) and edited[len(utr) : len(utr) + 3] != "ATG"
    return True, altered, broken


def _inframe_deletion(ref_codon: str, alt_codon: str) -> bool:
    """VEP's inframe_deletion on the codons of an in-frame change: the alt codons are shorter and are the
    start or end of the ref codons, or trimming their shared ends (trim_sequences) leaves no alt and a
    multiple of 3 of ref (`allele_trim` is trim_sequences)."""
    if len(alt_codon) >= len(ref_codon):
        return False
    if ref_codon.startswith(alt_codon) or ref_codon.endswith(alt_codon):
        return True
    head, tail = allele_trim(ref_codon, alt_codon)
    return len(alt_codon) == head + tail and (len(ref_codon) - head - tail) % 3 == 0


def _indel_pair(idx, tl, k, t, vref, valt, c5, c3, cdna_ok, cds5_ok, cds3_ok, hgvsc_ok, placed, fields) -> int:
    """Codons / peptides / coding consequences and HGVSp for an indel or MNV on one transcript whose CDS
    it touches, following VEP's predicates (VariationEffect.pm); returns the consequence bits."""
    strand = tl.strand[t]
    ins = vref == "-"
    seq_t = "" if valt == "-" else (valt if strand == 1 else revcomp(valt))
    ref_t_len = 0 if ins else len(vref)
    length_change = ref_t_len != len(seq_t)
    bits = 0
    cds_start_cdna = tl.cdna_cds_start[t]
    overlaps_start = start_altered = start_broken = False
    if cdna_ok and not tl.start_nf[t]:
        c_lo, c_hi = (c5, c3) if not ins else (c3, c5)  # insertion: start = end + 1
        overlaps_start, start_altered, start_broken = _start_codon_edit(
            idx, t, cds_start_cdna, c_lo, c_hi, seq_t, length_change
        )
    start_retained = length_change and overlaps_start and not start_altered
    if not (cds5_ok and cds3_ok):
        # partly outside the CDS (intron / UTR): no codons, so no in-frame or peptide test; VEP's
        # coding_unknown gives way to start_lost / start_retained_variant
        start_lost = overlaps_start and (start_altered or start_broken)
        if start_lost:
            bits |= _B["start_lost"]  # VEP writes no HGVSp when the deletion reaches into the UTR
        if start_retained:
            bits |= _B["start_retained_variant"]
        if not (start_lost or start_retained):
            bits |= _B["coding_sequence_variant"]
        if not start_lost and hgvsc_ok:
            fields.set("HGVSp", k, _hgvsp_indel(idx, t, placed, length_change and (len(seq_t) - ref_t_len) % 3 != 0))
        return bits
    cds = idx.coding_sequence(t)
    base = tl.start_phase[t] - cds_start_cdna + 1
    d5, d3 = c5 + base, c3 + base
    cds_start, cds_end = (max(d5, d3), min(d5, d3)) if ins else (min(d5, d3), max(d5, d3))
    vf_nt_len = cds_end - cds_start + 1
    frameshift = (len(seq_t) - vf_nt_len) % 3 != 0
    # VEP: an insertion immediately 5' of the stop codon leaves the CDS's final stop in place -- it is
    # reported as an in-frame insertion that retains the stop, whatever its length, with no HGVSp
    code = int(idx.code[t])
    before_stop = ins and cds_end == len(cds) - 3 and translate(cds[-3:], code) == "*"
    if before_stop:
        frameshift = False
    ref_codon, alt_codon, _, tl_start, tl_end, lead = _codon_change(cds, cds_start, cds_end, seq_t, False)

    def case(c: str, n_changed: int) -> str:
        return c[:lead].lower() + c[lead : lead + n_changed].upper() + c[lead + n_changed :].lower()

    fields.set(
        "Codons",
        k,
        f"{case(ref_codon, vf_nt_len) if ref_codon else '-'}/{case(alt_codon, len(seq_t)) if alt_codon else '-'}",
    )
    rp, ap = _pep(ref_codon, code), _pep(alt_codon, code)
    fields.set("Amino_acids", k, (rp or "-") if rp == ap else f"{rp or '-'}/{ap or '-'}")

    inframe_del = not frameshift and _inframe_deletion(ref_codon, alt_codon)
    # VEP's inframe_insertion without its start_lost test (start_lost asks it while being decided)
    inframe_ins = (
        not frameshift
        and len(alt_codon) > len(ref_codon)
        and not (start_retained and ap.endswith(rp))
        and (ap.startswith(rp) or ap.endswith(rp))
    )
    start_lost = overlaps_start and (
        (start_altered and not (inframe_ins or inframe_del))
        or start_broken
        or (bool(rp) and tl_start == 1 and not (ap.endswith(rp) or ap.startswith(rp)))
    )
    inframe_ins = inframe_ins and not start_lost
    stop_retained = (
        "*" in rp and "*" in ap and rp.index("*") == len(rp) - 1 and ap.endswith("*") and not frameshift
    ) or before_stop
    stop_lost = "*" in rp and "*" not in ap
    stop_gained = "*" in ap and "*" not in rp
    missense = (
        not frameshift and not start_lost and not stop_lost and not stop_gained and rp != ap and len(rp) == len(ap)
    )
    synonymous = rp == ap and not stop_retained and "X" not in rp and bool(rp)
    protein_altering = (
        bool(rp or ap)
        and len(rp) != len(ap)
        and not rp.startswith("*")
        and not ap.startswith("*")
        and not (ap.startswith(rp) or ap.endswith(rp))
        and not inframe_del
        and not start_lost
        and not frameshift
    )
    if frameshift:
        bits |= _B["frameshift_variant"]
    if start_lost:
        bits |= _B["start_lost"]
    if start_retained:
        bits |= _B["start_retained_variant"]
    if stop_lost:
        bits |= _B["stop_lost"]
    if stop_gained:
        bits |= _B["stop_gained"]
    if stop_retained:
        bits |= _B["stop_retained_variant"]
    if inframe_del:
        bits |= _B["inframe_deletion"]
    if inframe_ins:
        bits |= _B["inframe_insertion"]
    if missense:
        bits |= _B["missense_variant"]
    if protein_altering:
        bits |= _B["protein_altering_variant"]
    if synonymous:
        bits |= _B["synonymous_variant"]
    if before_stop:
        bits = (bits & ~(_B["stop_gained"] | _B["protein_altering_variant"])) | _B["inframe_insertion"]
    if not bits:
        bits |= _B["coding_sequence_variant"]
    if not hgvsc_ok or before_stop:
        pass
    elif start_lost:
        # VEP names the lost residues when an in-frame deletion removes more than the start codon
        lost = f"{H._aa3(rp)}1_?{len(rp)}" if inframe_del and len(rp) > 1 and tl_start == 1 else "Met1?"
        fields.set("HGVSp", k, f"{idx.protein_prefix[t]}p.{lost}")
    else:
        fields.set("HGVSp", k, _hgvsp_indel(idx, t, placed, frameshift))
    return bits


def _indel_hgvsc(idx, vi, t, sel, chrom, vs, ve, vref, valt, fields, shifts, hgvsc_ok, small=False) -> None:
    """HGVSc of indels / MNVs for the selected pairs. The 3' shift and the dup test depend only on the
    variant and the transcript strand, so they are computed once per (variant, strand); coordinates are
    then mapped for all pairs at once."""
    k = np.flatnonzero(sel)
    vk, tk = vi[k], t[k]
    strand = idx.strand[tk]
    keys = {}
    for v_, d in zip(vk.tolist(), strand.tolist()):
        if (v_, d) in keys:
            continue
        r, a = vref[v_], valt[v_]
        s0, e0 = int(vs[v_]), int(ve[v_])
        if r == "-" or a == "-":
            s0, e0, r, a = H.shift_indel(idx.bundle, chrom[v_], s0, e0, r, a, d)
        shifts[(v_, d)] = (s0, e0, r, a)
        seq_t = "" if a == "-" else (a if d == 1 else revcomp(a))
        if a == "-":  # deletion of s0..e0
            first, last, suffix = (s0, e0) if d == 1 else (e0, s0), None, "del"
            first, last = first
        elif r == "-":  # insertion between e0 and s0
            n = len(a)
            five, three = (e0, s0) if d == 1 else (s0, e0)
            lo_seq = (
                H._seq(idx.bundle, chrom[v_], e0 - n + 1, e0)
                if d == 1
                else H._seq(idx.bundle, chrom[v_], s0, s0 + n - 1)
            )
            if lo_seq == a:
                first, last, suffix = five - (n - 1) * d, five, "dup"
            else:
                first, last, suffix = five, three, "ins" + seq_t
        else:
            first, last, suffix = (s0, e0) if d == 1 else (e0, s0), None, "delins" + seq_t
            first, last = first
        if last is not None and last == first:
            last = None
        keys[(v_, d)] = (first, first if last is None else last, last is not None, suffix, min(s0, e0), max(s0, e0))
    key_pos = {key: i for i, key in enumerate(keys)}
    ki = np.fromiter((key_pos[key] for key in zip(vk.tolist(), strand.tolist())), np.int64, len(k))
    kv = list(keys.values())
    g1 = np.fromiter((r[0] for r in kv), np.int64, len(kv))[ki]
    g2 = np.fromiter((r[1] for r in kv), np.int64, len(kv))[ki]
    two = np.fromiter((r[2] for r in kv), bool, len(kv))[ki]
    lo = np.fromiter((r[4] for r in kv), np.int64, len(kv))[ki]
    hi = np.fromiter((r[5] for r in kv), np.int64, len(kv))[ki]
    inside = (lo >= idx.t_start[tk]) & (hi <= idx.t_end[tk])  # shifted off the transcript: no HGVSc
    unpadded = np.zeros(len(tk), bool)

    def coord(g, tag):
        m = idx.map_positions(tk, g)
        c = np.where(m["exonic"], m["cdna"], m["anchor_cdna"])
        off = np.where(m["exonic"], 0, m["offset"])
        if small:
            return _coord_strs(idx, tk, c, off, padded=unpadded), m["exonic"] | m["intronic"]
        parts = _coord_parts(idx, tk, c, off, padded=unpadded)
        return {f"{name}{tag}": a for name, a in parts.items()}, m["exonic"] | m["intronic"]

    c1, ok1 = coord(g1, "1")
    c2, ok2 = coord(g2, "2")
    good = inside & ok1 & (ok2 | ~two)
    if small:
        pre = idx.hgvs_prefix
        fields.put(
            "HGVSc",
            k,
            [
                (f"{pre[t_]}{a}_{b}{kv[i][3]}" if tw else f"{pre[t_]}{a}{kv[i][3]}") if g else None
                for t_, a, b, tw, g, i in zip(tk.tolist(), c1, c2, two.tolist(), good.tolist(), ki.tolist())
            ],
        )
        hgvsc_ok[k] = good
        return
    df = pl.DataFrame(
        {
            "prefix": idx.hgvs_prefix_series.gather(tk),
            **c1,
            **c2,
            "two": two,
            "good": good,
            "suffix": pl.Series([r[3] for r in kv], dtype=pl.Utf8).gather(ki),
        }
    )
    text = df.select(
        pl.when(pl.col("good")).then(
            pl.concat_str(
                [
                    pl.col("prefix"),
                    *_coord_expr("star1", "num1", "off1", "off_text1"),
                    pl.when(pl.col("two")).then(
                        pl.concat_str(
                            [pl.lit("_"), *_coord_expr("star2", "num2", "off2", "off_text2")], ignore_nulls=True
                        )
                    ),
                    pl.col("suffix"),
                ],
                ignore_nulls=True,
            )
        )
    ).to_series()
    fields.put("HGVSc", k, text)
    hgvsc_ok[k] = good


def _hgvsp_indel(idx, t, placed, frameshift) -> str | None:
    """p. description of an indel / MNV from its 3'-shifted form placed on the CDS (VEP shifts before
    describing; see `_shifted_cds_places`)."""
    if placed is None:  # VEP describes no protein change once the shifted variant leaves the CDS
        return None
    cds_start, cds_end, seq_t = placed
    cds = idx.coding_sequence(t)
    ref_codon, alt_codon, _, tl_start, tl_end, _ = _codon_change(cds, cds_start, cds_end, seq_t, False)
    prefix = idx.protein_prefix[t]
    ref_prot = idx.ref_protein(t)
    code = int(idx.code[t])
    a3 = H._aa3
    head = (tl_start - 1) * 3  # codons before the change are unchanged

    def alt_protein() -> str:
        """Reference residues before the change + the edited sequence translated to its first stop,
        reading a window first and the rest of the transcript only when no stop occurs in it."""
        edited = cds[head : cds_start - 1] + seq_t
        utr3 = idx.utr3_sequence(t)
        window = 300
        if max(len(cds) - cds_end, 0) + len(utr3) > window:
            part = cds[cds_end : cds_end + window]
            if len(part) < window:
                part += utr3[: window - len(part)]
            tail = _translate_to_stop_cached(edited + part, code)
            if tail.endswith("*"):
                return ref_prot[: tl_start - 1] + tail
        return ref_prot[: tl_start - 1] + _translate_to_stop_cached(edited + cds[cds_end:] + utr3, code)

    if frameshift:
        alt_prot = alt_protein()
        if alt_prot == ref_prot:
            k = min(tl_start, len(ref_prot))
            return f"{prefix}{H.synonymous(ref_prot[k - 1], k)}"
        d = H.hgvs_protein_change(ref_prot, alt_prot, first_changed_hint=tl_start - 1, frameshift=True)
        return None if d is None else prefix + d
    rp, ap = _pep(ref_codon, code), _pep(alt_codon, code)
    start = tl_start
    while rp and ap and rp[0] == ap[0]:
        rp, ap, start = rp[1:], ap[1:], start + 1
    while rp and ap and rp[-1] == ap[-1] and rp[-1] != "*":
        rp, ap = rp[:-1], ap[:-1]
    if not rp and not ap:
        return None
    if rp == "*" and not ap:  # the stop codon deleted: the protein runs on
        alt_prot = alt_protein()
        tail = alt_prot[start - 1 :]
        ext = f"Ter{tail.index('*')}" if "*" in tail else "Ter?"
        return f"{prefix}p.Ter{start}delext{ext}"
    if not ap:
        # deletion: 3' rule on the protein
        n = len(rp)
        while (
            start - 1 + n < len(ref_prot)
            and ref_prot[start - 1] == ref_prot[start - 1 + n]
            and ref_prot[start - 1 + n] != "*"
        ):
            rp = rp[1:] + ref_prot[start - 1 + n]
            start += 1
        if n == 1:
            return f"{prefix}p.{a3(rp)}{start}del"
        return f"{prefix}p.{a3(rp[0])}{start}_{a3(rp[-1])}{start + n - 1}del"
    if not rp:
        # insertion after residue start-1: 3' rule, then duplication of the preceding residues?
        n = len(ap)
        while start - 1 < len(ref_prot) and ref_prot[start - 1] == ap[0] and ref_prot[start - 1] != "*":
            ap = ap[1:] + ref_prot[start - 1]
            start += 1
        before = ref_prot[: start - 1]
        if n <= len(before) and before[len(before) - n :] == ap:
            if n == 1:
                return f"{prefix}p.{a3(ap)}{start - 1}dup"
            return f"{prefix}p.{a3(ap[0])}{start - n}_{a3(ap[-1])}{start - 1}dup"
        if start - 1 < 1 or start > len(ref_prot):
            return None
        return f"{prefix}p.{a3(ref_prot[start - 2])}{start - 1}_{a3(ref_prot[start - 1])}{start}ins{a3(ap)}"
    if len(rp) == 1 and len(ap) == 1:
        return f"{prefix}p.{a3(rp)}{start}{a3(ap)}"
    if len(rp) == 1:
        return f"{prefix}p.{a3(rp)}{start}delins{a3(ap)}"
    return f"{prefix}p.{a3(rp[0])}{start}_{a3(rp[-1])}{start + len(rp) - 1}delins{a3(ap)}"


# ----------------------------------------------------------------------------------- known variants
def _known_table(bundle) -> pl.DataFrame:
    """Known variants keyed like VEP's reduced alleles, one row per (chrom, start, ref, alt); cached."""
    k = bundle.__dict__.get("_known_by_allele")
    if k is None:
        kv = bundle.known_variants
        cols = ["variant_name", "CLIN_SIG"] + [c for c in FREQ_COLUMNS if c in kv.columns]
        k = (
            kv.select(
                pl.col("chrom"),
                pl.col("pos").alias("vstart"),
                pl.col("ref").alias("vref"),
                pl.col("alt").alias("valt"),
                *cols,
            )
            .group_by("chrom", "vstart", "vref", "valt")
            .agg(
                pl.col("variant_name").unique().sort().str.join(",").alias("Existing_variation"),
                *[pl.col(c).drop_nulls().first() for c in cols if c != "variant_name"],
            )
        )
        bundle.__dict__["_known_by_allele"] = k
    return k


def _clinvar_table(bundle) -> pl.DataFrame:
    """ClinVar significance keyed by VEP-reduced alleles, VEP's spelling ('Likely benign' ->
    'likely_benign'); several records at one allele are comma-joined. Cached."""
    k = bundle.__dict__.get("_clinvar_by_allele")
    if k is None:
        cv = bundle.clinvar.filter(pl.col("chrom").is_in(list(bundle.contigs)))
        cv = cv.filter(pl.col("ref").str.contains("^[ACGTN]+$") & pl.col("alt").str.contains("^[ACGTN]+$"))
        k = (
            vep_alleles(cv.select("chrom", "pos", "ref", "alt", "clinical_significance"))
            .with_columns(sig=pl.col("clinical_significance").str.to_lowercase().str.replace_all(r"[ ,/]+", "_"))
            .group_by("chrom", "vstart", "vref", "valt")
            .agg(clinvar_sig=pl.col("sig").unique().sort().str.join(","))
        )
        bundle.__dict__["_clinvar_by_allele"] = k
    return k


LOOKUP_FILE = "variant_lookup.parquet"


def variant_lookup(bundle) -> pl.DataFrame:
    """Known variants and ClinVar keyed by VEP-reduced alleles (chrom, vstart, vref, valt) with
    Existing_variation, frequencies and CLIN_SIG (VEP's cache value, else ClinVar's). Precomputed by
    `build_bundle` (variant_lookup.parquet) so the first annotation of a cold process only reads it."""
    k = bundle.__dict__.get("_variant_lookup")
    if k is None:
        f = bundle.path / LOOKUP_FILE if getattr(bundle, "path", None) else None
        if f is not None and f.is_file():
            k = pl.read_parquet(f)
        else:
            key = ["chrom", "vstart", "vref", "valt"]
            k = (
                _known_table(bundle)
                .join(_clinvar_table(bundle), on=key, how="full", coalesce=True)
                .with_columns(CLIN_SIG=pl.coalesce("CLIN_SIG", "clinvar_sig"))
                .drop("clinvar_sig")
            )
        bundle.__dict__["_variant_lookup"] = k
    return k


def _join_known(vv: pl.DataFrame, bundle) -> pl.DataFrame:
    """Known-variant id / frequencies / CLIN_SIG on position and allele (a left join, through the
    bundle's position index: see hcml.genomics.known_index)."""
    from hcml.genomics.known_index import join_known

    return join_known(vv, bundle, variant_lookup(bundle))


# ------------------------------------------------------------------------------------------ summarise
# summarise's output columns and the annotation column each one is (`_canon`: CANONICAL == "YES")
SUMMARY_FROM: list[tuple[str, str]] = [
    ("row", "row"),
    ("variant_id", "Uploaded_variation"),
    ("chrom", "chrom"),
    ("pos", "pos"),
    ("ref", "ref"),
    ("alt", "alt"),
    ("most_severe_consequence", "most_severe_consequence"),
    ("impact", "IMPACT"),
    ("gene_id", "Gene"),
    ("gene_symbol", "SYMBOL"),
    ("transcript_id", "Feature"),
    ("biotype", "BIOTYPE"),
    ("canonical", "_canon"),
    ("hgvsc", "HGVSc"),
    ("hgvsp", "HGVSp"),
    ("hgvsg", "HGVSg"),
    ("cdna_position", "cDNA_position"),
    ("cds_position", "CDS_position"),
    ("protein_position", "Protein_position"),
    ("amino_acids", "Amino_acids"),
    ("codons", "Codons"),
    ("exon", "EXON"),
    ("intron", "INTRON"),
    ("existing_variation", "Existing_variation"),
    *[(c.lower(), c) for c in FREQ_COLUMNS],
    ("clin_sig", "CLIN_SIG"),
]


def summarise(annotations: pl.DataFrame) -> pl.DataFrame:
    """One row per variant: the picked consequence (most severe; ties -> canonical, then protein-coding,
    then transcript id), with the variant's known-variant data."""
    if _few_variants(annotations):
        return _summarise_small(annotations)
    a = annotations.with_columns(
        _rank=pl.col("Consequence").str.split(",").list.first().replace_strict(SEVERITY_RANK, default=len(TERMS)),
        _canon=(pl.col("CANONICAL") == "YES").fill_null(False),
        _pc=(pl.col("BIOTYPE") == "protein_coding").fill_null(False),
    ).sort(["row", "_rank", "_canon", "_pc", "Feature"], descending=[False, False, True, True, False], nulls_last=True)
    first = a.filter(pl.col("row").is_first_distinct())  # sorted by row: each variant's first row
    return first.select(pl.col(src).alias(name) for name, src in SUMMARY_FROM)


def _few_variants(annotations: pl.DataFrame) -> bool:
    """`use_small_path` on the number of variants (distinct `row`) of an annotation frame, counted only
    when the frame could be a few variants' rows (at most 64 per variant)."""
    n = annotations.height
    if n <= 64 * small_input_max():
        n = annotations.get_column("row").n_unique()
    return use_small_path(n)


def _summarise_small(annotations: pl.DataFrame) -> pl.DataFrame:
    """`summarise` row by row (the small-input path, hcml.small_inputs): each variant's annotation row
    that sorts first on the same keys (row; first SO term's rank; canonical, protein-coding first;
    Feature; nulls last), in row order: those rows taken (a slice for one) and their columns renamed."""
    rows, csqs, canon, biotype, feature = (
        annotations.get_column(c).to_list() for c in ("row", "Consequence", "CANONICAL", "BIOTYPE", "Feature")
    )
    default = len(TERMS)
    best: dict = {}
    for i, (row, csq, can, bt, feat) in enumerate(zip(rows, csqs, canon, biotype, feature)):
        rank = None if csq is None else SEVERITY_RANK.get(csq.split(",", 1)[0], default)
        key = (rank is None, rank or 0, can != "YES", bt != "protein_coding", feat is None, feat or "")
        held = best.get(row)
        if held is None or key < held[0]:
            best[row] = (key, i)
    picked = [best[row][1] for row in sorted(best, key=lambda x: (x is None, x or 0))]
    if len(picked) == 1:
        first = annotations.slice(picked[0], 1)
    else:
        first = annotations[picked] if picked else annotations.clear()
    return pl.DataFrame(
        [
            pl.Series(name, [canon[i] == "YES" for i in picked], dtype=pl.Boolean)
            if src == "_canon"
            else first.get_column(src).alias(name)
            for name, src in SUMMARY_FROM
        ]
    )
