"""Check every REF against the genome and normalise every allele (left-align, trim), vectorised.

Every reader (VCF, variant strings, HGVS, raw sequence) produces *candidates* (one row per allele, VCF
style: `pos`, `ref`, `alt` with the anchor base for indels) and hands them here, so that validation and
normalisation are written once.  Normalisation follows vt / `bcftools norm`: trim the common suffix, then
the common prefix, then shift a pure insertion or deletion left while the base before it equals its last
base; indels keep one anchor base (VCF style) in `norm_pos/norm_ref/norm_alt`: the base before, or at a
contig's first base, where there is none, the base after (VCF 4.3, REF).  SNVs skip all of it.
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from hcml.genomics.errors import InputError, as_rejects
from hcml.genomics.structural import SV_COLUMNS, SYMBOLIC_ALT, structural_fields

if TYPE_CHECKING:
    from hcml.genomics.bundle.load import ReferenceBundle

# how far left an indel may shift (longest repeat we follow); the genome window is widened by this much
SHIFT_MARGIN = 5_000

# The checks' reject reasons, one template each: `pl.format` fills them in the vectorised form and
# `str.format` in the row-by-row twin (both use `{}` placeholders); alleles are quoted up to SNIP characters.
SNIP = 50
REF_EMPTY = "REF is empty"
REF_CHARS = "REF '{}' has characters other than A, C, G, T, N"
ALT_EMPTY = "ALT is '.' or empty: no alternate allele"
ALT_SYMBOLIC = "ALT '{}' is a symbolic or structural allele, not supported"
ALT_CHARS = "ALT '{}' has characters other than A, C, G, T"
ALT_IS_REF = "ALT '{}' equals REF: not a variant"
UNKNOWN_CONTIG = "unknown contig '{}': the reference bundle has {}"
POS_INVALID = "POS {} is not a position (must be an integer >= 1)"
POS_PAST_END = "position {}:{}-{} is past the end of contig {} (length {})"
REF_NO_SEQUENCE = "REF '{}' at {}:{} cannot be checked: the reference bundle has no sequence there (N)"
REF_MISMATCH = "REF '{}' does not match the reference genome '{}' at {}:{}"
ALLELE_TOO_LONG = (
    "variant {} has an allele of {} bases after normalisation, over HCML_MAX_ALLELE_LENGTH ({}): "
    "queue it with POST /v1/submissions (the batch pipeline's own limit applies there)"
)
REF_BASES = "ACGTN"  # what a REF may hold (the vectorised form: ^[ACGTN]+$)
ALT_BASES = "ACGT"  # what an ALT may hold (^[ACGT]+$)


def max_allele_length() -> int:
    """HCML_MAX_ALLELE_LENGTH (default 1000 bases): the longest REF or ALT, anchor base included, after
    normalisation. Every later step (consequences, HGVS, codons, the answer) grows with the allele, so a few
    characters such as `21:g.25000000_26000000dup` would otherwise cost hundreds of megabytes."""
    import os

    raw = os.environ.get("HCML_MAX_ALLELE_LENGTH") or "1000"
    try:
        return int(raw)
    except ValueError as exc:
        raise InputError(f"HCML_MAX_ALLELE_LENGTH must be an integer, got {raw!r}") from exc


def _split_long_alleles(variants: pl.DataFrame, limit: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(variants within `limit`, the others as rejects with ALLELE_TOO_LONG), after `normalise`."""
    longest = pl.max_horizontal(pl.col("norm_ref").str.len_bytes(), pl.col("norm_alt").str.len_bytes())
    over = variants.filter(longest > limit)
    if over.height == 0:
        return variants, over
    over = over.with_columns(
        pl.when(pl.col("norm_alt").str.len_bytes() > pl.col("norm_ref").str.len_bytes())
        .then(pl.lit("ALT"))
        .otherwise(pl.lit("REF"))
        .alias("field"),
        pl.format(ALLELE_TOO_LONG, pl.col("variant_id"), longest, pl.lit(limit)).alias("reason"),
    )
    return variants.filter(longest <= limit), over


def known_contigs(bundle: ReferenceBundle) -> str:
    """The bundle's contigs as an unknown-contig reason lists them (the first ten, sorted)."""
    return ", ".join(sorted(bundle.contigs)[:10])


