"""Consequence annotation compatible with Ensembl VEP 115: one row per variant x overlapping transcript
(plus up/downstream within 5 kb), SO terms with VEP's rules and ordering, positions, codons, HGVS.

Design: every (variant, transcript) pair is a row of numpy arrays. Where a variant lies in a transcript
(exon / intron / splice sites / UTR / CDS) is interval arithmetic done for all pairs at once; the codon
and protein effects of substitutions are array lookups into the concatenated coding sequences. Only
insertions, deletions and multi-base substitutions that touch an exon take a per-pair Python path
(they need sequence splicing and 3' shifting for HGVS) -- a minority of rows.

Variants are taken as given (VCF style, `pos`/`ref`/`alt`), reduced like VEP: the first base is removed
when an indel's alleles share it (Location then starts one base later; insertions have start = end + 1).

Modules, in the order a chunk goes through them: `tables` (columns, codon tables, allele reduction),
`pairs` (variant x transcript pairs, coordinate texts), `chunks` (the entry point), `location`, `snv`,
`indels`, `known` (known variants, ClinVar), `summary` (one row per variant).
"""

from hcml.genomics.transcript_map import TranscriptIndex

from .chunks import annotate, with_intergenic_rows
from .known import LOOKUP_FILE, variant_lookup
from .location import _locate
from .pairs import _canonical_text, _fmt_range, _pairs, _rank_text
from .summary import SUMMARY_FROM, summarise
from .tables import (
    _B,
    CHUNK_VARIANTS,
    FLANK,
    FREQ_COLUMNS,
    OUTPUT_COLUMNS,
    _overlap,
    _vep_allele,
    allele_trim,
    vep_alleles,
)

__all__ = [
    "CHUNK_VARIANTS",
    "FLANK",
    "FREQ_COLUMNS",
    "LOOKUP_FILE",
    "OUTPUT_COLUMNS",
    "SUMMARY_FROM",
    "TranscriptIndex",
    "allele_trim",
    "annotate",
    "summarise",
    "variant_lookup",
    "vep_alleles",
    "with_intergenic_rows",
    # used by the structural annotator, the output writers and normalisation (one rule each, not copied)
    "_B",
    "_canonical_text",
    "_fmt_range",
    "_locate",
    "_overlap",
    "_pairs",
    "_rank_text",
    "_vep_allele",
]
