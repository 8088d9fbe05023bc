"""SO term ranking and impacts against Ensembl VEP 115's own output (the order it prints terms in)."""

from __future__ import annotations

import polars as pl

from hcml.genomics.compare import read_vep_tab
from hcml.genomics.consequences import IMPACT_OF, SEVERITY_RANK, order_terms


def test_vep_prints_terms_in_our_rank_order(data_root):
    vep = read_vep_tab(data_root / "truth" / "saturation.vep115.tsv.gz")
    combos = vep.select("Consequence", "IMPACT").unique()
    assert combos.height > 50
    for csq, imp in combos.iter_rows():
        terms = csq.split(",")
        assert all(t in SEVERITY_RANK for t in terms), csq
        assert order_terms(terms) == terms, csq
        assert IMPACT_OF[terms[0]] == imp, csq


def test_rank_extremes():
    assert SEVERITY_RANK["transcript_ablation"] == 0
    assert SEVERITY_RANK["splice_acceptor_variant"] < SEVERITY_RANK["stop_gained"] < SEVERITY_RANK["missense_variant"]
    assert SEVERITY_RANK["intergenic_variant"] > SEVERITY_RANK["downstream_gene_variant"]
    assert IMPACT_OF["splice_donor_5th_base_variant"] == "LOW" and IMPACT_OF["intron_variant"] == "MODIFIER"
    assert pl.Series(list(SEVERITY_RANK.values())).is_unique().all()
