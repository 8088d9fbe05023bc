"""Where each variant lies in each transcript (exon, intron, splice, UTR, CDS, flanks), all pairs at once."""

from __future__ import annotations

import numpy as np
import polars as pl

from hcml.genomics.consequences import SEVERITY_RANK
from hcml.genomics.transcript_map import TranscriptIndex

from .tables import _B, FLANK, _overlap

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
