"""A VCF with a header and no records is a valid, empty input: Ensembl VEP and `bcftools csq` both answer it
with an empty result (the header only). hcml does the same everywhere a VCF is accepted: the reader, every
output format of `hcml annotate`, the realtime API and the Dagster sample chain. An input without even a
header is still refused: it is not a VCF (VEP cannot detect its format either)."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from hcml.genomics.annotate import OUTPUT_COLUMNS
from hcml.genomics.errors import InputError
from hcml.genomics.inputs import read_input, read_vcf
from hcml.genomics.vcf import parse_vcf

# the header of the real HG00096 sample (one genotype column): the records are cut, the header is kept
HG00096 = Path(__file__).resolve().parents[2] / "data" / "samples" / "HG00096_chr21_region.vcf"


def header_only() -> str:
    return "".join(line for line in HG00096.read_text().splitlines(keepends=True) if line.startswith("#"))


def test_header_only_vcf_parses_to_nothing(bundle):
    text = header_only()
    assert text.splitlines()[-1].startswith("#CHROM") and "HG00096" in text.splitlines()[-1]
    for parsed in (read_vcf(text.encode(), bundle), read_input(text, bundle), read_vcf(text + "\n\n", bundle)):
        assert parsed.n_input == 0 and parsed.variants.height == 0 and parsed.rejects.height == 0
        assert parsed.samples == ["HG00096"] and parsed.header == text.splitlines()
        assert parsed.genotypes is None or parsed.genotypes.height == 0
    # the vectorised reader (large inputs) agrees with the row-by-row one used above
    records = parse_vcf(text.encode())
    assert records.n_records == 0 and records.candidates.height == 0 and records.rejects.height == 0


@pytest.mark.parametrize("source", [b"", b"\n\n", b"##fileformat=VCFv4.2\n"])
def test_no_header_is_still_refused(bundle, source):
    with pytest.raises(InputError, match="empty input|not a VCF"):
        read_vcf(source, bundle)


def _cli(tmp_path, bundle_dir, fmt):
    from hcml.genomics.annotate_cli import annotate

    src = tmp_path / "empty.vcf"
    src.write_text(header_only())
    out = tmp_path / f"out.{fmt}"
    result = CliRunner().invoke(annotate, [str(src), "--bundle", str(bundle_dir), "--format", fmt, "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "0 in = 0 annotated + 0 rejected" in result.output
    return out


def test_cli_vep_tab_writes_the_header(tmp_path, bundle_dir):
    lines = _cli(tmp_path, bundle_dir, "vep").read_text().splitlines()
    assert lines[0].startswith("## ENSEMBL VARIANT EFFECT PREDICTOR")
    # VEP --tab: the column line is the last one, no records after it
    assert lines[-1].startswith("#Uploaded_variation\tLocation\tAllele\tGene\tFeature")


def test_cli_vcf_keeps_the_input_header_and_adds_csq(tmp_path, bundle_dir):
    lines = _cli(tmp_path, bundle_dir, "vcf").read_text().splitlines()
    given = header_only().splitlines()
    assert lines[-1] == given[-1]  # the #CHROM line with the sample, and nothing after it
    assert [l for l in lines if not l.startswith("##INFO=<ID=CSQ")] == given
    assert sum(l.startswith("##INFO=<ID=CSQ") for l in lines) == 1


def test_cli_json_is_an_empty_list(tmp_path, bundle_dir):
    assert json.loads(_cli(tmp_path, bundle_dir, "json").read_text()) == []


def test_cli_parquet_has_the_schema(tmp_path, bundle_dir):
    frame = pl.read_parquet(_cli(tmp_path, bundle_dir, "parquet"))
    assert frame.height == 0 and frame.columns == OUTPUT_COLUMNS


def test_realtime_api_answers_an_empty_vcf(bundle_dir, tmp_path, monkeypatch):
    from fastapi.testclient import TestClient

    from realtime.app import create_app
    from realtime.auth import mint_dev_token
    from realtime.settings import load_settings
    from tests.realtime.conftest import SERVICE_VARS, service_env

    env = service_env(tmp_path / "rt", bundle_dir)
    for k in SERVICE_VARS:
        monkeypatch.delenv(k, raising=False)
    for k in ("HCML_DATA_DIR", "HCML_BUNDLE_DIR", "HCML_PSEUDONYM_KEY"):
        monkeypatch.setenv(k, env[k])
    token = mint_dev_token(load_settings(), "clinician", subject="test-empty")
    with TestClient(create_app()) as client:
        r = client.post("/v1/annotate", json={"vcf": header_only()}, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["input_kind"], body["n_variants"], body["n_rejects"]) == ("vcf", 0, 0)
    assert body["variants"] == [] and body["rejects"] == []


def test_dagster_sample_chain_reports_no_variants(bundle_dir, tmp_path, monkeypatch):
    import dagster as dg

    from hcml_dagster.definitions import defs
    from resources import StorageResource, resources_for
    from resources.jobs import SAMPLE_ASSET_KEYS, sample_run_config
    from resources.partitions import samples_partitions

    monkeypatch.setenv("HCML_DATA_DIR", str(tmp_path / "var"))
    for name in ("HCML_AZURE_STORAGE_CONNECTION_STRING", "HCML_AZURE_STORAGE_ACCOUNT_URL", "HCML_MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(name, raising=False)
    src = tmp_path / "empty.vcf"
    src.write_text(header_only())
    resources = {**defs.resources, **resources_for(StorageResource(local_root=str(tmp_path / "store")), bundle_dir)}
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(samples_partitions.name, ["empty"])
        result = dg.materialize(
            list(defs.assets) + list(defs.asset_checks or []), selection=list(SAMPLE_ASSET_KEYS), instance=instance,
            resources=resources, partition_key="empty", run_config=sample_run_config(src.as_uri(), "HG00096", "sub-empty"),
        )
        assert result.success
        checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
        assert checks and all(checks.values()), checks
        meta = {k: v.value for k, v in result.asset_materializations_for_node("sample_variants")[0].metadata.items()}
        assert meta["n_input"] == 0 and meta["dagster/row_count"] == 0
    report = json.loads((tmp_path / "store" / "reports" / "empty" / "report.json").read_text())
    assert report["variants"] == [] and report["sample"] == "HG00096"
    assert report["summary"]["n_input"] == 0 and report["summary"]["n_reported"] == 0