CANDIDATE_SCHEMA: dict[str, pl.DataType] = {
    "cand": pl.UInt32,  # candidate index (input order), used to re-attach genotypes
    "line": pl.Int64,
    "variant_id": pl.Utf8,
    "chrom_in": pl.Utf8,  # contig as given
    "pos": pl.Int64,
    "ref": pl.Utf8,
    "alt": pl.Utf8,
    "text": pl.Utf8,
}

VARIANT_SCHEMA: dict[str, pl.DataType] = {
    "row": pl.UInt32,
    "line": pl.Int64,
    "variant_id": pl.Utf8,
    "chrom": pl.Utf8,
    "pos": pl.Int64,
    "ref": pl.Utf8,
    "alt": pl.Utf8,
    "norm_pos": pl.Int64,
    "norm_ref": pl.Utf8,
    "norm_alt": pl.Utf8,
}


_EMPTY_VARIANTS = pl.DataFrame(schema=VARIANT_SCHEMA)


def empty_variants() -> pl.DataFrame:
    return _EMPTY_VARIANTS.clone()  # a clone of one empty frame, not built anew (~20 us)


class GenomeWindow:
    """A stretch of one contig as a numpy byte array (1-based `start`), fetched once per input."""

    def __init__(self, bundle: ReferenceBundle, chrom: str, start: int, end: int):
        length = bundle.contigs[chrom]
        self.chrom = chrom
        self.start = max(1, int(start))
        self.end = min(length, int(end))
        seq = bundle.fetch(chrom, self.start, self.end) if self.end >= self.start else ""
        self.seq = np.frombuffer(seq.upper().encode("ascii"), dtype=np.uint8)

    def bases(self, pos: np.ndarray) -> np.ndarray:
        """Bytes at 1-based positions (which must lie inside the window)."""
        return self.seq[pos - self.start]

    def text(self, start: int, end: int) -> str:
        return self.seq[start - self.start : end - self.start + 1].tobytes().decode("ascii")


def _windows(bundle: ReferenceBundle, frame: pl.DataFrame) -> dict[str, GenomeWindow]:
    spans = frame.group_by("chrom").agg(
        pl.col("pos").min().alias("lo"), (pl.col("pos") + pl.col("ref").str.len_bytes()).max().alias("hi")
    )
    out = {}
    for chrom, lo, hi in spans.iter_rows():
        try:
            out[chrom] = GenomeWindow(bundle, chrom, lo - SHIFT_MARGIN, hi + SHIFT_MARGIN)
        except (KeyError, ValueError) as exc:  # pragma: no cover - a bundle that cannot serve its own contig
            raise InputError(f"the reference bundle cannot serve contig {chrom}: {exc}") from exc
    return out


def _ref_matches(frame: pl.DataFrame, windows: dict[str, GenomeWindow]) -> tuple[np.ndarray, list[str]]:
    """Vectorised REF check: per contig and REF length, compare byte matrices. Returns (ok, genome REF)."""
    n = frame.height
    ok = np.zeros(n, dtype=bool)
    genome_ref = [""] * n
    idx_all = np.arange(n)
    lengths = frame["ref"].str.len_bytes().to_numpy().astype(np.int64)
    chroms = frame["chrom"].to_numpy()
    pos = frame["pos"].to_numpy()
    refs = frame["ref"]
    for chrom, window in windows.items():
        on_chrom = chroms == chrom
        for length in np.unique(lengths[on_chrom]):
            sel = idx_all[on_chrom & (lengths == length)]
            offsets = pos[sel][:, None] + np.arange(length)[None, :]
            genome = window.bases(offsets)
            given = np.frombuffer(refs.gather(sel).str.join("").item().encode("ascii"), dtype=np.uint8)
            match = (genome == given.reshape(-1, length)).all(axis=1)
            ok[sel] = match
            for i in sel[~match]:
                genome_ref[i] = genome[np.searchsorted(sel, i)].tobytes().decode("ascii")
    return ok, genome_ref


