"""Protein and constraint features: the same features from ClinVar's RefSeq protein and from the bundle's own
translation, the reference-residue check, and values recomputed by hand from the sequence."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from hcml.ml.features import SEQUENCE_FEATURES, VARIANT_FEATURES, features_from_hgvs, features_from_summary
from hcml.ml.proteins import PROTEIN_FEATURES, bundle_proteins, constraint_table, refseq_proteins

BUNDLE_GENES = ("APP", "MRPL39", "JAM2", "ATP5J", "GABPA")  # ATP5PF is ATP5J in Ensembl 84


@pytest.fixture(scope="module")
def saturation(bundle, data_root):
    from hcml.genomics.annotate import annotate, summarise
    from hcml.genomics.inputs import read_vcf

    return summarise(annotate(read_vcf(data_root / "truth" / "saturation.vcf.gz", bundle).variants, bundle))


def _refseq_counterparts(data_root) -> dict[str, set[str]]:
    """Gene -> the RefSeq protein accessions its ClinVar rows name (an independent source of the pairing)."""
    raw = pl.read_csv(data_root / "clinvar" / "clinvar_2016-05-20.lifted_GRCh38.tsv.gz", separator="\t",
                      infer_schema_length=0).filter(pl.col("symbol").is_in(list(BUNDLE_GENES)))
    acc = raw.select("symbol", pl.col("hgvs_p").str.extract(r"^([^:.]+)").alias("acc")).drop_nulls()
    return {g: set(acc.filter(pl.col("symbol") == g)["acc"].to_list()) for g in BUNDLE_GENES}


def test_the_two_paths_agree_on_every_bundle_protein_with_a_refseq_counterpart(bundle, saturation, data_root):
    """For each bundle gene whose RefSeq protein (named by ClinVar) equals the bundle's translation, every
    missense variant of the saturation set gets the same features from ClinVar-style HGVS + RefSeq protein as
    from the annotator's HGVS + bundle translation."""
    refseq = refseq_proteins()
    canonical = saturation.filter(pl.col("canonical") & pl.col("hgvsp").str.contains(":p.")
                                  & (pl.col("most_severe_consequence") == "missense_variant"))
    proteins = bundle_proteins(bundle, canonical)
    compared_genes = {}
    for gene, accessions in _refseq_counterparts(data_root).items():
        rows = canonical.filter(pl.col("gene_symbol") == gene)
        if rows.height == 0:
            continue
        ensp = rows["hgvsp"][0].split(":")[0].split(".")[0]
        for acc in accessions:
            if refseq.get(acc) == proteins.get(ensp):
                clinvar_style = rows.select(
                    pl.col("hgvsc").str.replace(r"^[^:]*:", "NM_X:").alias("hgvs_c"),
                    pl.col("hgvsp").str.replace(r"^[^:]*:", f"{acc}.1:").alias("hgvs_p"),
                    pl.col("gene_symbol").alias("symbol"))
                a = features_from_hgvs(clinvar_style)
                b = features_from_summary(rows, proteins)
                cols = ["consequence_class", "ref_aa", "alt_aa", "protein_position", *VARIANT_FEATURES, *SEQUENCE_FEATURES]
                assert a.select(cols).equals(b.select(cols)), gene
                assert a["log_protein_length"].is_not_nan().all()
                compared_genes[gene] = rows.height
    # APP (NP_000475 = ENSP00000284981's APP770) is the one pair this data has: the other four genes have no
    # ClinVar 2016 row naming a RefSeq protein in the shipped set
    assert set(compared_genes) == {"APP"} and compared_genes["APP"] > 1000, compared_genes
    assert all(proteins.get(r["hgvsp"].split(":")[0].split(".")[0]) for r in canonical.iter_rows(named=True))


def test_a_sequence_is_used_only_where_the_reference_residue_agrees():
    seq = refseq_proteins()["NP_000475"]
    assert seq[716] == "V"  # APP770 Val717 (the London mutation site)
    f = features_from_hgvs(pl.DataFrame({"hgvs_c": ["c.2149G>A"] * 3, "symbol": ["APP"] * 3,
                                         "hgvs_p": ["NP_000475.1:p.Val717Ile", "NP_000475.1:p.Ala717Ile",
                                                    "NP_999999.1:p.Val717Ile"]}))
    assert not math.isnan(f["log_protein_length"][0])
    assert all(math.isnan(f[c][i]) for c in PROTEIN_FEATURES for i in (1, 2))
    # recomputed here from the sequence: length, position, the +-10 window's shares
    window = seq[706:727]
    assert f["log_protein_length"][0] == pytest.approx(math.log1p(770), abs=1e-5)
    assert f["relative_position"][0] == pytest.approx(717 / 770, abs=1e-6)
    assert f["window_charged"][0] == pytest.approx(sum(r in "DEKR" for r in window) / 21, abs=1e-6)
    assert f["window_cys"][0] == pytest.approx(window.count("C") / 21, abs=1e-6)
    assert f["window_same_as_ref"][0] == pytest.approx(window.count("V") / 21, abs=1e-6)
    # constraint from gnomAD by gene symbol, for every row of the gene whatever its protein
    rows, values = constraint_table()
    assert f["gene_mis_z"].to_list() == pytest.approx([values[rows["APP"], 0]] * 3, abs=1e-4)


def test_features_never_carry_a_has_sequence_flag():
    assert not [n for n in (*VARIANT_FEATURES, *SEQUENCE_FEATURES) if "has_seq" in n or "has_protein_seq" in n]
    from hcml.ml.training import FEATURE_NAMES

    assert all(not n.startswith("has_") or n == "has_protein_change" for n in FEATURE_NAMES)
    assert np.isnan(features_from_hgvs(pl.DataFrame({"hgvs_c": ["c.1A>G"], "hgvs_p": [None]}))["relative_position"][0])
