"""Indels and multi-base substitutions touching an exon: the per-pair path (splicing, 3' shifts for HGVS)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import polars as pl

from hcml.genomics import hgvs as H
from hcml.genomics.transcript_map import TranscriptIndex, revcomp, translate

from .pairs import _coord_expr, _coord_parts, _coord_strs
from .tables import _B, allele_trim


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
