"""Symbolic structural-variant alleles (`<DEL>`, `<DUP>`, `<INS>`, `<INV>`, `<CNV>` and their subtypes) as
Ensembl VEP 115 reads and annotates them.

Reading (ensembl-vep `Parser/VCF.pm` `create_StructuralVariationFeatures`, ensembl-io `BaseVCF4.pm`
`get_start` / `get_end`, `Parser.pm` `get_SO_term`): an SV starts one base after POS (the anchor base);
it ends at INFO END, else at start + |SVLEN| - 1 (the first SVLEN value); CIPOS / CIEND only give VEP's
inner / outer coordinates, which no consequence reads. Its class is the SO term of INFO SVTYPE, else of the
record's ALT list (`<DUP:TANDEM>` -> tandem_duplication, `<DEL:ME:ALU>` -> Alu_deletion, `<CN0>` -> deletion).
VEP skips a deletion whose start is not before its end ("deletion looks incomplete"), an SV longer than
`--max_sv_size` (10,000,000) and a type it has no term for; hcml rejects those records with the reason.

Annotating (ensembl-variation `Utils/VariationEffect.pm`, `Utils/Config.pm`,
`BaseVariationFeatureOverlapAllele.pm`): only the consequences whose `variant_feature_class` is
BaseVariationFeature apply to an SV, gated by the `include` pre-predicates (deletion / decrease_length for
classes with 'deletion', insertion / increase_length for 'insertion' or 'duplication', complete_overlap,
coding, exon, intron, utr) and by tier (a tier-1 term, transcript_ablation / transcript_amplification,
suppresses every other term of the transcript). The SV branches of the predicates: feature_ablation (covers
the transcript, deletion), feature_amplification (covers it, duplication), feature_elongation (inside it,
duplication or insertion), feature_truncation (partly or wholly inside it, deletion), frameshift / inframe_
deletion (a deletion wholly inside one exon, by its length mod 3, inframe also wholly in the CDS),
stop_lost (a deletion over the stop codon), start_lost (over the start codon, both ends in exons),
start_retained_variant (VEP's predicate holds for any length-changing SV over the start codon),
coding_sequence_variant (in the CDS, none of those); the location terms (intron, UTRs, non-coding exon,
NMD, up/downstream within 5 kb) are the sequence variants' own (`annotate._locate`). Output as VEP's
`TranscriptStructuralVariationAllele_to_output_hash`: Allele is the SO class, Location `chr:start-end`,
OverlapBP / OverlapPC the bases and percentage of the transcript covered (only where positive), positions
only where the SV touches exons / the CDS, no HGVS, codons or co-located variants.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from hcml.genomics.annotate.location import _locate, with_intergenic_rows
from hcml.genomics.annotate.pairs import _canonical_text, _fmt_range, _pairs, _rank_text
from hcml.genomics.annotate.tables import _B, FREQ_COLUMNS, OUTPUT_COLUMNS, _overlap
from hcml.genomics.consequences import IMPACT_OF, SEVERITY_RANK, TERMS
from hcml.genomics.transcript_map import TranscriptIndex

if TYPE_CHECKING:
    from hcml.genomics.bundle.load import ReferenceBundle

# the variants frame carries these for symbolic alleles (null for sequence alleles), only when the input has one
SV_COLUMNS: dict[str, pl.DataType] = {"sv_class": pl.Utf8, "sv_end": pl.Int64}
# the annotation frame carries these when the variants frame has SV_COLUMNS
OVERLAP_COLUMNS: dict[str, pl.DataType] = {"OverlapBP": pl.Int64, "OverlapPC": pl.Utf8}
SYMBOLIC_ALT = r"^<.+>$"  # what goes to this module (breakends and '*' stay rejected in normalise)
MAX_SV_SIZE = 10_000_000  # VEP's --max_sv_size default


def max_sv_size() -> int:
    """`HCML_MAX_SV_SIZE` (read at call time), default VEP's 10,000,000 bp."""
    raw = os.environ.get("HCML_MAX_SV_SIZE", "").strip()
    return int(raw) if raw.isdigit() and int(raw) > 0 else MAX_SV_SIZE


