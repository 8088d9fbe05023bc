"""HGVS c./n. notation on a transcript of the bundle -> a genomic VCF-style candidate.

`ENST00000346798.7:c.2149G>A`, with or without version (or `ENST...(APP):c.`), CDS, 5'/3' UTR (`-12`, `*34`)
and intronic (`123+5`, `124-2`) positions; substitutions, del, ins, dup, delins.  Coordinates go through
the transcript coordinate model of the annotator (`hcml.genomics.transcript_map.TranscriptIndex`), so input
and output HGVS share one mapping.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from hcml.genomics.genomic_edits import Edit, Problem, edit_to_vcf
from hcml.genomics.transcript_map import TranscriptIndex, parse_hgvs_position, revcomp

if TYPE_CHECKING:
    from hcml.genomics.bundle.load import ReferenceBundle

_POS = r"\*?-?\d+(?:[+-]\d+)?"
_HGVS_C = re.compile(
    rf"^(?P<tx>[A-Za-z0-9_]+?)(?:\.(?P<ver>\d+))?(?:\([^)]*\))?:(?P<kind>[cn])\.(?P<start>{_POS})(?:_(?P<end>{_POS}))?"
    r"(?:(?P<sub_ref>[ACGTacgt])>(?P<sub_alt>[ACGTacgt])"
    r"|delins(?P<delins>[ACGTacgt]+)"
    r"|del(?P<del>[ACGTacgt]*)"
    r"|ins(?P<ins>[ACGTacgt]+)"
    r"|dup(?P<dup>[ACGTacgt]*))$"
)


def hgvs_c_to_vcf(text: str, bundle: ReferenceBundle) -> tuple[str, int, str, str]:
    """(chrom, pos, ref, alt) for an HGVS c./n. string; raises Problem with a precise reason."""
    m = _HGVS_C.match(text.strip())
    if not m:
        raise Problem(
            "hgvs",
            f"malformed HGVS '{text.strip()[:80]}' (expected e.g. ENST00000346798.7:c.2149G>A, c.100+5del, "
            "c.-12_-10dup, c.*34_*35insTT, c.100_102delinsAG)",
        )
    idx = TranscriptIndex.of(bundle)
    tx, ver = m["tx"], m["ver"]
    try:
        t = idx.index(f"{tx}.{ver}" if ver else tx)
    except KeyError:
        have = idx.tx.filter(idx.tx["transcript_id"] == tx)
        if have.height and ver:
            held = have["transcript_version"][0]
            which = f"it has version {held}" if held is not None else f"its gene model gives no version: write {tx}"
            raise Problem("hgvs", f"transcript {tx}.{ver} is not in the reference bundle ({which})") from None
        raise Problem(
            "hgvs", f"unknown transcript '{tx}{'.' + ver if ver else ''}': not in the reference bundle"
        ) from None
    tid = idx.ids[t]
    kind = m["kind"]
    try:
        a = idx.to_genomic(tid, parse_hgvs_position(m["start"]), kind=kind)
        b = idx.to_genomic(tid, parse_hgvs_position(m["end"]), kind=kind) if m["end"] else a
    except ValueError as exc:
        raise Problem("hgvs", f"{text.strip()[:80]}: {exc}") from None
    strand = int(idx.strand[t])
    lo, hi = min(a, b), max(a, b)
    if strand == 1 and m["end"] and b < a or strand == -1 and m["end"] and b > a:
        raise Problem("hgvs", f"range {m['start']}_{m['end']} ends before it starts on {tid}")
    on_genome = (lambda s: s.upper()) if strand == 1 else (lambda s: revcomp(s.upper()))
    if m["sub_ref"]:
        if m["end"]:
            raise Problem("hgvs", "a substitution covers one base: use delins for a range")
        edit = Edit("sub", lo, hi, on_genome(m["sub_ref"]), on_genome(m["sub_alt"]))
    elif m["delins"] is not None:
        edit = Edit("delins", lo, hi, "", on_genome(m["delins"]))
    elif m["ins"] is not None:
        edit = Edit("ins", lo, hi, "", on_genome(m["ins"]))
    elif m["dup"] is not None:
        edit = Edit("dup", lo, hi, on_genome(m["dup"]))
    else:
        edit = Edit("del", lo, hi, on_genome(m["del"]))
    chrom = idx.tx["chrom"][t]
    pos, ref, alt = edit_to_vcf(bundle, chrom, edit)
    return chrom, pos, ref, alt