def _trim(frame: pl.DataFrame) -> pl.DataFrame:
    """Trim the common suffix, then the common prefix (pos advances); alleles may become empty."""
    ref, alt = pl.col("ref"), pl.col("alt")
    while True:
        same_last = (
            (ref.str.len_bytes() > 0) & (alt.str.len_bytes() > 0) & (ref.str.slice(-1, 1) == alt.str.slice(-1, 1))
        )
        mask = frame.select(same_last.alias("m"))["m"]
        if not mask.any():
            break
        frame = frame.with_columns(
            pl.when(same_last).then(ref.str.slice(0, ref.str.len_bytes() - 1)).otherwise(ref).alias("ref"),
            pl.when(same_last).then(alt.str.slice(0, alt.str.len_bytes() - 1)).otherwise(alt).alias("alt"),
        )
    while True:
        same_first = (
            (ref.str.len_bytes() > 0) & (alt.str.len_bytes() > 0) & (ref.str.slice(0, 1) == alt.str.slice(0, 1))
        )
        mask = frame.select(same_first.alias("m"))["m"]
        if not mask.any():
            break
        frame = frame.with_columns(
            pl.when(same_first).then(ref.str.slice(1)).otherwise(ref).alias("ref"),
            pl.when(same_first).then(alt.str.slice(1)).otherwise(alt).alias("alt"),
            pl.when(same_first).then(pl.col("pos") + 1).otherwise(pl.col("pos")).alias("pos"),
        )
    return frame


def _left_shift(pos: np.ndarray, seq_matrix: np.ndarray, lengths: np.ndarray, window: GenomeWindow) -> np.ndarray:
    """How many bases each pure indel shifts left.

    `pos` is the first affected base (1-based; an insertion goes before it), `seq_matrix[i, :lengths[i]]` the
    inserted or deleted bases.  Shifting by one is allowed while the genome base before the event equals the
    event's last base after the rotations so far, i.e. seq[(L - 1 - k) mod L] at step k.
    """
    n = len(pos)
    shift = np.zeros(n, dtype=np.int64)
    active = np.ones(n, dtype=bool)
    rows = np.arange(n)
    step = 0
    while active.any() and step < SHIFT_MARGIN - 1:
        before = pos - shift - 1  # 1-based genome position just before the (shifted) event
        inside = before > window.start  # keep one base for the anchor
        active &= inside
        if not active.any():
            break
        genome = np.zeros(n, dtype=np.uint8)
        genome[active] = window.bases(before[active])
        last = seq_matrix[rows, (lengths - 1 - step) % lengths]
        active &= genome == last
        shift[active] += 1
        step += 1
    return shift


def normalise(frame: pl.DataFrame, windows: dict[str, GenomeWindow]) -> pl.DataFrame:
    """Add norm_pos/norm_ref/norm_alt to checked rows (chrom, pos, ref, alt)."""
    frame = frame.with_columns(
        pl.col("pos").alias("norm_pos"), pl.col("ref").alias("norm_ref"), pl.col("alt").alias("norm_alt")
    )
    simple = (pl.col("ref").str.len_bytes() == 1) & (pl.col("alt").str.len_bytes() == 1)
    frame = frame.with_row_index("_i")
    todo = frame.filter(~simple)
    if todo.height == 0:
        return frame.drop("_i")
    t = _trim(todo.select("_i", "chrom", pl.col("pos"), "ref", "alt"))
    parts = []
    for chrom, group in t.group_by("chrom", maintain_order=True):
        window = windows[chrom[0]]
        lr = group["ref"].str.len_bytes().to_numpy().astype(np.int64)
        la = group["alt"].str.len_bytes().to_numpy().astype(np.int64)
        pure = (lr == 0) ^ (la == 0)
        pos = group["pos"].to_numpy().copy()
        event = np.where(lr == 0, group["alt"].to_numpy(), group["ref"].to_numpy())
        shift = np.zeros(len(pos), dtype=np.int64)
        if pure.any():
            ev = event[pure]
            ev_len = np.where(lr == 0, la, lr)[pure]
            width = int(ev_len.max())
            padded = pl.Series(ev).str.pad_end(width, "N").str.join("").item().encode("ascii")
            matrix = np.frombuffer(padded, dtype=np.uint8).reshape(-1, width)
            shift[pure] = _left_shift(pos[pure], matrix, ev_len, window)
        new_pos = pos - shift
        # an indel at a contig's first base has no base before it: VCF's base-after form (VCF 4.3, REF)
        first_base = pure & (new_pos == 1)
        anchor_pos = np.where(first_base, new_pos + lr, new_pos - 1)
        anchor = np.full(len(pos), ord("N"), dtype=np.uint8)
        anchor[pure] = window.bases(anchor_pos[pure])
        g = group.with_columns(
            pl.Series("shift", shift),
            pl.Series("pure", pure),
            pl.Series("first_base", first_base),
            pl.Series("anchor", anchor.view("S1").astype("U1")),
            pl.Series("new_pos", new_pos),
        )
        # rotate the event right by shift (mod its length): seq[L - k:] + seq[:L - k]
        ev_col = pl.when(pl.col("ref").str.len_bytes() == 0).then(pl.col("alt")).otherwise(pl.col("ref"))
        length = ev_col.str.len_bytes()
        cut = length - (pl.col("shift") % pl.when(length > 0).then(length).otherwise(1))
        rotated = ev_col.str.slice(cut) + ev_col.str.slice(0, cut)
        ref_part = pl.when(pl.col("ref").str.len_bytes() > 0).then(rotated).otherwise(pl.lit(""))
        alt_part = pl.when(pl.col("alt").str.len_bytes() > 0).then(rotated).otherwise(pl.lit(""))
        after = pl.col("first_base")
        g = g.with_columns(
            pl.when(pl.col("pure"))
            .then(pl.col("new_pos") - 1 + after.cast(pl.Int64))
            .otherwise(pl.col("pos"))
            .alias("norm_pos"),
            pl.when(pl.col("pure"))
            .then(pl.when(after).then(ref_part + pl.col("anchor")).otherwise(pl.col("anchor") + ref_part))
            .otherwise(pl.col("ref"))
            .alias("norm_ref"),
            pl.when(pl.col("pure"))
            .then(pl.when(after).then(alt_part + pl.col("anchor")).otherwise(pl.col("anchor") + alt_part))
            .otherwise(pl.col("alt"))
            .alias("norm_alt"),
        )
        parts.append(g.select("_i", "norm_pos", "norm_ref", "norm_alt"))
    fixed = pl.concat(parts)
    # `_i` is the row number: scatter the normalised alleles in place (what `update(on="_i")` does, no join)
    at = fixed["_i"].to_numpy()
    frame = frame.with_columns(
        frame[c].scatter(at, fixed[c].cast(frame.schema[c])) for c in ("norm_pos", "norm_ref", "norm_alt")
    )
    return frame.drop("_i")


