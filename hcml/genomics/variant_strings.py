"""Variant strings: `21-25891796-C-T`, `chr21:25891796:C:T`, HGVS g. on a contig, HGVS c. on a transcript.

Each string becomes one VCF-style candidate (pos, ref, alt with an anchor base for indels) or one reject
naming the problem.  Inputs of this kind are small (a clinician's list), so a Python loop is fine here;
the VCF reader is the vectorised path.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import polars as pl

from hcml.genomics.errors import MAX_POSITION, rejects_frame
from hcml.genomics.genomic_edits import Edit, Problem, edit_to_vcf, fetch, resolve_contig
from hcml.genomics.hgvs_input import hgvs_c_to_vcf
from hcml.genomics.normalise import CANDIDATE_SCHEMA

if TYPE_CHECKING:
    from hcml.genomics.bundle.load import ReferenceBundle

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
_HGVS_C_HINT = re.compile(r"^[A-Za-z0-9_.]+:[cnr]\.")


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


def one_candidate(text: str, bundle: ReferenceBundle) -> tuple[str, int, str, str]:
    """(chrom as given, pos, ref, alt) of one string, or raise Problem."""
    s = text.strip()
    if _HGVS_C_HINT.match(s):
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


def candidate_rows(items: list[str], bundle: ReferenceBundle) -> tuple[list[dict], list[dict]]:
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


def variant_candidates(items: list[str], bundle: ReferenceBundle) -> tuple[pl.DataFrame, pl.DataFrame]:
    return candidate_frames(*candidate_rows(items, bundle))
