"""Sequence Ontology consequence terms as Ensembl VEP ranks them (release 115), with their IMPACT.

`SEVERITY_RANK[term]` is 0 for the most severe term; VEP prints a row's terms in this order and picks the
most severe consequence of a variant by the lowest rank.
"""

from __future__ import annotations

_ORDERED: list[tuple[str, str]] = [
    ("transcript_ablation", "HIGH"),
    ("splice_acceptor_variant", "HIGH"),
    ("splice_donor_variant", "HIGH"),
    ("stop_gained", "HIGH"),
    ("frameshift_variant", "HIGH"),
    ("stop_lost", "HIGH"),
    ("start_lost", "HIGH"),
    ("transcript_amplification", "HIGH"),
    ("feature_elongation", "HIGH"),
    ("feature_truncation", "HIGH"),
    ("inframe_insertion", "MODERATE"),
    ("inframe_deletion", "MODERATE"),
    ("missense_variant", "MODERATE"),
    ("protein_altering_variant", "MODERATE"),
    ("splice_region_variant", "LOW"),
    ("splice_donor_5th_base_variant", "LOW"),
    ("splice_donor_region_variant", "LOW"),
    ("splice_polypyrimidine_tract_variant", "LOW"),
    ("incomplete_terminal_codon_variant", "LOW"),
    ("start_retained_variant", "LOW"),
    ("stop_retained_variant", "LOW"),
    ("synonymous_variant", "LOW"),
    ("coding_sequence_variant", "MODIFIER"),
    ("mature_miRNA_variant", "MODIFIER"),
    ("5_prime_UTR_variant", "MODIFIER"),
    ("3_prime_UTR_variant", "MODIFIER"),
    ("non_coding_transcript_exon_variant", "MODIFIER"),
    ("intron_variant", "MODIFIER"),
    ("NMD_transcript_variant", "MODIFIER"),
    ("non_coding_transcript_variant", "MODIFIER"),
    ("coding_transcript_variant", "MODIFIER"),
    ("upstream_gene_variant", "MODIFIER"),
    ("downstream_gene_variant", "MODIFIER"),
    ("TFBS_ablation", "MODIFIER"),
    ("TFBS_amplification", "MODIFIER"),
    ("TF_binding_site_variant", "MODIFIER"),
    ("regulatory_region_ablation", "MODIFIER"),
    ("regulatory_region_amplification", "MODIFIER"),
    ("regulatory_region_variant", "MODIFIER"),
    ("intergenic_variant", "MODIFIER"),
    ("sequence_variant", "MODIFIER"),
]

TERMS: list[str] = [t for t, _ in _ORDERED]
SEVERITY_RANK: dict[str, int] = {t: i for i, t in enumerate(TERMS)}
IMPACT_OF: dict[str, str] = dict(_ORDERED)
IMPACT_RANK: dict[str, int] = {"HIGH": 0, "MODERATE": 1, "LOW": 2, "MODIFIER": 3}


def order_terms(terms) -> list[str]:
    """Deduplicate and sort terms in VEP's print order (most severe first)."""
    return sorted(set(terms), key=SEVERITY_RANK.__getitem__)


def impact(terms) -> str:
    """IMPACT of a set of terms: that of the most severe."""
    return IMPACT_OF[min(terms, key=SEVERITY_RANK.__getitem__)]
