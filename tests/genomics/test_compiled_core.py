"""The compiled core's rules (hcml_core, rust/hcml_core) against independent expectations: the NCBI genetic
codes' documented differences, and VEP's 3' shift checked by a brute-force definition on the real chr21 bases
(an indel's shifted form is the furthest one-base step away that edits the sequence to the same result)."""

from __future__ import annotations

import random

from hcml.genomics.hgvs import shift_indel
from hcml.genomics.transcript_map import translate, translate_to_stop


def test_genetic_codes():
    # NCBI gc.prt: the vertebrate mitochondrial code (2) reads TGA as Trp, AGA / AGG as stops, ATA as Met
    assert translate("TGAAGAAGGATA", 1) == "*RRI"
    assert translate("TGAAGAAGGATA", 2) == "W**M"
    # a codon with N (or any non-ACGT) is X; an incomplete trailing codon is dropped
    assert translate("ATGNNNGCAT") == "MXA"
    assert translate_to_stop("ATGTAAGGG") == "M*"
    assert translate_to_stop("ATGGGG") == "MG"


def _edited(text: str, first: int, start: int, end: int, ref: str, alt: str) -> str:
    """The local sequence after the edit (deletion of start..end, or insertion of alt before start)."""
    if alt == "-":
        return text[: start - first] + text[end - first + 1 :]
    return text[: start - first] + alt + text[start - first :]


def _brute_shift(text, first, start, end, ref, alt, direction, limit):
    """Step one base at a time while the edit gives the same sequence, the base stepped over is inside
    `limit` and is not N."""
    want = _edited(text, first, start, end, ref, alt)
    while True:
        s, e = start + direction, end + direction
        if ref == "-":  # the inserted bases roll by one
            cand = (s, e, "-", alt[1:] + alt[:1] if direction == 1 else alt[-1:] + alt[:-1])
        else:
            cand = (s, e, text[s - first : e - first + 1], "-")
        crossed = e if direction == 1 else s
        if not limit[0] <= crossed <= limit[1] or text[crossed - first] == "N":
            return start, end, ref, alt
        if _edited(text, first, *cand) != want:
            return start, end, ref, alt
        start, end, ref, alt = cand


def test_shift_indel_matches_brute_force(bundle):
    lo, hi = 25600000, 25660000
    text = bundle.fetch("21", lo, hi)
    rng = random.Random(7)
    shifted = 0
    for _ in range(3000):
        p = rng.randint(lo + 100, hi - 100)
        n = rng.choice([1, 1, 2, 3, 4])
        direction = rng.choice([1, -1])
        if rng.random() < 0.5:  # deletion of p..p+n-1
            case = (p, p + n - 1, text[p - lo : p - lo + n], "-")
        else:  # insertion before p of the bases before it (a duplication) or of random bases
            ins = text[p - lo - n : p - lo] if rng.random() < 0.7 else "".join(rng.choice("ACGT") for _ in range(n))
            case = (p, p - 1, "-", ins)
        limit = (lo + 1, hi - 1)
        got = shift_indel(bundle, "21", *case, direction, limit)
        assert got == _brute_shift(text, lo, *case, direction, limit), (case, direction)
        shifted += got != case
    assert shifted > 300  # the sample holds many shiftable indels
