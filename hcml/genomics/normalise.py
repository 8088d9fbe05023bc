"""Check every REF against the genome and normalise every allele (left-align, trim), vectorised.

Every reader (VCF, variant strings, HGVS, raw sequence) produces *candidates* (one row per allele, VCF
style: `pos`, `ref`, `alt` with the anchor base for indels) and hands them here, so that validation and
normalisation are written once.  Normalisation follows vt / `bcftools norm`: trim the common suffix, then
the common prefix, then shift a pure insertion or deletion left while the base before it equals its last
base; indels keep one anchor base (VCF style) in `norm_pos/norm_ref/norm_alt`.  SNVs skip all of it.
"""

from __future__ import annotations

import functools

import numpy as np
import polars as pl

from hcml.genomics.errors import InputError, as_rejects

# how far left an indel may shift (longest repeat we follow); the genome window is widened by this much
SHIFT_MARGIN = 5_000

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


def empty_variants() -> pl.DataFrame:
    return pl.DataFrame(schema=VARIANT_SCHEMA)


class GenomeWindow:
    """A stretch of one contig as a numpy byte array (1-based `start`), fetched once per input."""

    def __init__(self, bundle, chrom: str, start: int, end: int):
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


def _windows(bundle, frame: pl.DataFrame) -> dict[str, GenomeWindow]:
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
        anchor_pos = new_pos - 1
        anchor = np.full(len(pos), ord("N"), dtype=np.uint8)
        anchor[pure] = window.bases(anchor_pos[pure])
        g = group.with_columns(
            pl.Series("shift", shift),
            pl.Series("pure", pure),
            pl.Series("anchor", anchor.view("S1").astype("U1")),
            pl.Series("new_pos", new_pos),
        )
        # rotate the event right by shift (mod its length): seq[L - k:] + seq[:L - k]
        ev_col = pl.when(pl.col("ref").str.len_bytes() == 0).then(pl.col("alt")).otherwise(pl.col("ref"))
        length = ev_col.str.len_bytes()
        cut = length - (pl.col("shift") % pl.when(length > 0).then(length).otherwise(1))
        rotated = ev_col.str.slice(cut) + ev_col.str.slice(0, cut)
        g = g.with_columns(
            pl.when(pl.col("pure")).then(pl.col("new_pos") - 1).otherwise(pl.col("pos")).alias("norm_pos"),
            pl.when(pl.col("pure"))
            .then(pl.col("anchor") + pl.when(pl.col("ref").str.len_bytes() > 0).then(rotated).otherwise(pl.lit("")))
            .otherwise(pl.col("ref"))
            .alias("norm_ref"),
            pl.when(pl.col("pure"))
            .then(pl.col("anchor") + pl.when(pl.col("alt").str.len_bytes() > 0).then(rotated).otherwise(pl.lit("")))
            .otherwise(pl.col("alt"))
            .alias("norm_alt"),
        )
        parts.append(g.select("_i", "norm_pos", "norm_ref", "norm_alt"))
    fixed = pl.concat(parts)
    # `_i` is the row number: scatter the normalised alleles in place (what `update(on="_i")` does, no join)
    at = fixed["_i"].to_numpy()
    frame = frame.with_columns(frame[c].scatter(at, fixed[c].cast(frame.schema[c])) for c in ("norm_pos", "norm_ref", "norm_alt"))
    return frame.drop("_i")


