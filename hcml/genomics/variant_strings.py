"""Variant strings: `21-25891796-C-T`, `chr21:25891796:C:T`, HGVS g. on a contig, HGVS c. on a transcript.

Each string becomes one VCF-style candidate (pos, ref, alt with an anchor base for indels) or one reject
naming the problem.  Inputs of this kind are small (a clinician's list), so a Python loop is fine here;
the VCF reader is the vectorised path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import polars as pl

from hcml.genomics.errors import MAX_POSITION, rejects_frame
from hcml.genomics.normalise import ALLELE_TOO_LONG, CANDIDATE_SCHEMA, known_contigs, max_allele_length

# chrom-pos-ref-alt with '-', ':' or whitespace separators (gnomAD, UCSC-ish, VCF-ish)
_SIMPLE = re.compile(
    r"^(?P<chrom>[A-Za-z0-9_.]+)[-:\s]+(?P<pos>\d+)[-:\s]+(?P<ref>[A-Za-z]+|-)[-:\s>/]+(?P<alt>[A-Za-z]+|-)$"
)
# HGVS g.: substitution, del, ins, delins, dup (with optional given sequences)
_HGVS_G = re.compile(
    r"^(?P<chrom>[A-Za-z0-9_.]+):g\.(?P<start>\d+)(?:_(?P<end>\d+))?"
    r"(?:(?P<sub_ref>[ACGTacgt])>(?P<sub_alt>[ACGTacgt])"
    r"|delins(?P<delins>[ACGTacgt]+)"
    r"|del(?P<del>[ACGTacgt]*)"
    r"|ins(?P<ins>[ACGTacgt]+)"
    r"|dup(?P<dup>[ACGTacgt]*))$"
)
# RefSeq chromosome accessions (GRCh38): NC_000021.9 -> 21
_REFSEQ = re.compile(r"^NC_0000(\d\d)\.\d+$")
_HGVS_C_HINT = re.compile(r"^[A-Za-z0-9_.]+:[cnr]\.")


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


def resolve_contig(bundle, name: str) -> str:
    m = _REFSEQ.match(name)
    candidate = str(int(m.group(1))) if m else name
    chrom = bundle.contig_name(candidate)
    if chrom is None:
        raise Problem("CHROM", f"unknown contig '{name}': the reference bundle has {known_contigs(bundle)}")
    return chrom


def fetch(bundle, chrom: str, start: int, end: int) -> str:
    length = bundle.contigs[chrom]
    if start < 1 or end > length:
        raise Problem("POS", f"position {chrom}:{start}-{end} is outside contig {chrom} (length {length})")
    return bundle.fetch(chrom, start, end).upper()


def edit_to_vcf(bundle, chrom: str, edit: Edit) -> tuple[int, str, str]:
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


def parse_g(match: re.Match) -> Edit:
    start = int(match["start"])
    end = int(match["end"]) if match["end"] else start
    up = lambda s: (s or "").upper()  # noqa: E731
    if match["sub_ref"]:
        if match["end"]:
            raise Problem("hgvs", "a substitution covers one base: use delins for a range")
        return Edit("sub", start, end, up(match["sub_ref"]), up(match["sub_alt"]))
    if match["delins"] is not None:
        return Edit("delins", start, end, "", up(match["delins"]))
    if match["ins"] is not None:
        return Edit("ins", start, end, "", up(match["ins"]))
    if match["dup"] is not None:
        return Edit("dup", start, end, up(match["dup"]))
    return Edit("del", start, end, up(match["del"]))


def one_candidate(text: str, bundle) -> tuple[str, int, str, str]:
    """(chrom as given, pos, ref, alt) of one string, or raise Problem."""
    s = text.strip()
    if _HGVS_C_HINT.match(s):
        from hcml.genomics.hgvs_input import hgvs_c_to_vcf

        return hgvs_c_to_vcf(s, bundle)
    m = _HGVS_G.match(s)
    if m:
        chrom = resolve_contig(bundle, m["chrom"])
        pos, ref, alt = edit_to_vcf(bundle, chrom, parse_g(m))
        return chrom, pos, ref, alt
    if ":g." in s:
        raise Problem(
            "hgvs",
            f"malformed HGVS g. notation '{s[:80]}' (expected e.g. 21:g.25891796C>T, 21:g.100_102del, 21:g.100_101insTT, 21:g.100dup, 21:g.100_101delinsGA)",
        )
    m = _SIMPLE.match(s)
    if m:
        ref = "" if m["ref"] == "-" else m["ref"].upper()
        alt = "" if m["alt"] == "-" else m["alt"].upper()
        pos = int(m["pos"])
        if pos > MAX_POSITION:  # would not fit the frames' 64-bit positions: say so here, not as a crash
            longest = max(bundle.contigs.values(), default=0)
            raise Problem(
                "POS",
                f"position {m['pos'][:30]} is past the end of every contig of the reference "
                f"bundle (the longest is {longest} bp)",
            )
        if not ref or not alt:  # Ensembl-style '-' allele: add the anchor base before
            chrom = resolve_contig(bundle, m["chrom"])
            anchor = fetch(bundle, chrom, pos - 1, pos - 1)
            pos, ref, alt = pos - 1, anchor + ref, anchor + alt
        return m["chrom"], pos, ref, alt
    raise Problem(
        "variant",
        f"cannot parse '{s[:80]}': expected CHROM-POS-REF-ALT (21-25891796-C-T), CHROM:POS:REF:ALT, "
        "HGVS g. (21:g.25891796C>T) or HGVS c. on a transcript (ENST00000346798.7:c.2149G>A)",
    )


def candidate_rows(items: list[str], bundle) -> tuple[list[dict], list[dict]]:
    """One CANDIDATE_SCHEMA dict per string that parses, one REJECT_SCHEMA dict (text not yet cut) per string
    that does not; both forms (`variant_candidates` and the row-by-row twin) start from these."""
    rows, bad = [], []
    for i, text in enumerate(items):
        try:
            chrom_in, pos, ref, alt = one_candidate(text, bundle)
        except Problem as p:
            bad.append(
                {"line": i + 1, "variant_id": text.strip()[:200], "field": p.field, "reason": p.reason, "text": text}
            )
            continue
        rows.append(
            {
                "cand": i,
                "line": i + 1,
                "variant_id": text.strip(),
                "chrom_in": chrom_in,
                "pos": pos,
                "ref": ref,
                "alt": alt,
                "text": text,
            }
        )
    return rows, bad


def candidate_frames(rows: list[dict], bad: list[dict]) -> tuple[pl.DataFrame, pl.DataFrame]:
    return pl.DataFrame(rows, schema=CANDIDATE_SCHEMA), rejects_frame(bad)


def variant_candidates(items: list[str], bundle) -> tuple[pl.DataFrame, pl.DataFrame]:
    return candidate_frames(*candidate_rows(items, bundle))
