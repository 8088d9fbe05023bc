"""Indels and multi-base substitutions touching an exon: the per-pair path (splicing, 3' shifts for HGVS)."""

from __future__ import annotations

import numpy as np
import polars as pl

from hcml.genomics import hgvs as H
from hcml.genomics.compiled import core
from hcml.genomics.transcript_map import TranscriptIndex, revcomp

from .pairs import _coord_expr, _coord_parts, _coord_strs
from .tables import _B


def _indel_pairs(idx, ks, vi, t, chrom, vs, ve, vref, valt, p, fields, cds5_ok, cds3_ok, shifts) -> None:
    """Coding consequences, Codons, Amino_acids and HGVSp of indels / MNVs on the transcripts whose CDS they
    touch (pairs ks), decided by the compiled core (`hcml_core.indel_pairs`: VEP's VariationEffect.pm
    predicates and HGVS p. rules) in one call; the shifted variants are placed on the CDS for all pairs at
    once here, and the consequence bits scattered back once."""
    vk, tk = vi[ks], t[ks]
    places = _shifted_cds_places(idx, vk, tk, chrom, vs, ve, vref, valt, shifts)
    rows, tx_row = _transcript_rows(idx, tk)
    pairs = zip(
        [tx_row[t_] for t_ in tk.tolist()],
        [vref[v_] for v_ in vk.tolist()],
        [valt[v_] for v_ in vk.tolist()],
        p["c5"][ks].tolist(),
        p["c3"][ks].tolist(),
        (p["c5_ok"][ks] & p["c3_ok"][ks]).tolist(),
        cds5_ok[ks].tolist(),
        cds3_ok[ks].tolist(),
        p["hgvsc_ok"][ks].tolist(),
        places,
    )
    out = core.indel_pairs(_term_bits(), rows, list(pairs))
    for k, (_, codons, amino_acids, hgvsp_set, hgvsp) in zip(ks.tolist(), out):
        if codons is not None:
            fields.set("Codons", k, codons)
            fields.set("Amino_acids", k, amino_acids)
        if hgvsp_set:
            fields.set("HGVSp", k, hgvsp)
    p["bits"][ks] |= np.fromiter((r[0] for r in out), np.int64, len(out))


def _term_bits() -> list[int]:
    return [_B[term] for term in core.INDEL_TERMS]


def _transcript_rows(idx: TranscriptIndex, tk: np.ndarray) -> tuple[list[tuple], dict[int, int]]:
    """The compiled core's per-transcript inputs for the distinct transcripts of tk, and each one's row."""
    rows, tx_row = [], {}
    for t_ in np.unique(tk).tolist():
        tx_row[t_] = len(rows)
        rows.append(
            (
                int(idx.strand[t_]),
                int(idx.cdna_cds_start[t_]),
                bool(idx.start_nf[t_]),
                int(idx.start_phase[t_]),
                int(idx.code[t_]),
                idx.coding_sequence(t_),
                idx.cdna_sequence(t_),
                idx.utr3_sequence(t_),
                idx.ref_protein(t_),
                idx.protein_prefix[t_],
            )
        )
    return rows, tx_row


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
