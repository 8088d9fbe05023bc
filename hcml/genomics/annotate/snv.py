"""Codon and protein effects of substitutions in the CDS, as lookups into the concatenated coding sequences."""

from __future__ import annotations

import numpy as np
import polars as pl

from hcml.genomics import hgvs as H

from .tables import (
    _AA_TABLES,
    _B,
    _BASE_CODE,
    _CODON_CASE,
    _CODON_CASE_LIST,
    _COMP,
    _LETTERS,
    _THREE_LIST,
    _THREE_S,
    _coding_seqs,
    _Cols,
)


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