def vep_default_ids(frame: pl.DataFrame, record: str = "cand") -> pl.Series:
    """VEP's name for a variant without an ID: `{chr}_{start}_{allele_string}`.

    As Ensembl VEP's parser does for a VCF record: when the alleles differ in length and all share their
    first base, that base is dropped and start moves by one (`-` for an empty allele); multi-allelic
    records keep one allele string `REF/ALT1/ALT2` for all their alleles. A single-ALT record is named
    after its reduced alleles (VEP's validate_vf names it after post_process_vfs minimised it: the rule of
    `annotate.allele_trim`). `chr` is the contig as given.
    """
    from hcml.genomics.annotate import vep_alleles

    ref, alt = pl.col("ref"), pl.col("alt")
    with_sv = bool(frame["alt"].str.contains("<", literal=True).any())  # the window only when it can matter
    g = frame.select(
        (alt.str.contains(SYMBOLIC_ALT).any().over(record) if with_sv else pl.lit(False)).alias("_sv"),
        pl.col(record),
        pl.col("chrom_in"),
        pl.col("pos"),
        ref,
        alt,
        (alt.str.slice(0, 1) == ref.str.slice(0, 1)).all().over(record).alias("_share"),
        (alt.str.len_bytes() != ref.str.len_bytes()).any().over(record).alias("_indel"),
        pl.len().over(record).alias("_n"),
    )
    strip = pl.col("_share") & pl.col("_indel")

    def trimmed(col: pl.Expr) -> pl.Expr:
        s = pl.when(strip).then(col.str.slice(1)).otherwise(col)
        return pl.when(s == "").then(pl.lit("-")).otherwise(s)

    strip = strip & ~pl.col("_sv")
    single = (pl.col("_n") == 1) & ~pl.col("_sv")
    reduced = vep_alleles(g.select("pos", "ref", "alt")).select("vstart", "vref", "valt")
    g = pl.concat([g, reduced], how="horizontal").with_columns(
        pl.when(single).then(pl.col("vref")).otherwise(trimmed(ref)).alias("_r"),
        pl.when(single).then(pl.col("valt")).otherwise(trimmed(alt)).alias("_a"),
        pl.when(single).then(pl.col("vstart")).otherwise(pl.col("pos") + strip.cast(pl.Int64)).alias("_s"),
    )
    multi = g.filter(pl.col("_n") > 1)
    if multi.height:
        joined = multi.group_by(record, maintain_order=True).agg(pl.col("_a").str.join("/").alias("_aa"))
        g = g.join(joined, on=record, how="left", maintain_order="left").with_columns(
            pl.coalesce("_aa", "_a").alias("_a")
        )
    # a structural record (a symbolic ALT): `{chr}_{POS + 1}_{ALTs joined by '/'}` (VEP's SV allele string)
    return g.select(
        pl.when(pl.col("_sv"))
        .then(
            pl.concat_str(
                [pl.col("chrom_in"), pl.lit("_"), (pl.col("pos") + 1).cast(pl.Utf8), pl.lit("_"), pl.col("_a")]
            )
        )
        .otherwise(
            pl.concat_str(
                [
                    pl.col("chrom_in"),
                    pl.lit("_"),
                    pl.col("_s").cast(pl.Utf8),
                    pl.lit("_"),
                    pl.col("_r"),
                    pl.lit("/"),
                    pl.col("_a"),
                ]
            )
        )
    ).to_series()


