"""The per-sample chain with every object in real Azurite (plain Blob, the project's IO manager)."""

import json

import dagster as dg
import pytest
from click.testing import CliRunner

from hcml.pipeline_cli import provenance as provenance_cli
from hcml_dagster.jobs import SAMPLE_ASSET_KEYS, sample_run_config
from hcml_dagster.partitions import samples_partitions
from tests.pipeline.conftest import CLINVAR_VCF, azure_resources, vcf_records


@pytest.mark.azurite
def test_chain_on_azurite(azurite, data_dir, azure_env, bundle_dir):
    from azure.storage.blob import BlobServiceClient

    from hcml_dagster.definitions import defs

    container = azure_env["HCML_AZURE_STORAGE_CONTAINER"]
    resources = {**defs.resources, **azure_resources(azurite, container, bundle_dir)}
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(samples_partitions.name, ["cv"])
        result = dg.materialize(
            list(defs.assets) + list(defs.asset_checks or []), selection=list(SAMPLE_ASSET_KEYS),
            instance=instance, resources=resources, partition_key="cv",
            run_config=sample_run_config(CLINVAR_VCF.as_uri(), submission_id="sub-1"),
        )
        assert result.success
        meta = {k: v.value for k, v in result.asset_materializations_for_node("clinical_report")[0].metadata.items()}

    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    names = {b.name for b in service.get_container_client(container).list_blobs()}
    assert {f"pipeline/assets/{a}/cv.parquet" for a in SAMPLE_ASSET_KEYS if a != "clinical_report"} <= names
    assert {"pipeline/reports/cv/report.json", "pipeline/reports/cv/report.html"} <= names
    assert meta["report_uri"] == f"azure://{container}/pipeline/reports/cv/report.json"

    report = json.loads(service.get_blob_client(container, "pipeline/reports/cv/report.json").download_blob().readall())
    assert report["submission_id"] == "sub-1" and len(report["variants"]) == len(vcf_records(CLINVAR_VCF))
    # verify straight from the blob URI (the CLI reads it through the configured store: Azurite here)
    verified = CliRunner().invoke(provenance_cli, ["verify", meta["report_uri"]])
    assert verified.exit_code == 0, verified.output
    assert "chain holds" in verified.output
