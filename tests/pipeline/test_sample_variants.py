"""`sample_variants` on the real bundled samples: the right variants, checks, and Parquet in real Azurite."""

import io

import dagster as dg
import polars as pl
import pytest

from assets.samples import sample_variants
from resources.jobs import sample_run_config
from resources.partitions import samples_partitions
from tests.pipeline.conftest import CLINVAR_VCF, HG00096, azure_resources, local_resources, vcf_records


def _materialize(instance, resources, key, source, sample=None):
    instance.add_dynamic_partitions(samples_partitions.name, [key])
    return dg.materialize(
        [sample_variants], instance=instance, resources=resources, partition_key=key,
        run_config=sample_run_config(source.as_uri(), sample), raise_on_error=False,
    )


def _carried(path):
    """Independently: the records whose genotype has a non-reference allele."""
    out = []
    for rec in vcf_records(path):
        alleles = rec[9].replace("/", "|").split("|")
        if any(a not in ("0", ".") for a in alleles):
            out.append((int(rec[1]), rec[3], rec[4], "homozygous" if all(a != "0" for a in alleles) else "heterozygous"))
    return out


@pytest.mark.azurite
def test_sample_variants_stored_as_parquet_in_azurite(azurite, bundle_dir, data_dir):
    from azure.storage.blob import BlobServiceClient

    resources = azure_resources(azurite, "sv-test", bundle_dir)
    with dg.instance_for_test() as instance:
        result = _materialize(instance, resources, "HG00096", HG00096)
        assert result.success
        expected = _carried(HG00096)
        blob = BlobServiceClient.from_connection_string(azurite.connection_string).get_blob_client(
            "sv-test", "pipeline/assets/sample_variants/HG00096.parquet").download_blob().readall()
        stored = pl.read_parquet(io.BytesIO(blob))
        assert sorted(zip(stored["pos"], stored["ref"], stored["alt"], stored["zygosity"])) == sorted(expected)
        assert set(stored["sample"]) == {"HG00096"}

        mat = result.asset_materializations_for_node("sample_variants")[0]
        meta = {k: v.value for k, v in mat.metadata.items()}
        n_records = len(vcf_records(HG00096))
        assert meta["n_input"] == n_records
        assert meta["dagster/row_count"] == len(expected)
        assert meta["n_not_carried"] == n_records - len(expected)
        assert meta["uri"] == "azure://sv-test/pipeline/assets/sample_variants/HG00096.parquet"
        import hashlib

        assert meta["input_sha256"] == hashlib.sha256(HG00096.read_bytes()).hexdigest()
        checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
        assert checks == {"ref_alleles_match_genome": True, "input_records_accounted": True}


def test_vcf_without_genotypes_keeps_every_record(bundle_dir, data_dir):
    with dg.instance_for_test() as instance:
        result = _materialize(instance, local_resources(data_dir, bundle_dir), "clinvar", CLINVAR_VCF)
        assert result.success
        stored = pl.read_parquet(data_dir / "store" / "assets" / "sample_variants" / "clinvar.parquet")
        expected = {(rec[2], int(rec[1]), rec[3], rec[4]) for rec in vcf_records(CLINVAR_VCF)}
        assert set(zip(stored["variant_id"], stored["pos"], stored["ref"], stored["alt"])) == expected


def test_wrong_ref_is_rejected_and_accounted(bundle_dir, data_dir, tmp_path):
    # the real ClinVar VCF with one REF changed so that it disagrees with the genome
    lines = CLINVAR_VCF.read_text().splitlines(keepends=True)
    first = next(i for i, line in enumerate(lines) if not line.startswith("#"))
    fields = lines[first].split("\t")
    fields[3] = {"A": "C", "C": "G", "G": "T", "T": "A"}[fields[3]]
    lines[first] = "\t".join(fields)
    bad = tmp_path / "clinvar_bad_ref.vcf"
    bad.write_text("".join(lines))
    with dg.instance_for_test() as instance:
        result = _materialize(instance, local_resources(data_dir, bundle_dir), "bad", bad)
        assert result.success
        meta = {k: v.value for k, v in result.asset_materializations_for_node("sample_variants")[0].metadata.items()}
        assert meta["n_rejected"] == 1 and meta["dagster/row_count"] == len(vcf_records(bad)) - 1
        rejects = pl.read_parquet(data_dir / "store" / "rejects" / "bad.parquet")
        assert rejects["line"].to_list() == [first + 1] and "REF" in rejects["reason"][0]


def test_unknown_sample_fails_clearly(bundle_dir, data_dir):
    with dg.instance_for_test() as instance:
        result = _materialize(instance, local_resources(data_dir, bundle_dir), "x", HG00096, sample="NA12878")
        assert not result.success
        failure = next(e for e in result.all_events if e.is_step_failure)
        message = failure.step_failure_data.error.message
        assert "requested sample is not among the VCF's 1 sample column(s)" in message
        assert "NA12878" not in message  # sample names may identify patients: never in logs


@pytest.mark.parametrize("name", ["record-before-chrom", "wrong-chrom-columns"])
def test_vcf_breaking_the_header_rule_fails_naming_the_line(bundle_dir, data_dir, tmp_path, name):
    """The header rule every route applies (tests/vcf_header_cases.py), in the pipeline's sample asset."""
    from tests.vcf_header_cases import BAD_HEADERS

    body, expected = BAD_HEADERS[name]
    source = tmp_path / f"{name}.vcf"
    source.write_text(body)
    with dg.instance_for_test() as instance:
        result = _materialize(instance, local_resources(data_dir, bundle_dir), name, source)
        assert not result.success
        failure = next(e for e in result.all_events if e.is_step_failure)
        assert expected in failure.step_failure_data.error.message