# ------------------------------------------------------------------------------------------- reading
_MOBILE_ELEMENTS = ("ALU", "HERV", "LINE1", "SVA")
_SO_TERMS = {
    "INS": "insertion",
    "INS_ME": "mobile_element_insertion",
    "INS_ALU": "Alu_insertion",
    "INS_HERV": "HERV_insertion",
    "INS_LINE1": "LINE1_insertion",
    "INS_SVA": "SVA_insertion",
    "DEL": "deletion",
    "DEL_ME": "mobile_element_deletion",
    "DEL_ALU": "Alu_deletion",
    "DEL_HERV": "HERV_deletion",
    "DEL_LINE1": "LINE1_deletion",
    "DEL_SVA": "SVA_deletion",
    "TDUP": "tandem_duplication",
    "DUP": "duplication",
    "CNV": "copy_number_variation",
    "INV": "inversion",
    "BND": "chromosome_breakpoint",
}
BREAKPOINT = "chromosome_breakpoint"


def so_class(sv_type: str) -> str | None:
    """VEP's `get_SO_term`: the SO class of an SV type (INFO SVTYPE, or the record's ALTs joined by '/')."""
    me = re.search(r"(INS|DEL):(ME):?([A-Z0-9]+)?", sv_type, re.IGNORECASE)
    if me:
        subtype = me.group(2).upper()
        element = me.group(3).upper() if me.group(3) else None
        if element is not None:
            element = "LINE1" if element == "L1" else element
            if element in _MOBILE_ELEMENTS:
                subtype = element
        abbrev = me.group(1).upper() + "_" + subtype
    elif re.search(r"DUP:TANDEM|CNV:TR", sv_type, re.IGNORECASE):
        abbrev = "TDUP"
    elif re.search(r"CNV", sv_type, re.IGNORECASE):
        abbrev = "CNV"
    elif re.search(r"CN=?[0-9]", sv_type, re.IGNORECASE):
        abbrev = (
            "DEL" if re.fullmatch(r"<?CN=?0>?", sv_type) else "DUP" if re.fullmatch(r"<?CN=?2>?", sv_type) else "CNV"
        )
    elif re.search(r"[\[\]]", sv_type):
        abbrev = "BND"
    elif re.search(r"^<|>$", sv_type):
        abbrev = re.sub(r":.+", "", re.sub(r"[<>]", "", sv_type))
    else:
        abbrev = sv_type
    return _SO_TERMS.get(abbrev)


def _info_value(info: pl.Expr, key: str) -> pl.Expr:
    """The value of INFO key `key` ('KEY=value'; a key without a value, or an empty value, is absent)."""
    value = info.str.extract(rf"(?:^|;){key}=([^;=]*)")
    return pl.when(value != "").then(value)


SV_REASON_TYPE = (
    "symbolic ALT '{}': VEP has no SO term for type '{}' (DEL, DUP, INS, INV, CNV and their subtypes are annotated)"
)
SV_REASON_BREAKEND = "symbolic ALT '{}' is a breakend (type '{}'): not supported"
SV_REASON_END = "INFO END '{}' is not an integer"
SV_REASON_SVLEN = "INFO SVLEN '{}' is not an integer"
SV_REASON_EXTENT = "symbolic ALT '{}' needs INFO END or SVLEN to give its end"
SV_REASON_BEFORE = "INFO END {} is before POS {}"
SV_REASON_DELETION = "deletion looks incomplete: END {} must be after POS + 1 ({}), VEP skips it"
SV_REASON_SIZE = "structural variant of {} bp is longer than the maximum {} bp (HCML_MAX_SV_SIZE, VEP's --max_sv_size)"


