"""HGVS nomenclature as Ensembl VEP prints it (release 115): HGVSg, HGVSc, HGVSp.

Indels are shifted to their most 3' position on the reference strand they are described on (the genome's
forward strand for g., the transcript's strand for c./n. and p.), as HGVS requires and VEP does by default.
Insertions that repeat the preceding bases are written `dup`; deletions without the deleted bases
(`c.1876del`), as VEP 115 does. Protein changes use three-letter codes, `Ter` for stops, `=` for
synonymous changes (printed URL-escaped, `%3D`, as VEP does in its tab and VCF output), `fsTer{n}` for
frameshifts and `extTer{n}` for stop-loss extensions.
"""

from __future__ import annotations

from hcml.genomics.compiled import core
from hcml.genomics.transcript_map import THREE_LETTER, translate_to_stop  # noqa: F401  (re-exported)

SYNONYMOUS_ESCAPED = "%3D"


_AA3_TABLE = {i: THREE_LETTER.get(chr(i), "Xaa") for i in range(128)}


def _aa3(seq: str) -> str:
    if seq.isascii():
        return seq.translate(_AA3_TABLE)
    return "".join(THREE_LETTER.get(a, "Xaa") for a in seq)


# ------------------------------------------------------------------------------------------- shifting
def shift_indel(
    bundle,
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


def _seq(bundle, chrom: str, a: int, b: int) -> str:
    bases, first = bundle.sequence_array(chrom)
    if a >= first and b < first + len(bases):
        return bases[a - first : b - first + 1].tobytes().decode("ascii")
    return bundle.fetch(chrom, a, b)


# ------------------------------------------------------------------------------------------------ HGVSg
def hgvs_genomic(
    bundle, chrom: str, start: int, end: int, ref: str, alt: str, shifted: tuple[int, int, str, str] | None = None
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


# ---------------------------------------------------------------------------------------------- HGVSp
def hgvs_protein_change(
    ref_prot: str, alt_prot: str, first_changed_hint: int | None = None, frameshift: bool = False
) -> str | None:
    """p. description (without prefix) of the change from ref_prot to alt_prot, both translated from the
    start codon; alt_prot is translated through the 3' UTR (for frameshifts / stop loss) and both end at
    their first stop ('*' kept). Returns None when no change can be described."""
    if not ref_prot:
        return None
    if ref_prot == alt_prot:
        return None
    if alt_prot[:1] != ref_prot[:1] and ref_prot[:1] == "M":
        return "p.Met1?"
    # first differing position
    n = min(len(ref_prot), len(alt_prot))
    i = min(first_changed_hint or 0, n)
    while i < n and ref_prot[i] == alt_prot[i]:
        i += 1
    if frameshift:
        if i >= len(ref_prot):
            return None
        ref_aa = ref_prot[i]
        if i >= len(alt_prot):
            # the alt protein is a prefix of the reference (a CDS without a stop, cds_end_NF): deletion
            lost = ref_prot[i:]
            if len(lost) == 1:
                return f"p.{_aa3(lost)}{i + 1}del"
            return f"p.{_aa3(lost[0])}{i + 1}_{_aa3(lost[-1])}{len(ref_prot)}del"
        alt_aa = alt_prot[i]
        stop = alt_prot.find("*", i)
        if alt_aa == "*":
            return f"p.{_aa3(ref_aa)}{i + 1}Ter"
        ter = f"Ter{stop - i + 1}" if stop >= 0 else "Ter?"
        return f"p.{_aa3(ref_aa)}{i + 1}{_aa3(alt_aa)}fs{ter}"
    # stop lost: extension
    if i < len(ref_prot) and ref_prot[i] == "*" and i < len(alt_prot) and alt_prot[i] != "*" and i == len(ref_prot) - 1:
        stop = alt_prot.find("*", i)
        ext = f"Ter{stop - i}" if stop >= 0 else "Ter?"
        return f"p.Ter{i + 1}{_aa3(alt_prot[i])}ext{ext}"
    if i < len(alt_prot) and alt_prot[i] == "*" and i < len(ref_prot):
        return f"p.{_aa3(ref_prot[i])}{i + 1}Ter"
    # trim common suffix (after the change)
    rr, aa = ref_prot[i:], alt_prot[i:]
    # cut both at their first stop (inclusive)
    if "*" in aa:
        aa = aa[: aa.index("*") + 1]
    j = 0
    while j < min(len(rr), len(aa)) and rr[-1 - j] == aa[-1 - j]:
        j += 1
    r_chg, a_chg = rr[: len(rr) - j], aa[: len(aa) - j]
    start = i + 1
    if not r_chg and not a_chg:
        return None
    if len(r_chg) == 1 and len(a_chg) == 1:
        if a_chg == "*":
            return f"p.{_aa3(r_chg)}{start}Ter"
        return f"p.{_aa3(r_chg)}{start}{_aa3(a_chg)}"
    if not a_chg:  # deletion
        if len(r_chg) == 1:
            return f"p.{_aa3(r_chg)}{start}del"
        return f"p.{_aa3(r_chg[0])}{start}_{_aa3(r_chg[-1])}{start + len(r_chg) - 1}del"
    if not r_chg:  # insertion between i and i+1 (1-based: i, i+1)
        before = ref_prot[:i]
        n_ins = len(a_chg)
        if i - n_ins >= 0 and before[len(before) - n_ins :] == a_chg:
            if n_ins == 1:
                return f"p.{_aa3(a_chg)}{i}dup"
            return f"p.{_aa3(a_chg[0])}{i - n_ins + 1}_{_aa3(a_chg[-1])}{i}dup"
        if i == 0 or i >= len(ref_prot):
            return None
        return f"p.{_aa3(ref_prot[i - 1])}{i}_{_aa3(ref_prot[i])}{i + 1}ins{_aa3(a_chg)}"
    # delins
    if len(r_chg) == 1:
        return f"p.{_aa3(r_chg)}{start}delins{_aa3(a_chg)}"
    return f"p.{_aa3(r_chg[0])}{start}_{_aa3(r_chg[-1])}{start + len(r_chg) - 1}delins{_aa3(a_chg)}"


def synonymous(aa: str, protein_pos: int) -> str:
    return f"p.{_aa3(aa)}{protein_pos}{SYNONYMOUS_ESCAPED}"
