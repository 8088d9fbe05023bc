"""A genomic edit in HGVS terms and its VCF-style form, shared by the variant-string and HGVS c. readers.

`Problem` is the reject both raise (the field it names and why); `edit_to_vcf` checks any sequence the string
states against the genome and adds the anchor base VCF needs for indels.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hcml.genomics.normalise import ALLELE_TOO_LONG, known_contigs, max_allele_length

if TYPE_CHECKING:
    from hcml.genomics.bundle.load import ReferenceBundle

# RefSeq chromosome accessions (GRCh38): NC_000021.9 -> 21
_REFSEQ = re.compile(r"^NC_0000(\d\d)\.\d+$")


@dataclass
class Edit:
    """A genomic edit in HGVS terms (1-based inclusive span on the + strand)."""

    kind: str  # sub | del | ins | delins | dup
    start: int
    end: int
    ref_given: str = ""  # sequence the string states for the replaced/deleted/duplicated bases (+ strand)
    alt: str = ""  # substituted/inserted bases (+ strand)


class Problem(ValueError):
    def __init__(self, field: str, reason: str):
        super().__init__(reason)
        self.field = field
        self.reason = reason


def resolve_contig(bundle: ReferenceBundle, name: str) -> str:
    m = _REFSEQ.match(name)
    candidate = str(int(m.group(1))) if m else name
    chrom = bundle.contig_name(candidate)
    if chrom is None:
        raise Problem("CHROM", f"unknown contig '{name}': the reference bundle has {known_contigs(bundle)}")
    return chrom


def fetch(bundle: ReferenceBundle, chrom: str, start: int, end: int) -> str:
    length = bundle.contigs[chrom]
    if start < 1 or end > length:
        raise Problem("POS", f"position {chrom}:{start}-{end} is outside contig {chrom} (length {length})")
    return bundle.fetch(chrom, start, end).upper()


def edit_to_vcf(bundle: ReferenceBundle, chrom: str, edit: Edit) -> tuple[int, str, str]:
    """VCF-style (pos, ref, alt) of an HGVS edit; checks any sequence the string states against the genome."""
    if edit.end < edit.start:
        raise Problem("POS", f"range {edit.start}_{edit.end} ends before it starts")
    if edit.kind == "ins":
        if edit.end != edit.start + 1:
            raise Problem("POS", f"an insertion must lie between two adjacent bases, got {edit.start}_{edit.end}")
        base = fetch(bundle, chrom, edit.start, edit.start)
        return edit.start, base, base + edit.alt
    if edit.kind in ("del", "dup"):  # normalised: the anchor base + the span; refused before fetching it
        longest, limit = edit.end - edit.start + 2, max_allele_length()
        if longest > limit:
            raise Problem(
                "ALT" if edit.kind == "dup" else "REF",
                ALLELE_TOO_LONG.format(f"{chrom}:g.{edit.start}_{edit.end}{edit.kind}", longest, limit),
            )
    span = fetch(bundle, chrom, edit.start, edit.end)
    if edit.ref_given and edit.ref_given != span:
        raise Problem(
            "REF",
            f"the string states '{edit.ref_given[:50]}' but the reference genome has '{span[:50]}' at {chrom}:{edit.start}-{edit.end}",
        )
    if edit.kind == "sub":
        return edit.start, span, edit.alt
    if edit.kind == "delins":
        return edit.start, span, edit.alt
    if edit.kind == "dup":
        return edit.end, span[-1], span[-1] + span
    # del: keep the base before as anchor
    anchor = fetch(bundle, chrom, edit.start - 1, edit.start - 1)
    return edit.start - 1, anchor + span, anchor