def vep_default_id_rows(chrom_in: str, pos: int, ref: str, alts: list[str]) -> list[str]:
    """Row-by-row twin of `vep_default_ids` for one record (uppercased alleles): one name per ALT."""
    if any(re.match(SYMBOLIC_ALT, a) for a in alts):
        return [f"{chrom_in}_{pos + 1}_{'/'.join(alts)}"] * len(alts)
    if len(alts) == 1:
        from hcml.genomics.annotate import _vep_allele

        start, _, r, a = _vep_allele(pos, ref, alts[0])
        return [f"{chrom_in}_{start}_{r}/{a}"]
    strip = all(a[:1] == ref[:1] for a in alts) and any(len(a) != len(ref) for a in alts)
    r = (ref[1:] if strip else ref) or "-"
    a = [(x[1:] if strip else x) or "-" for x in alts]
    start = pos + 1 if strip else pos
    if len(a) > 1:
        return [f"{chrom_in}_{start}_{r}/{'/'.join(a)}"] * len(a)
    return [f"{chrom_in}_{start}_{r}/{a[0]}"]


@functools.lru_cache(maxsize=16)
def _check_exprs(known: str, with_sv: bool = False) -> tuple[pl.Expr, pl.Expr]:
    """The `field` / `reason` expressions of `check_and_normalise` (first failing check wins), built once per
    bundle's contig list `known` rather than per call. `with_sv`: the frame has `structural_fields`, whose
    symbolic alleles are checked there and are not sequence alleles."""
    ref, alt = pl.col("ref"), pl.col("alt")
    sequence = pl.col("sv_class").is_null() if with_sv else pl.lit(True)
    checks: list[tuple[pl.Expr, str | pl.Expr, pl.Expr]] = [
        (ref.is_null() | (ref == ""), "REF", pl.lit(REF_EMPTY)),
        (~ref.str.contains(f"^[{REF_BASES}]+$"), "REF", pl.format(REF_CHARS, ref.str.slice(0, SNIP))),
        (alt.is_null() | (alt == "") | (alt == "."), "ALT", pl.lit(ALT_EMPTY)),
        *([(pl.col("_sv_reason").is_not_null(), pl.col("_sv_field"), pl.col("_sv_reason"))] if with_sv else []),
        (
            sequence & (alt.str.contains(r"^<.*>$") | (alt == "*") | alt.str.contains(r"[\[\]]")),
            "ALT",
            pl.format(ALT_SYMBOLIC, alt.str.slice(0, SNIP)),
        ),
        (sequence & ~alt.str.contains(f"^[{ALT_BASES}]+$"), "ALT", pl.format(ALT_CHARS, alt.str.slice(0, SNIP))),
        (ref == alt, "ALT", pl.format(ALT_IS_REF, alt.str.slice(0, SNIP))),
        (pl.col("chrom").is_null(), "CHROM", pl.format(UNKNOWN_CONTIG, pl.col("chrom_in"), pl.lit(known))),
        (pl.col("pos").is_null() | (pl.col("pos") < 1), "POS", pl.format(POS_INVALID, pl.col("pos"))),
        (
            pl.col("_end") > pl.col("_len"),
            "POS",
            pl.format(POS_PAST_END, pl.col("chrom"), pl.col("pos"), pl.col("_end"), pl.col("chrom"), pl.col("_len")),
        ),
    ]
    field = pl.lit(None, dtype=pl.Utf8)
    reason = pl.lit(None, dtype=pl.Utf8)
    for cond, name, why in reversed(checks):
        cond = cond.fill_null(True)
        field = pl.when(cond).then(pl.lit(name) if isinstance(name, str) else name).otherwise(field)
        reason = pl.when(cond).then(why).otherwise(reason)
    return field, reason


