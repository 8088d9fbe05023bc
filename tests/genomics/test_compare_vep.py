"""Agreement with Ensembl VEP 115 on the saturation set (data/truth): the independent expectation is VEP's
own output for the same VCF, cache and FASTA. Target: >= 99.5% exact agreement of rows and of each field."""

from __future__ import annotations

import pytest

from hcml.genomics.annotate import annotate
from hcml.genomics.compare import compare_annotations, format_report, read_vep_tab
from hcml.genomics.inputs import read_vcf

TARGET = 0.995
FIELDS = ["Consequence", "IMPACT", "cDNA_position", "CDS_position", "Protein_position", "Amino_acids", "Codons",
          "EXON", "INTRON", "HGVSc", "HGVSp", "DISTANCE"]


@pytest.fixture(scope="module")
def comparison(bundle, data_root):
    parsed = read_vcf(data_root / "truth" / "saturation.vcf.gz", bundle)
    ours = annotate(parsed.variants, bundle)
    vep = read_vep_tab(data_root / "truth" / "saturation.vep115.tsv.gz")
    return compare_annotations(ours, vep)


def test_rows_agree(comparison):
    print(format_report(comparison))
    assert comparison.shared_transcripts >= 35
    assert comparison.vep_rows > 150_000
    assert comparison.row_agreement >= TARGET, format_report(comparison, show=5)


@pytest.mark.parametrize("field", FIELDS)
def test_field_agrees(comparison, field):
    assert comparison.field_agreement[field] >= TARGET, format_report(comparison, show=10)


def test_compare_detects_disagreement(comparison, bundle, data_root):
    """The comparison itself can fail: perturb our output and the agreement must drop."""
    import polars as pl

    parsed = read_vcf(data_root / "truth" / "saturation.vcf.gz", bundle)
    ours = annotate(parsed.variants.head(2000), bundle).with_columns(IMPACT=pl.lit("LOW"))
    vep = read_vep_tab(data_root / "truth" / "saturation.vep115.tsv.gz")
    c = compare_annotations(ours, vep.filter(pl.col("Uploaded_variation").is_in(ours["Uploaded_variation"].implode())))
    assert c.field_agreement["IMPACT"] < 0.9


def test_cli_compare_vep(bundle_dir):
    from click.testing import CliRunner

    from hcml.genomics.cli import compare_vep

    r = CliRunner().invoke(compare_vep, ["--bundle", str(bundle_dir)])
    assert r.exit_code == 0, r.output
    assert "row agreement:" in r.output and "HGVSp" in r.output
    r = CliRunner().invoke(compare_vep, ["--bundle", str(bundle_dir), "--vcf", "/nonexistent.vcf"])
    assert r.exit_code == 2 and "/nonexistent.vcf" in r.output
