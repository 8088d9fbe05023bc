"""HGVS nomenclature as Ensembl VEP prints it (release 115): HGVSg, HGVSc, HGVSp.

Indels are shifted to their most 3' position on the reference strand they are described on (the genome's
forward strand for g., the transcript's strand for c./n. and p.), as HGVS requires and VEP does by default.
Insertions that repeat the preceding bases are written `dup`; deletions without the deleted bases
(`c.1876del`), as VEP 115 does. Protein changes use three-letter codes, `Ter` for stops, `=` for
synonymous changes (printed URL-escaped, `%3D`, as VEP does in its tab and VCF output), `fsTer{n}` for
frameshifts and `extTer{n}` for stop-loss extensions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hcml.genomics.compiled import core
from hcml.genomics.transcript_map import THREE_LETTER, translate_to_stop  # noqa: F401  (re-exported)

if TYPE_CHECKING:
    from hcml.genomics.bundle.load import ReferenceBundle

# '=' URL-escaped as VEP prints it, the three-letter codes of a peptide, and the p. description of a protein
# change (`hgvs_protein_change(ref_prot, alt_prot, first_changed_hint=None, frameshift=False)`, None when no
# change can be described) and of a synonymous one (`synonymous(aa, protein_pos)`): the compiled core's
SYNONYMOUS_ESCAPED = core.SYNONYMOUS_ESCAPED
_aa3 = core.aa3
hgvs_protein_change = core.hgvs_protein_change
synonymous = core.synonymous


# ------------------------------------------------------------------------------------------- shifting
def shift_indel(
    bundle: ReferenceBundle,
    chrom: str,
    start: int,
    end: int,
    ref: str,
    alt: str,
    direction: int = 1,
    limit: tuple[int, int] | None = None,
) -> tuple[int, int, str, str]:
    """Roll a VEP-style deletion (alt '-') or insertion (ref '-') along the genome's forward strand
    (direction=1: to higher coordinates, -1: to lower) while the sequence allows; returns the shifted
    (start, end, ref, alt) with forward-strand alleles. Insertions have start = end + 1. `limit` bounds
    the positions the shifted allele may occupy (inclusive). Never rolls over 'N'. The rule runs compiled
    (`hcml_core.shift_indel`) over the bundle's cached contig bases."""
    if (ref == "-") == (alt == "-"):
        return start, end, ref, alt
    bases, first = bundle.sequence_array(chrom)
    return core.shift_indel(bases, first, start, end, ref, alt, direction, limit)


def _seq(bundle: ReferenceBundle, chrom: str, a: int, b: int) -> str:
    bases, first = bundle.sequence_array(chrom)
    if a >= first and b < first + len(bases):
        return bases[a - first : b - first + 1].tobytes().decode("ascii")
    return bundle.fetch(chrom, a, b)


# ------------------------------------------------------------------------------------------------ HGVSg
def hgvs_genomic(
    bundle: ReferenceBundle,
    chrom: str,
    start: int,
    end: int,
    ref: str,
    alt: str,
    shifted: tuple[int, int, str, str] | None = None,
) -> str:
    """`21:g.25585636T>C`, `21:g.25880551del`, `21:g.25698752dup`, `21:g.25585661_25585662insA`.
    `shifted`: the variant's forward-strand `shift_indel` when the caller already has it."""
    if ref != "-" and alt != "-" and len(ref) == 1 and len(alt) == 1:
        return f"{chrom}:g.{start}{ref}>{alt}"
    if shifted is not None:
        start, end, ref, alt = shifted
    elif ref == "-" or alt == "-":
        start, end, ref, alt = shift_indel(bundle, chrom, start, end, ref, alt, 1)
    if alt == "-":
        return f"{chrom}:g.{start}del" if start == end else f"{chrom}:g.{start}_{end}del"
    if ref == "-":
        n = len(alt)
        if end - n + 1 >= 1 and _seq(bundle, chrom, end - n + 1, end) == alt:
            return f"{chrom}:g.{end}dup" if n == 1 else f"{chrom}:g.{end - n + 1}_{end}dup"
        return f"{chrom}:g.{end}_{start}ins{alt}"
    # MNV / delins
    if ref == alt:
        return f"{chrom}:g.{start}_{end}="
    return f"{chrom}:g.{start}_{end}delins{alt}" if start != end else f"{chrom}:g.{start}delins{alt}"


# --------------------------------------------------------------------------------------------- HGVSc
# HGVSc is built in `hcml.genomics.annotate` (vectorised over variant x transcript pairs, one shift per
# variant and strand); coordinates come from `TranscriptIndex`.