def check_and_normalise(cands: pl.DataFrame, bundle: ReferenceBundle) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Validate candidates against the bundle; return (variants, rejects).

    Checks, first failure wins: allele characters, ALT equal to REF, unknown contig, position past the
    contig end, REF against the genome.  Every candidate ends in exactly one of the two frames.
    """
    if cands.height == 0:
        return empty_variants(), as_rejects(cands)
    names = {c: bundle.contig_name(c) for c in cands["chrom_in"].unique().drop_nulls().to_list()}
    contig_len = {k: v for k, v in bundle.contigs.items()}
    frame = cands.with_columns(
        pl.col("ref").str.to_uppercase(),
        pl.col("alt").str.to_uppercase(),
        pl.col("chrom_in").replace_strict(names, default=None, return_dtype=pl.Utf8).alias("chrom"),
    )
    with_sv = bool(frame["alt"].str.contains("<", literal=True).any()) and bool(
        frame["alt"].str.contains(SYMBOLIC_ALT).any()
    )
    if with_sv:  # symbolic structural alleles: their END, SVLEN and type (hcml.genomics.structural)
        frame = structural_fields(frame)
    end = pl.col("pos") + pl.col("ref").str.len_bytes() - 1
    frame = frame.with_columns(
        pl.col("chrom").replace_strict(contig_len, default=None, return_dtype=pl.Int64).alias("_len"),
        (pl.max_horizontal(end, pl.col("sv_end")) if with_sv else end).alias("_end"),
    )
    field, reason = _check_exprs(known_contigs(bundle), with_sv)
    frame = frame.with_columns(field.alias("field"), reason.alias("reason"))
    bad = frame.filter(pl.col("reason").is_not_null())
    good = frame.filter(pl.col("reason").is_null())
    if good.height:
        windows = _windows(bundle, good)
        ok, genome_ref = _ref_matches(good, windows)
        if not ok.all():
            mismatched = good.filter(~pl.Series(ok)).with_columns(
                pl.Series("_g", [g for g, k in zip(genome_ref, ok) if not k]),
            )
            mismatched = mismatched.with_columns(
                pl.lit("REF").alias("field"),
                pl.when(pl.col("_g").str.contains("^N+$"))
                .then(pl.format(REF_NO_SEQUENCE, pl.col("ref").str.slice(0, SNIP), pl.col("chrom"), pl.col("pos")))
                .otherwise(
                    pl.format(
                        REF_MISMATCH,
                        pl.col("ref").str.slice(0, SNIP),
                        pl.col("_g").str.slice(0, SNIP),
                        pl.col("chrom"),
                        pl.col("pos"),
                    )
                )
                .alias("reason"),
            ).drop("_g")
            bad = pl.concat([bad, mismatched], how="diagonal_relaxed")
            good = good.filter(pl.Series(ok))
        if with_sv:  # symbolic alleles are kept as given (VEP neither trims nor shifts them)
            is_sv = pl.col("sv_class").is_not_null()
            kept = good.filter(is_sv).with_columns(
                pl.col("pos").alias("norm_pos"), pl.col("ref").alias("norm_ref"), pl.col("alt").alias("norm_alt")
            )
            seq = good.filter(~is_sv)
            good = pl.concat([normalise(seq, windows), kept], how="diagonal_relaxed") if seq.height else kept
        else:
            good = normalise(good, windows) if good.height else good
        if good.height:
            good, too_long = _split_long_alleles(good, max_allele_length())
            bad = pl.concat([bad, too_long], how="diagonal_relaxed") if too_long.height else bad
    rejects = as_rejects(bad.sort("cand"))
    variants = good.sort("cand")
    return variants, rejects


def number_rows(variants: pl.DataFrame) -> pl.DataFrame:
    """Final variants frame of the contract (row 0..n-1 in input order); keeps `cand` for the caller."""
    if variants.height == 0:
        return empty_variants().with_columns(pl.lit(None, dtype=pl.UInt32).alias("cand"))
    out = variants.with_row_index("row").with_columns(pl.col("row").cast(pl.UInt32))
    sv = [pl.col(c).cast(t) for c, t in SV_COLUMNS.items() if c in variants.columns]  # symbolic alleles only
    return out.select(*[pl.col(c).cast(t) for c, t in VARIANT_SCHEMA.items()], *sv, "cand")


# ---- the row-by-row twin for a few candidates (hcml.small_inputs) -------------------------------------------
# Same rules as `check_and_normalise` + `normalise` above, one candidate at a time in plain Python over
# `bundle.fetch`, with no polars call: a handful of rows costs a few microseconds each instead of polars'
# ~2 ms of fixed per-operation cost. Held equal to the vectorised form by tests/genomics/test_small_parse.py.

_INT64_SAFE = 2**62  # positions beyond this overflow the vectorised form's Int64 columns: left to it


def _is_symbolic(alt: str) -> bool:
    """`^<.*>$` (`.` is any character but a newline), `*`, or a breakend bracket."""
    return (
        (len(alt) >= 2 and alt[0] == "<" and alt[-1] == ">" and "\n" not in alt)
        or alt == "*"
        or "[" in alt
        or "]" in alt
    )


def _check_row(
    ref: str, alt: str, chrom_in: str, chrom: str | None, pos: int, length: int | None, known: str
) -> tuple[str, str] | None:
    """(field, reason) of the first failing check of `_check_exprs` (uppercased ASCII alleles), or None."""
    if ref == "":
        return "REF", REF_EMPTY
    if ref.strip(REF_BASES):
        return "REF", REF_CHARS.format(ref[:SNIP])
    if alt == "" or alt == ".":
        return "ALT", ALT_EMPTY
    if _is_symbolic(alt):
        return "ALT", ALT_SYMBOLIC.format(alt[:SNIP])
    if alt.strip(ALT_BASES):
        return "ALT", ALT_CHARS.format(alt[:SNIP])
    if ref == alt:
        return "ALT", ALT_IS_REF.format(alt[:SNIP])
    if chrom is None:
        return "CHROM", UNKNOWN_CONTIG.format(chrom_in, known)
    if pos < 1:
        return "POS", POS_INVALID.format(pos)
    end = pos + len(ref) - 1
    if end > length:
        return "POS", POS_PAST_END.format(chrom, pos, end, chrom, length)
    return None


class _Genome:
    """Reference bases for the twin: slices of the bundle's cached contig text (`contig_text`, shared with the
    HGVS writer) where it covers them, else `bundle.fetch` (the same bases: 'N' where there is no sequence)."""

    def __init__(self, bundle: ReferenceBundle):
        self.bundle = bundle
        self.texts: dict[str, tuple[str, int]] = {}

    def bases(self, chrom: str, start: int, end: int) -> str:
        """chrom:start-end (1-based, inclusive, inside the contig), uppercase."""
        text = self.texts.get(chrom)
        if text is None:
            get = getattr(self.bundle, "contig_text", None)
            text = self.texts[chrom] = get(chrom) if get is not None else ("", 0)
        seq, first = text
        if start >= first and end - first < len(seq):
            return seq[start - first : end - first + 1].upper()
        return self.bundle.fetch(chrom, start, end).upper()


def _normalise_row(genome: _Genome, chrom: str, pos: int, ref: str, alt: str, lo: int) -> tuple[int, str, str] | None:
    """(norm_pos, norm_ref, norm_alt) of one checked allele, as `normalise` computes it with a genome window
    starting at `lo`; None where that form would read outside its window (a pure indel whose anchor would be
    before `lo`)."""
    if len(ref) == 1 and len(alt) == 1:
        return pos, ref, alt
    # `_trim`: the common suffix, then the common prefix (pos advances)
    while ref and alt and ref[-1] == alt[-1]:
        ref, alt = ref[:-1], alt[:-1]
    while ref and alt and ref[0] == alt[0]:
        ref, alt, pos = ref[1:], alt[1:], pos + 1
    if bool(ref) == bool(alt):  # not a pure insertion or deletion: trimmed only
        return pos, ref, alt
    event = ref or alt
    size = len(event)
    # `_left_shift`: shift by one while the base before the event equals its last base after the rotations
    # so far, keeping the anchor inside the window, at most SHIFT_MARGIN - 1 steps
    shift = 0
    seq_lo, seq = pos, ""  # the bases fetched so far: seq_lo .. pos - 1
    while shift < SHIFT_MARGIN - 1:
        before = pos - shift - 1
        if before <= lo:
            break
        if before < seq_lo:
            new_lo = max(lo, before - 63)
            seq = genome.bases(chrom, new_lo, seq_lo - 1) + seq
            seq_lo = new_lo
        if seq[before - seq_lo] != event[(size - 1 - shift) % size]:
            break
        shift += 1
    anchor_pos = pos - shift - 1
    if anchor_pos < 1:  # at a contig's first base: VCF's base-after form, as `normalise`
        after = genome.bases(chrom, pos + len(ref), pos + len(ref))
        return pos, ref + after, alt + after
    if anchor_pos < lo:
        return None
    anchor = seq[anchor_pos - seq_lo] if anchor_pos >= seq_lo else genome.bases(chrom, anchor_pos, anchor_pos)
    cut = size - shift % size
    rotated = event[cut:] + event[:cut]
    return anchor_pos, anchor + rotated if ref else anchor, anchor + rotated if alt else anchor


def check_and_normalise_rows(cands: list[tuple], bundle: ReferenceBundle) -> tuple[list[tuple], list[tuple]] | None:
    """Row-by-row twin of `check_and_normalise` followed by `number_rows`, for a few candidates.

    `cands`: CANDIDATE_SCHEMA tuples (cand, line, variant_id, chrom_in, pos, ref, alt, text). Returns
    (variants, rejects) in candidate order: variants as VARIANT_SCHEMA tuples (row, ..., norm_alt) followed by
    `cand`; rejects as REJECT_SCHEMA tuples (text cut to TEXT_LIMIT). Returns None when an input lies outside
    what this twin reproduces exactly (a null field, non-ASCII alleles, a position beyond Int64): the caller
    then takes the vectorised form.
    """
    from hcml.genomics.errors import TEXT_LIMIT

    known = None
    contigs = bundle.contigs
    names: dict[str, str | None] = {}
    bad: list[tuple] = []  # (cand, reject tuple)
    good: list[tuple] = []
    lo: dict[str, int] = {}  # per contig: the smallest position of a candidate passing the checks
    for cand, line, variant_id, chrom_in, pos, ref, alt, text in cands:
        if (
            cand is None
            or chrom_in is None
            or pos is None
            or ref is None
            or alt is None
            or not -_INT64_SAFE < pos < _INT64_SAFE
            or not (ref.isascii() and alt.isascii())
            or re.match(SYMBOLIC_ALT, alt)  # structural alleles: read by the vectorised form only
        ):
            return None
        ref, alt = ref.upper(), alt.upper()
        chrom = names.get(chrom_in, False)
        if chrom is False:
            chrom = names[chrom_in] = bundle.contig_name(chrom_in)
        if chrom is None and known is None:
            known = known_contigs(bundle)
        problem = _check_row(ref, alt, chrom_in, chrom, pos, contigs[chrom] if chrom is not None else None, known)
        if problem is not None:
            short = text[:TEXT_LIMIT] if text is not None else None
            bad.append((cand, (line, variant_id, problem[0], problem[1], short)))
            continue
        good.append((cand, line, variant_id, chrom, pos, ref, alt, text))
        if pos < lo.get(chrom, pos + 1):
            lo[chrom] = pos
    done: list[tuple] = []
    genome = _Genome(bundle)
    limit = max_allele_length()
    for cand, line, variant_id, chrom, pos, ref, alt, text in good:
        given = genome.bases(chrom, pos, pos + len(ref) - 1)
        if given != ref:
            if given.strip("N"):
                why = REF_MISMATCH.format(ref[:SNIP], given[:SNIP], chrom, pos)
            else:
                why = REF_NO_SEQUENCE.format(ref[:SNIP], chrom, pos)
            bad.append((cand, (line, variant_id, "REF", why, text[:TEXT_LIMIT] if text is not None else None)))
            continue
        norm = _normalise_row(genome, chrom, pos, ref, alt, max(1, lo[chrom] - SHIFT_MARGIN))
        if norm is None:
            return None
        longest = max(len(norm[1]), len(norm[2]))
        if longest > limit:  # the rule of `_split_long_alleles`
            why = ALLELE_TOO_LONG.format(variant_id, longest, limit)
            field = "ALT" if len(norm[2]) > len(norm[1]) else "REF"
            bad.append((cand, (line, variant_id, field, why, text[:TEXT_LIMIT] if text is not None else None)))
            continue
        done.append((cand, line, variant_id, chrom, pos, ref, alt, *norm))
    done.sort(key=lambda r: r[0])
    bad.sort(key=lambda r: r[0])
    variants = [(i, *r[1:], r[0]) for i, r in enumerate(done)]
    return variants, [r for _, r in bad]
