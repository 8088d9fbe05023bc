"""`hcml annotate --acmg`: the classification as extra fields in every VEP-compatible output, read back with
the formats' own readers (pysam for the VCF CSQ, json, polars), the same class in each; none without the flag."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pysam
import pytest

from hcml.config import reference_data_dir
from hcml.genomics.annotate_cli import run

VCF = reference_data_dir() / "samples" / "clinvar2016_chr21_region.vcf"
CLASSES = {"Pathogenic", "Likely pathogenic", "Uncertain significance", "Likely benign", "Benign"}


@pytest.fixture(scope="module")
def outputs(tmp_path_factory, bundle_dir: Path) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("acmg_out")
    files = {}
    for fmt in ("vep", "vcf", "json", "parquet"):
        files[fmt] = out / f"a.{fmt}"
        run(str(VCF), bundle_dir, fmt, files[fmt], None, None, None, quiet=True, acmg=True)
    files["plain"] = out / "plain.vep"
    run(str(VCF), bundle_dir, "vep", files["plain"], None, None, None, quiet=True)
    return files


def _tab(path: Path) -> list[dict]:
    lines = [l for l in path.read_text().splitlines() if not l.startswith("##")]
    header = lines[0].lstrip("#").split("\t")
    return [dict(zip(header, l.split("\t"))) for l in lines[1:]]


def test_the_same_class_in_every_format(outputs):
    tab = {r["Uploaded_variation"]: r["ACMG_class"] for r in _tab(outputs["vep"])}
    assert set(tab.values()) <= CLASSES and len(tab) == 27
    with pysam.VariantFile(str(outputs["vcf"])) as vcf:
        fields = vcf.header.info["CSQ"].description.split("Format: ")[1].rstrip('"').split("|")
        assert fields[-4:] == ["ACMG_class", "ACMG_points", "ACMG_criteria", "ACMG_evidence"]
        for rec in vcf:
            for entry in rec.info["CSQ"]:
                csq = dict(zip(fields, entry.split("|")))
                # VCF INFO text: spaces written as '_' (VEP's CSQ escaping)
                assert csq["ACMG_class"].replace("_", " ") == tab[rec.id]
                assert csq["ACMG_evidence"].startswith(csq["ACMG_criteria"].split("&")[0].split(",")[0])
    records = json.loads(outputs["json"].read_text())
    assert {r["id"]: r["acmg"]["class"] for r in records} == tab
    for r in records:
        assert [e.split(":")[0] for e in r["acmg"]["evidence"]] == [c for c in r["acmg"]["criteria"].split(", ") if c]
    parquet = pl.read_parquet(outputs["parquet"])
    assert dict(parquet.select("Uploaded_variation", "ACMG_class").unique().iter_rows()) == tab


def test_no_acmg_fields_without_the_flag(outputs):
    rows = _tab(outputs["plain"])
    assert rows and not any(k.startswith("ACMG") for k in rows[0])