def vep_default_ids(frame: pl.DataFrame, record: str = "cand") -> pl.Series:
    """VEP's name for a variant without an ID: `{chr}_{start}_{allele_string}`.

    As Ensembl VEP's parser does for a VCF record: when the alleles differ in length and all share their
    first base, that base is dropped and start moves by one (`-` for an empty allele); multi-allelic
    records keep one allele string `REF/ALT1/ALT2` for all their alleles. `chr` is the contig as given.
    """
    ref, alt = pl.col("ref"), pl.col("alt")
    g = frame.select(
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

    g = g.with_columns(trimmed(ref).alias("_r"), trimmed(alt).alias("_a"), (pl.col("pos") + strip.cast(pl.Int64)).alias("_s"))
    multi = g.filter(pl.col("_n") > 1)
    if multi.height:
        joined = multi.group_by(record, maintain_order=True).agg(pl.col("_a").str.join("/").alias("_aa"))
        g = g.join(joined, on=record, how="left", maintain_order="left").with_columns(
            pl.coalesce("_aa", "_a").alias("_a")
        )
    return g.select(
        pl.concat_str([pl.col("chrom_in"), pl.lit("_"), pl.col("_s").cast(pl.Utf8), pl.lit("_"), pl.col("_r"), pl.lit("/"), pl.col("_a")])
    ).to_series()


@functools.lru_cache(maxsize=16)
def _check_exprs(known: str) -> tuple[pl.Expr, pl.Expr]:
    """The `field` / `reason` expressions of `check_and_normalise` (first failing check wins), built once per
    bundle's contig list `known` rather than per call."""
    ref, alt = pl.col("ref"), pl.col("alt")
    checks: list[tuple[pl.Expr, str, pl.Expr]] = [
        (ref.is_null() | (ref == ""), "REF", pl.lit("REF is empty")),
        (
            ~ref.str.contains(r"^[ACGTN]+$"),
            "REF",
            pl.format("REF '{}' has characters other than A, C, G, T, N", ref.str.slice(0, 50)),
        ),
        (alt.is_null() | (alt == "") | (alt == "."), "ALT", pl.lit("ALT is '.' or empty: no alternate allele")),
        (
            alt.str.contains(r"^<.*>$") | (alt == "*") | alt.str.contains(r"[\[\]]"),
            "ALT",
            pl.format("ALT '{}' is a symbolic or structural allele, not supported", alt.str.slice(0, 50)),
        ),
        (
            ~alt.str.contains(r"^[ACGT]+$"),
            "ALT",
            pl.format("ALT '{}' has characters other than A, C, G, T", alt.str.slice(0, 50)),
        ),
        (ref == alt, "ALT", pl.format("ALT '{}' equals REF: not a variant", alt.str.slice(0, 50))),
        (
            pl.col("chrom").is_null(),
            "CHROM",
            pl.format("unknown contig '{}': the reference bundle has {}", pl.col("chrom_in"), pl.lit(known)),
        ),
        (
            pl.col("pos").is_null() | (pl.col("pos") < 1),
            "POS",
            pl.format("POS {} is not a position (must be an integer >= 1)", pl.col("pos")),
        ),
        (
            pl.col("_end") > pl.col("_len"),
            "POS",
            pl.format(
                "position {}:{}-{} is past the end of contig {} (length {})",
                pl.col("chrom"), pl.col("pos"), pl.col("_end"), pl.col("chrom"), pl.col("_len"),
            ),
        ),
    ]
    field = pl.lit(None, dtype=pl.Utf8)
    reason = pl.lit(None, dtype=pl.Utf8)
    for cond, name, why in reversed(checks):
        cond = cond.fill_null(True)
        field = pl.when(cond).then(pl.lit(name)).otherwise(field)
        reason = pl.when(cond).then(why).otherwise(reason)
    return field, reason


def check_and_normalise(cands: pl.DataFrame, bundle) -> tuple[pl.DataFrame, pl.DataFrame]:
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
    frame = frame.with_columns(
        pl.col("chrom").replace_strict(contig_len, default=None, return_dtype=pl.Int64).alias("_len"),
        (pl.col("pos") + pl.col("ref").str.len_bytes() - 1).alias("_end"),
    )
    field, reason = _check_exprs(", ".join(sorted(bundle.contigs)[:10]))
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
                .then(
                    pl.format(
                        "REF '{}' at {}:{} cannot be checked: the reference bundle has no sequence there (N)",
                        pl.col("ref").str.slice(0, 50), pl.col("chrom"), pl.col("pos"),
                    )
                )
                .otherwise(
                    pl.format(
                        "REF '{}' does not match the reference genome '{}' at {}:{}",
                        pl.col("ref").str.slice(0, 50), pl.col("_g").str.slice(0, 50), pl.col("chrom"), pl.col("pos"),
                    )
                )
                .alias("reason"),
            ).drop("_g")
            bad = pl.concat([bad, mismatched], how="diagonal_relaxed")
            good = good.filter(pl.Series(ok))
        good = normalise(good, windows) if good.height else good
    rejects = as_rejects(bad.sort("cand"))
    variants = good.sort("cand")
    return variants, rejects


def number_rows(variants: pl.DataFrame) -> pl.DataFrame:
    """Final variants frame of the contract (row 0..n-1 in input order); keeps `cand` for the caller."""
    if variants.height == 0:
        return empty_variants().with_columns(pl.lit(None, dtype=pl.UInt32).alias("cand"))
    out = variants.with_row_index("row").with_columns(pl.col("row").cast(pl.UInt32))
    return out.select(*[pl.col(c).cast(t) for c, t in VARIANT_SCHEMA.items()], "cand")
