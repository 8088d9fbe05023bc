"""The entry point: a variants frame (or a few variants' row-by-row twin) annotated a chunk at a time."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from hcml.genomics import hgvs as H
from hcml.genomics.consequences import IMPACT_OF, SEVERITY_RANK, TERMS
from hcml.genomics.transcript_map import TranscriptIndex
from hcml.small_inputs import use_small_path

from .indels import _indel_hgvsc, _indel_pairs
from .known import _join_known, variant_lookup
from .location import _locate, with_intergenic_rows
from .pairs import (
    _canonical_text,
    _coord_expr,
    _coord_parts,
    _coord_strs,
    _fmt_range,
    _fmt_range_list,
    _pairs,
    _rank_tables,
    _rank_text,
    _rank_text_list,
)
from .snv import _snv_coding
from .tables import _B, _COMP, _LETTERS, CHUNK_VARIANTS, OUTPUT_COLUMNS, _Cols, _ListCols, _vep_allele, vep_alleles

if TYPE_CHECKING:
    from hcml.genomics.bundle.load import ReferenceBundle


def annotate(variants: pl.DataFrame, bundle: ReferenceBundle) -> pl.DataFrame:
    """Annotate a variants frame (see docs/CONTRACTS.md: row, variant_id, chrom, pos, ref, alt) against
    the bundle. Returns one row per variant x feature with VEP's columns."""
    idx = TranscriptIndex.of(bundle)
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
    def of(cls, variants: pl.DataFrame, bundle: ReferenceBundle) -> _SmallVariants:
        cols = {c: variants.get_column(c).to_list() for c in cls.COLUMNS}
        names: dict[str, str] = {}
        for c in cols["chrom"]:  # 'chr21' -> the bundle's '21'
            if c not in names:
                names[c] = bundle.contig_name(c) or c
        cols["chrom"] = [names[c] for c in cols["chrom"]]
        return cls(cols, {c: variants.get_column(c).dtype for c in cls.COLUMNS})

    def slice(self, start: int, length: int) -> _SmallVariants:
        return _SmallVariants({c: x[start : start + length] for c, x in self.cols.items()}, self.schema)


def _annotate_chunk(
    variants: pl.DataFrame | _SmallVariants, bundle: ReferenceBundle, idx: TranscriptIndex
) -> pl.DataFrame:
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
    bundle: ReferenceBundle,
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


def _hgvs_g(bundle: ReferenceBundle, v: pl.DataFrame, chrom, vs, ve, vref_a, valt_a, is_snv, shifts) -> pl.Series:
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
