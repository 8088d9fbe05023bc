"""`hcml annotate` end to end (in-process through click), on the real samples and the real bundle."""

from __future__ import annotations

import gzip
import json

import jsonschema
import polars as pl
import pysam
import pytest
from click.testing import CliRunner

from hcml.cli import main
from tests.genomics.test_outputs import REST_VEP_SCHEMA

pytest.importorskip("hcml.genomics.annotate")


def run(args, input=None):
    result = CliRunner().invoke(main, ["annotate", *args], input=input, catch_exceptions=False)
    return result


def _vcf_ids(path):
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt") as fh:
        return [l.split("\t")[2] for l in fh if not l.startswith("#")]


def test_vcf_to_every_format(bundle_dir, data_root, tmp_path):
    vcf = data_root / "samples" / "HG00096_chr21_region.vcf"
    ids = _vcf_ids(vcf)
    outs = {}
    for fmt in ("vep", "vcf", "json", "parquet"):
        outs[fmt] = tmp_path / f"out.{fmt}"
        result = run([str(vcf), "--bundle", str(bundle_dir), "--format", fmt, "--output", str(outs[fmt])])
        assert result.exit_code == 0, result.stderr
        assert f"{len(ids)} in = {len(ids)} annotated + 0 rejected" in result.stderr
    tab = pl.read_csv(outs["vep"], separator="\t", comment_prefix="##", infer_schema=False)
    for col in ["#Uploaded_variation", "Location", "Allele", "Gene", "Feature", "Consequence", "IMPACT", "cDNA_position",
                "CDS_position", "Protein_position", "Amino_acids", "Codons", "EXON", "INTRON", "HGVSc", "HGVSp",
                "DISTANCE", "STRAND", "SYMBOL", "BIOTYPE", "CANONICAL"]:
        assert col in tab.columns
    assert set(tab["#Uploaded_variation"]) == set(ids)  # the VCF ID, as VEP prints it
    assert not tab.select(pl.all().is_null().any()).row(0).count(True)  # '-' for missing, never empty
    with pysam.VariantFile(str(outs["vcf"])) as vf:
        recs = list(vf)
        fmt_fields = vf.header.info["CSQ"].description.split("Format: ")[1].split("|")
    assert [r.id for r in recs] == ids
    assert all(len(e.split("|")) == len(fmt_fields) for r in recs for e in r.info["CSQ"])
    assert [r.samples["HG00096"]["GT"] for r in recs][:1] == [(0, 0)]  # genotypes kept
    records = json.loads(outs["json"].read_text())
    jsonschema.validate(records, REST_VEP_SCHEMA)
    assert [r["id"] for r in records] == ids
    parquet = pl.read_parquet(outs["parquet"])
    assert parquet.height == tab.height
    assert parquet.select("row", "Feature").n_unique() == parquet.height  # one row per variant x feature


def test_variants_option_with_rejects_file(bundle_dir, tmp_path):
    rejects = tmp_path / "rejects.tsv"
    out = tmp_path / "o.tsv"
    result = run(["--variants", "21-25891784-C-T,ENST00000346798.7:c.2149G>A,21-25891784-G-T",
                  "--bundle", str(bundle_dir), "--output", str(out), "--rejects", str(rejects)])
    assert result.exit_code == 0, result.stderr
    assert "3 in = 2 annotated + 1 rejected" in result.stderr
    rej = pl.read_csv(rejects, separator="\t", infer_schema=False)
    assert rej.columns == ["line", "field", "reason", "text"]
    assert rej.rows() == [("3", "REF", "REF 'G' does not match the reference genome 'C' at 21:25891784", "21-25891784-G-T")]
    tab = pl.read_csv(out, separator="\t", comment_prefix="##", infer_schema=False)
    canonical = tab.filter(pl.col("CANONICAL") == "YES", pl.col("Feature") == "ENST00000346798")
    # Ensembl VEP 115 (data/truth) for 21:25891784 C>T on ENST00000346798: c.2149G>A, p.Val717Ile
    assert set(canonical["HGVSc"]) == {"ENST00000346798.7:c.2149G>A"}
    assert set(canonical["HGVSp"]) == {"ENSP00000284981.4:p.Val717Ile"}


def test_stdin_bgzipped_and_sequence(bundle_dir, data_root, bundle, tmp_path):
    vcf = data_root / "samples" / "clinvar2016_chr21_region.vcf"
    result = run(["-", "--bundle", str(bundle_dir), "--format", "json"], input=vcf.read_bytes())
    assert result.exit_code == 0, result.stderr
    assert len(json.loads(result.stdout)) == 27
    gz = tmp_path / "in.vcf.gz"
    pysam.tabix_compress(str(vcf), str(gz))
    result = run([str(gz), "--bundle", str(bundle_dir), "--format", "vep"])
    assert result.exit_code == 0 and "27 in = 27 annotated" in result.stderr
    ref = bundle.fetch("21", 25891700, 25891900)
    i = 25891784 - 25891700
    seq = tmp_path / "read.fa"
    seq.write_text(">read\n" + ref[:i] + "T" + ref[i + 1 :] + "\n")
    result = run(["--sequence", str(seq), "--bundle", str(bundle_dir), "--format", "vep"])
    assert result.exit_code == 0, result.stderr
    assert "21:g.25891784C>T" in result.stdout and "1 in = 1 annotated" in result.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["/nonexistent.vcf"], "input file not found"),
        (["README.md"], "not a VCF"),
        ([], "give exactly one input"),
        (["--variants", "21-25891784-C-T", "--format", "parquet"], "needs --output"),
    ],
)
def test_whole_input_errors_exit_2_with_one_line(bundle_dir, repo_root, args, message, monkeypatch):
    monkeypatch.chdir(repo_root)
    result = run([*args, "--bundle", str(bundle_dir)])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and message in result.stderr and result.stderr.startswith("hcml annotate: error:")


def test_missing_bundle_exit_2(tmp_path):
    result = run(["--variants", "21-25891784-C-T", "--bundle", str(tmp_path / "none")])
    assert result.exit_code == 2 and "no reference bundle" in result.stderr


def test_batched_annotation_equals_annotating_every_record(bundle, data_root):
    """Streaming with per-batch de-duplication must give exactly annotate()'s frame, row for row."""
    from hcml.genomics.annotate import annotate
    from hcml.genomics.annotate_cli import annotate_in_batches
    from hcml.genomics.inputs import read_vcf

    v = read_vcf(data_root / "samples" / "HG00096_chr21_region.vcf", bundle).variants
    # every record three times in a row, as a multi-sample stack sorted by position would have them
    tripled = (
        pl.concat([v, v, v]).sort("pos", maintain_order=True).drop("row").with_row_index("row")
        .with_columns(pl.col("row").cast(pl.UInt32)).select(v.columns)
    )
    batched = pl.concat(list(annotate_in_batches(tripled, bundle, batch_size=100)))
    assert batched.equals(annotate(tripled, bundle))
