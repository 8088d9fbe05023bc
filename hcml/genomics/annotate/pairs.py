"""Variant x transcript pairs by interval search, and the number/range/coordinate texts of their columns."""

from __future__ import annotations

import numpy as np
import polars as pl

from hcml.genomics.transcript_map import TranscriptIndex

from .tables import FLANK, _overlap


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
    sel, a, b, one, xo, yo = _range_parts(x, xo, y, yo, ok)
    if not len(sel):
        return _null_text(len(ok))
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


def _range_parts(x: np.ndarray, xo: np.ndarray, y: np.ndarray, yo: np.ndarray, ok: np.ndarray) -> tuple:
    """VEP's format_coords decisions, the one definition both paths read: the rows that get a text (`ok` and
    at least one end known), their two numbers (sorted when both are known), whether the text is a single
    position (both known and equal), and which ends are known (an unknown end is written '?')."""
    sel = np.flatnonzero(ok & (xo | yo))
    x, xo, y, yo = x[sel], xo[sel], y[sel], yo[sel]
    both = xo & yo
    one = both & (x == y)
    return sel, np.where(both, np.minimum(x, y), x), np.where(both, np.maximum(x, y), y), one, xo, yo


def _fmt_range_list(x: np.ndarray, xo: np.ndarray, y: np.ndarray, yo: np.ndarray, ok: np.ndarray) -> list:
    """`_fmt_range` for the small-input path: the texts of `_range_parts` as a list."""
    out: list[str | None] = [None] * len(ok)
    sel, a, b, one, xo, yo = _range_parts(x, xo, y, yo, ok)
    for i, a_, b_, one_, ao, bo in zip(sel.tolist(), a.tolist(), b.tolist(), one.tolist(), xo.tolist(), yo.tolist()):
        out[i] = str(a_) if one_ else f"{a_ if ao else '?'}-{b_ if bo else '?'}"
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