def structural_fields(frame: pl.DataFrame) -> pl.DataFrame:
    """Add `sv_class`, `sv_end`, `_sv_field`, `_sv_reason` to candidates (`pos`, `alt`, `text` = the VCF
    line): null for sequence alleles; for symbolic ones the class and end, or the field and reason that
    reject the record. INFO and the record's ALT list are read from the line, only for symbolic rows."""
    is_sv = pl.col("alt").str.contains(SYMBOLIC_ALT).fill_null(False)
    fields = pl.col("text").str.split("\t")
    info = pl.when(is_sv).then(fields.list.get(7, null_on_oob=True))
    frame = frame.with_columns(
        _end_raw=_info_value(info, "END"),
        _svlen_raw=_info_value(info, "SVLEN").str.split(",").list.first(),
        _type=pl.when(is_sv).then(
            pl.coalesce(
                _info_value(info, "SVTYPE"),
                fields.list.get(4, null_on_oob=True).str.replace_all(",", "/", literal=True),
                pl.col("alt"),
            )
        ),
    )
    types = frame["_type"].drop_nulls().unique().to_list()
    classes = {t: so_class(t) for t in types}
    frame = frame.with_columns(
        pl.col("_type").replace_strict(classes, default=None, return_dtype=pl.Utf8).alias("sv_class"),
        pl.col("_end_raw").str.strip_chars().cast(pl.Int64, strict=False).alias("_end_int"),
        pl.col("_svlen_raw").str.strip_chars().cast(pl.Int64, strict=False).abs().alias("_svlen_int"),
    )
    start = pl.col("pos") + 1
    end = pl.coalesce(pl.col("_end_int"), start + pl.col("_svlen_int") - 1)
    alt = pl.col("alt").str.slice(0, 50)
    checks = [
        (pl.col("sv_class").is_null(), "ALT", pl.format(SV_REASON_TYPE, alt, pl.col("_type"))),
        (pl.col("sv_class") == BREAKPOINT, "ALT", pl.format(SV_REASON_BREAKEND, alt, pl.col("_type"))),
        (
            pl.col("_end_raw").is_not_null() & pl.col("_end_int").is_null(),
            "INFO",
            pl.format(SV_REASON_END, pl.col("_end_raw").str.slice(0, 40)),
        ),
        (
            pl.col("_end_raw").is_null() & pl.col("_svlen_raw").is_not_null() & pl.col("_svlen_int").is_null(),
            "INFO",
            pl.format(SV_REASON_SVLEN, pl.col("_svlen_raw").str.slice(0, 40)),
        ),
        (pl.col("_end_raw").is_null() & pl.col("_svlen_raw").is_null(), "INFO", pl.format(SV_REASON_EXTENT, alt)),
        (end < pl.col("pos"), "INFO", pl.format(SV_REASON_BEFORE, end, pl.col("pos"))),
        (
            pl.col("sv_class").str.contains("(?i)del") & (start >= end),
            "INFO",
            pl.format(SV_REASON_DELETION, end, start),
        ),
        (end - start + 1 > max_sv_size(), "INFO", pl.format(SV_REASON_SIZE, end - start + 1, pl.lit(max_sv_size()))),
    ]
    field = pl.lit(None, dtype=pl.Utf8)
    reason = pl.lit(None, dtype=pl.Utf8)
    for cond, name, why in reversed(checks):
        cond = is_sv & cond.fill_null(False)
        field = pl.when(cond).then(pl.lit(name)).otherwise(field)
        reason = pl.when(cond).then(why).otherwise(reason)
    return (
        frame.with_columns(
            field.alias("_sv_field"),
            reason.alias("_sv_reason"),
            pl.when(is_sv).then(end).alias("sv_end"),
        )
        .with_columns(
            pl.when(is_sv).then(pl.col("sv_class")).alias("sv_class"),
        )
        .drop("_end_raw", "_svlen_raw", "_type", "_end_int", "_svlen_int")
    )


# ----------------------------------------------------------------------------------------- annotating
def annotate_mixed(variants: pl.DataFrame, bundle: ReferenceBundle, annotate_sequence) -> pl.DataFrame:
    """Annotations of a variants frame with SV_COLUMNS: sequence alleles by `annotate_sequence` (the
    SNV/indel annotator), symbolic ones here; rows in variant order, OVERLAP_COLUMNS added."""
    is_sv = variants["sv_class"].is_not_null()
    seq = variants.filter(~is_sv).drop(*SV_COLUMNS)
    sv = variants.filter(is_sv)
    parts = []
    if seq.height or not sv.height:
        parts.append(
            annotate_sequence(seq, bundle).with_columns(
                *(pl.lit(None, dtype=t).alias(c) for c, t in OVERLAP_COLUMNS.items())
            )
        )
    if sv.height:
        parts.append(annotate_structural(sv, bundle))
    out = pl.concat(parts, how="vertical_relaxed") if len(parts) > 1 else parts[0]
    return out.sort("row", maintain_order=True) if len(parts) > 1 else out


