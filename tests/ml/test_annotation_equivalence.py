"""One code path: for the ClinVar variants inside the reference bundle, the features computed from
ClinVar's own HGVS (RefSeq NM_/NP_, what training sees) equal the features computed from our annotator's
output for the same VCF records (Ensembl ENST/ENSP, what the clinic sees)."""

import polars as pl
import pytest

from hcml.ml.features import SEQUENCE_FEATURES, VARIANT_FEATURES, features_from_hgvs, features_from_summary
from hcml.ml.proteins import bundle_proteins


@pytest.fixture(scope="module")
def both_paths(bundle, data_root):
    from hcml.genomics.annotate import annotate, summarise
    from hcml.genomics.inputs import read_vcf

    parsed = read_vcf(data_root / "samples" / "clinvar2016_chr21_region.vcf", bundle)
    summary = summarise(annotate(parsed.variants, bundle))
    clinvar = pl.read_csv(
        data_root / "clinvar" / "clinvar_2016-05-20.lifted_GRCh38.tsv.gz", separator="\t", infer_schema_length=0
    ).filter(pl.col("chrom_grch38") == "21")
    key = ["pos", "ref", "alt"]
    clinic = summary.with_columns(pl.col("pos").cast(pl.Utf8)).select([*key, "hgvsc", "hgvsp", "gene_symbol", "transcript_id"])
    training = clinvar.select(pl.col("pos_grch38").alias("pos"), "ref", "alt", "hgvs_c", "hgvs_p", "symbol")
    joined = clinic.join(training, on=key, how="inner", maintain_order="left")
    return summary, joined, bundle_proteins(bundle, summary)


def test_every_bundle_clinvar_variant_is_matched(both_paths):
    summary, joined, _ = both_paths
    assert summary.height == 27 and joined.height == 27
    # ClinVar's NM_000484.3 (APP770) is the transcript our annotator picks: ENST00000346798 (canonical)
    assert set(joined["transcript_id"].str.replace(r"\.\d+$", "").to_list()) == {"ENST00000346798"}


def test_features_from_hgvs_equal_features_from_annotation(both_paths):
    _, joined, proteins = both_paths
    from_clinvar = features_from_hgvs(joined.select("hgvs_c", "hgvs_p", "symbol"))  # the RefSeq protein
    from_annotation = features_from_summary(joined.select("hgvsc", "hgvsp", "gene_symbol", "transcript_id"), proteins)
    compared = ["gene_symbol", "consequence_class", "ref_aa", "alt_aa", "protein_position", *VARIANT_FEATURES,
                *SEQUENCE_FEATURES]
    a, b = from_clinvar.select(compared), from_annotation.select(compared)
    mismatches = [
        (joined["hgvs_c"][i], joined["hgvsc"][i], [c for c in compared if a[c][i] != b[c][i]])
        for i in range(a.height)
        if a.row(i) != b.row(i)
    ]
    assert mismatches == []
    # not vacuous: the 27 include 25 substitutions (missense / synonymous) and one MNV (delins)
    assert set(a["consequence_class"].to_list()) >= {"missense", "synonymous"}
    assert (a["is_delins"] == 1).sum() == 1
    assert a["log_protein_length"].is_not_nan().sum() >= 25  # both sides had their protein