def _classes(sv_class: np.ndarray) -> dict[str, np.ndarray]:
    """VEP's class predicates of each SV (`deletion`, `insertion`, `duplication`, `copy_number_gain` / loss
    and the `_bvf_preds` length flags), from its SO class: worked out once per distinct class."""
    uniq, inv = np.unique(sv_class, return_inverse=True)
    has = lambda pattern, flags=0: np.array([bool(re.search(pattern, c, flags)) for c in uniq], bool)  # noqa: E731
    tandem = has(r"tandem_duplication", re.I)
    duplication = has(r"duplication", re.I) & ~tandem
    gain = duplication | tandem | has(r"gain", re.I)
    loss = has(r"loss", re.I)
    flags = {
        "deletion": has(r"deletion", re.I) | loss,
        "insertion": gain | has(r"insertion", re.I),
        "gain": gain,
        "loss": loss,
        "decrease_length": has(r"deletion"),
        "increase_length": has(r"insertion|duplication"),
    }
    return {k: a[inv] for k, a in flags.items()}


def _rank_range(idx: TranscriptIndex, t: np.ndarray, lo: np.ndarray, hi: np.ndarray):
    """First and last exon and intron (transcript numbering) that genomic lo..hi overlaps, for spans of
    any length (exons sorted by start within a transcript; introns between genomic neighbours)."""
    shift = TranscriptIndex._SHIFT
    ex_end_key = idx.__dict__.get("_ex_end_key")
    if ex_end_key is None:
        ex_end_key = idx.__dict__["_ex_end_key"] = idx.ex_t * shift + idx.ex_end
    first_lo, first_hi = idx.ex_lo[t], idx.ex_hi[t]
    a = np.maximum(np.searchsorted(ex_end_key, t * shift + lo, "left"), first_lo)  # first exon ending >= lo
    b = np.minimum(np.searchsorted(idx.ex_key, t * shift + hi, "right"), first_hi)  # past the last starting <= hi
    ex_ok = a < b
    last = np.maximum(b - 1, 0)
    ra, rb = idx.ex_rank[np.minimum(a, len(idx.ex_rank) - 1)], idx.ex_rank[last]
    # intron k lies right of exon k (genomic order): overlapped when its exon ends before hi and the next starts after lo
    ia = np.maximum(np.searchsorted(idx.ex_key, t * shift + lo, "right") - 1, first_lo)
    ib = np.minimum(np.searchsorted(ex_end_key, t * shift + hi, "left") - 1, first_hi - 2)
    in_ok = ia <= ib
    fwd = idx.strand[t] == 1
    n_ex = idx.n_exons[t]
    intron_rank = lambda k: np.where(fwd, k - first_lo + 1, n_ex - (k - first_lo) - 1)  # noqa: E731
    return (
        np.minimum(ra, rb),
        np.maximum(ra, rb),
        ex_ok,
        np.minimum(intron_rank(ia), intron_rank(ib)),
        np.maximum(intron_rank(ia), intron_rank(ib)),
        in_ok,
    )


_SV_LOCATION_TERMS = (
    "intron_variant",
    "5_prime_UTR_variant",
    "3_prime_UTR_variant",
    "non_coding_transcript_exon_variant",
    "non_coding_transcript_variant",
    "NMD_transcript_variant",
    "upstream_gene_variant",
    "downstream_gene_variant",
)


def annotate_structural(variants: pl.DataFrame, bundle: ReferenceBundle) -> pl.DataFrame:
    """One row per SV x transcript within 5 kb (or one intergenic row), VEP's columns + OVERLAP_COLUMNS."""
    idx = TranscriptIndex.of(bundle)
    names = {c: bundle.contig_name(c) or c for c in variants["chrom"].unique().to_list()}
    v = variants.with_columns(pl.col("chrom").replace(names)).select(
        "row", "variant_id", "chrom", "pos", "ref", "alt", "sv_class", "sv_end"
    )
    n_var = v.height
    chrom = v["chrom"].to_numpy().astype(str)
    vs = v["pos"].to_numpy().astype(np.int64) + 1
    ve = v["sv_end"].to_numpy().astype(np.int64)
    cls = _classes(v["sv_class"].to_numpy().astype(str))
    is_ins = vs > ve

    vi, t = _pairs(chrom, vs, ve, idx)
    p = _locate(idx, vi, t, vs, ve, is_ins)
    keep = p["within"] | p["upstream"] | p["downstream"]
    vi, t = vi[keep], t[keep]
    p = {k: a[keep] for k, a in p.items()}
    s, e = vs[vi], ve[vi]
    lo, hi = np.minimum(s, e), np.maximum(s, e)
    c = {k: a[vi] for k, a in cls.items()}
    ts, te = idx.t_start[t], idx.t_end[t]
    fwd = idx.strand[t] == 1
    within = p["within"]
    complete_overlap = (s <= ts) & (e >= te)
    complete_within = (s >= ts) & (e <= te)
    partial = within & ~complete_overlap & ((e > te) | (s < ts))
    crs, cre = idx.cds_g_start[t], idx.cds_g_end[t]
    coding = within & idx.coding[t] & _overlap(lo, hi, crs, cre) & p["exon_any"]
    # wholly inside one exon (the exon starting at or before the SV start)
    j = np.searchsorted(idx.ex_key, t * TranscriptIndex._SHIFT + s, "right") - 1
    jc = np.clip(j, 0, len(idx.ex_start) - 1)
    one_exon = (j >= idx.ex_lo[t]) & (j < idx.ex_hi[t]) & (idx.ex_start[jc] <= s) & (idx.ex_end[jc] >= e)
    length = e - s + 1
    frameshift = coding & (c["deletion"] | c["loss"]) & one_exon & (length % 3 != 0)
    inframe_deletion = coding & c["deletion"] & one_exon & (s >= crs) & (e <= cre) & (length % 3 == 0)
    stop_codon = np.where(fwd, _overlap(cre - 2, cre, s, e), _overlap(crs, crs + 2, s, e))
    start_codon = np.where(fwd, _overlap(crs, crs + 2, s, e), _overlap(cre - 2, cre, s, e))
    c_lo, c_hi = np.minimum(p["c5"], p["c3"]), np.maximum(p["c5"], p["c3"])
    cds1 = idx.cdna_cds_start[t]
    over_start = ~idx.start_nf[t] & p["c5_ok"] & p["c3_ok"] & (c_hi >= cds1) & (c_lo <= cds1 + 2)
    stop_lost = coding & c["deletion"] & stop_codon
    start_lost = coding & over_start & start_codon
    start_retained = coding & (c["increase_length"] | c["decrease_length"]) & over_start
    cds_variant = coding & p["within_cds"] & ~(inframe_deletion | frameshift)
    ablation = complete_overlap & c["decrease_length"] & c["deletion"]
    amplification = complete_overlap & c["increase_length"] & c["gain"]
    elongation = c["increase_length"] & complete_within & (c["gain"] | c["insertion"])
    truncation = c["decrease_length"] & (partial | complete_within) & (c["loss"] | c["deletion"])

    B = _B
    location = sum(B[x] for x in _SV_LOCATION_TERMS)
    bits = p["bits"] & location
    for mask, term in (
        (frameshift, "frameshift_variant"),
        (inframe_deletion, "inframe_deletion"),
        (stop_lost, "stop_lost"),
        (start_lost, "start_lost"),
        (start_retained, "start_retained_variant"),
        (cds_variant, "coding_sequence_variant"),
        (elongation, "feature_elongation"),
        (truncation, "feature_truncation"),
    ):
        bits = bits | np.where(mask, B[term], 0)
    tier1 = np.where(ablation, B["transcript_ablation"], 0) | np.where(amplification, B["transcript_amplification"], 0)
    bits = np.where(tier1 != 0, tier1, bits)
    bits = np.where(bits == 0, B["sequence_variant"], bits)

    uniq, inv = np.unique(bits, return_inverse=True)
    terms_of = [[tm for tm in TERMS if b & B[tm]] for b in uniq.tolist()]
    top_rank = np.array([SEVERITY_RANK[x[0]] for x in terms_of], np.int64)[inv]
    S = lambda a: pl.Series(a, dtype=pl.Utf8)  # noqa: E731

    # positions: cDNA where the SV touches an exon, CDS / protein where it is coding (VEP's format_coords)
    cds5, cds3 = idx.cds_of_cdna(t, p["c5"]), idx.cds_of_cdna(t, p["c3"])
    cds_len = idx.cdna_cds_end[t] - idx.cdna_cds_start[t] + 1 + idx.start_phase[t]
    cds5_ok = p["c5_ok"] & idx.coding[t] & (cds5 >= 1) & (cds5 <= cds_len)
    cds3_ok = p["c3_ok"] & idx.coding[t] & (cds3 >= 1) & (cds3 <= cds_len)
    ex_lo, ex_hi, ex_ok, in_lo, in_hi, in_ok = _rank_range(idx, t, lo, hi)
    n_ex = idx.n_exons[t]
    # OverlapBP / OverlapPC: bases of the transcript the SV covers, and their share of its length
    overlap_bp = np.minimum(e, te) - np.maximum(s, ts) + 1
    pct = 100.0 * overlap_bp / (te - ts + 1)
    has_bp = overlap_bp > 0
    pc_text = np.char.mod("%.2f", pct[has_bp]) if has_bp.any() else np.array([], str)

    tx = idx.tx
    out = pl.DataFrame(
        {
            "_vi": vi.astype(np.int64),
            "Gene": tx["gene_id"].gather(t),
            "Feature": tx["transcript_id"].gather(t),
            "Feature_type": pl.repeat("Transcript", len(t), dtype=pl.Utf8, eager=True),
            "Consequence": S([",".join(x) for x in terms_of]).gather(inv),
            "IMPACT": S([IMPACT_OF[x[0]] for x in terms_of]).gather(inv),
            "_rank": top_rank,
            "cDNA_position": _fmt_range(p["c5"], p["c5_ok"], p["c3"], p["c3_ok"], p["exon_any"]),
            "CDS_position": _fmt_range(cds5, cds5_ok, cds3, cds3_ok, coding),
            "Protein_position": _fmt_range((cds5 - 1) // 3 + 1, cds5_ok, (cds3 - 1) // 3 + 1, cds3_ok, coding),
            "EXON": _rank_text(ex_lo, ex_hi, n_ex, within & p["exon_any"] & ex_ok),
            "INTRON": _rank_text(in_lo, in_hi, n_ex - 1, within & p["intron_any"] & in_ok),
            "DISTANCE": pl.Series(np.where(p["upstream"] | p["downstream"], p["distance"], -1))
            .replace(-1, None)
            .cast(pl.Int64),
            "STRAND": idx.strand[t].astype(np.int8),
            "FLAGS": tx["flags"].gather(t),
            "SYMBOL": tx["gene_symbol"].gather(t),
            "BIOTYPE": tx["biotype"].gather(t),
            "CANONICAL": _canonical_text(idx).gather(t),
            "OverlapBP": pl.Series(np.where(has_bp, overlap_bp, -1)).replace(-1, None).cast(pl.Int64),
            "OverlapPC": pl.repeat(None, len(t), dtype=pl.Utf8, eager=True).scatter(
                np.flatnonzero(has_bp), S(pc_text.tolist())
            ),
        },
        strict=False,
    )
    out, inter_rank = with_intergenic_rows(out, vi, n_var)
    best = np.full(n_var, inter_rank, np.int64)
    np.minimum.at(best, vi, top_rank)
    start = pl.col("pos") + 1
    per_variant = v.with_columns(
        Uploaded_variation=pl.col("variant_id"),
        # VEP's format_coords of start..end (an insertion, end = start - 1, prints end-start)
        Location=pl.when(start == pl.col("sv_end"))
        .then(pl.format("{}:{}", "chrom", start))
        .when(start > pl.col("sv_end"))
        .then(pl.format("{}:{}-{}", "chrom", "sv_end", start))
        .otherwise(pl.format("{}:{}-{}", "chrom", start, "sv_end")),
        Allele=pl.col("sv_class"),
        most_severe_consequence=pl.Series([TERMS[b] for b in best.tolist()], dtype=pl.Utf8),
    )
    out = pl.concat([out, per_variant[out["_vi"].to_numpy()]], how="horizontal")
    schema = {
        **{c: pl.Utf8 for c in OUTPUT_COLUMNS},
        "row": v.schema["row"],
        "pos": pl.Int64,
        "DISTANCE": pl.Int64,
        "STRAND": pl.Int8,
        **{c: pl.Float64 for c in FREQ_COLUMNS},
        **OVERLAP_COLUMNS,
    }
    return out.select((pl.col(c) if c in out.columns else pl.lit(None)).cast(dt).alias(c) for c, dt in schema.items())
