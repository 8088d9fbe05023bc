"""The landing sensor's Blob form, against real Azurite: VCF blobs under a container/prefix become sample
partitions and runs of `sample_report_job` (blob URI in run config), once per content, after settling."""

import gzip
import hashlib
import json
import logging
import uuid

import dagster as dg
import pytest

from hcml.storage import AzureBlobStore
from resources import tags
from resources.partitions import samples_partitions
from sensors.landing import landing_vcf_sensor
from resources.landing import BlobChanged, read_header
from tests.fixtures.azurite import ACCOUNT_KEY
from tests.pipeline.conftest import CLINVAR_VCF, HG00096, two_sample_vcf

pytestmark = pytest.mark.azurite


def _header_lines(data: bytes) -> bytes:
    """Independent reading: the VCF's '#' lines, newline-terminated."""
    return b"".join(line for line in data.splitlines(keepends=True) if line.startswith(b"#"))


@pytest.fixture
def landing(azurite, data_dir, azure_env, tmp_path, monkeypatch):
    """A landing container of this test's own (prefix `incoming`), an empty local landing dir, settle 0."""
    from azure.storage.blob import BlobServiceClient

    container = f"land{uuid.uuid4().hex[:12]}"
    client = BlobServiceClient.from_connection_string(azurite.connection_string).get_container_client(container)
    client.create_container()
    local = tmp_path / "landing"
    local.mkdir()
    monkeypatch.setenv("HCML_LANDING_DIR", str(local))
    monkeypatch.setenv("HCML_LANDING_CONTAINER", container)
    monkeypatch.setenv("HCML_LANDING_PREFIX", "incoming")
    monkeypatch.setenv("HCML_LANDING_SETTLE_SECONDS", "0")
    return client, local


def _tick(instance, cursor=None):
    return landing_vcf_sensor(dg.build_sensor_context(instance=instance, cursor=cursor))


def test_blobs_become_partitions_and_runs_once_per_content(landing, monkeypatch):
    client, local = landing
    container = client.container_name
    hg_uri = f"azure://{container}/incoming/HG00096_chr21_region.vcf"
    fam_uri = f"azure://{container}/incoming/family1.vcf.gz"
    client.upload_blob("incoming/HG00096_chr21_region.vcf", HG00096.read_bytes())
    client.upload_blob("incoming/family1.vcf.gz", gzip.compress(two_sample_vcf()))
    client.upload_blob("incoming/notes.txt", b"not a VCF")
    client.upload_blob("incoming/.partial.vcf", b"being copied")
    client.upload_blob("incoming/old/archived.vcf", HG00096.read_bytes())  # a sub-folder: not watched
    client.upload_blob("incoming2/other.vcf", HG00096.read_bytes())  # another prefix
    client.upload_blob("top.vcf", HG00096.read_bytes())  # outside the prefix
    (local / "clinvar.vcf").write_bytes(CLINVAR_VCF.read_bytes())  # the local form keeps working beside it

    with dg.instance_for_test() as instance:
        result = _tick(instance)
        assert isinstance(result, dg.SensorResult)
        runs = {r.partition_key: r for r in result.run_requests}
        assert set(runs) == {"HG00096_chr21_region.HG00096", "family1.HG00096", "family1.SECOND", "clinvar"}
        assert runs["HG00096_chr21_region.HG00096"].run_config == {
            "ops": {"sample_variants": {"config": {"source_uri": hg_uri, "sample": "HG00096"}}}
        }
        assert runs["family1.SECOND"].run_config == {
            "ops": {"sample_variants": {"config": {"source_uri": fam_uri, "sample": "SECOND"}}}
        }
        assert runs["family1.HG00096"].tags == {tags.SOURCE_URI: fam_uri, tags.ANALYSIS: "landing"}
        assert runs["clinvar"].run_config["ops"]["sample_variants"]["config"]["source_uri"] == (
            local / "clinvar.vcf").as_uri()
        # a pointer, never the payload: no VCF record travels in run config
        first_record = next(l for l in HG00096.read_text().splitlines() if not l.startswith("#"))
        assert first_record.split("\t")[2] not in json.dumps([r.run_config for r in result.run_requests])
        assert len({r.run_key for r in result.run_requests}) == 4
        (request,) = result.dynamic_partitions_requests
        assert request.partitions_def_name == samples_partitions.name
        assert sorted(request.partition_keys) == sorted(runs)
        cursor = json.loads(result.cursor)
        md5 = hashlib.md5(HG00096.read_bytes()).hexdigest()
        assert cursor[hg_uri] == f"md5:{md5}"

        # the next tick has nothing new
        assert isinstance(_tick(instance, result.cursor), dg.SkipReason)

        # the same content uploaded again (new etag) is not run twice
        before = client.get_blob_client("incoming/HG00096_chr21_region.vcf").get_blob_properties().etag
        client.upload_blob("incoming/HG00096_chr21_region.vcf", HG00096.read_bytes(), overwrite=True)
        after = client.get_blob_client("incoming/HG00096_chr21_region.vcf").get_blob_properties().etag
        assert before != after
        assert isinstance(_tick(instance, result.cursor), dg.SkipReason)

        # new content under the same name runs again: same partition, new run key
        changed = HG00096.read_bytes().replace(b"\n#CHROM", b"\n##note=replaced\n#CHROM", 1)
        assert changed != HG00096.read_bytes()
        client.upload_blob("incoming/HG00096_chr21_region.vcf", changed, overwrite=True)
        instance.add_dynamic_partitions(samples_partitions.name, list(request.partition_keys))  # as the daemon does
        third = _tick(instance, result.cursor)
        assert isinstance(third, dg.SensorResult)
        assert [r.partition_key for r in third.run_requests] == ["HG00096_chr21_region.HG00096"]
        assert third.run_requests[0].run_key != runs["HG00096_chr21_region.HG00096"].run_key
        assert third.run_requests[0].run_config == runs["HG00096_chr21_region.HG00096"].run_config
        assert third.dynamic_partitions_requests == []  # the partition exists already
        cursor = third.cursor

        # a blob modified within the settle time waits; once settled it runs
        client.upload_blob("incoming/late.vcf", CLINVAR_VCF.read_bytes())
        monkeypatch.setenv("HCML_LANDING_SETTLE_SECONDS", "3600")
        assert isinstance(_tick(instance, cursor), dg.SkipReason)
        monkeypatch.setenv("HCML_LANDING_SETTLE_SECONDS", "0")
        late = _tick(instance, cursor)
        assert [r.partition_key for r in late.run_requests] == ["late"]
        assert late.run_requests[0].run_config == {
            "ops": {"sample_variants": {"config": {"source_uri": f"azure://{container}/incoming/late.vcf"}}}
        }


def test_a_landed_blob_runs_the_job_from_its_uri(landing, azurite, azure_env, bundle_dir):
    """End to end: the run request the sensor makes for a blob materializes the chain; the report's
    provenance names the blob URI and the hash of the bytes uploaded."""
    from azure.storage.blob import BlobServiceClient

    from hcml_dagster.definitions import defs
    from resources.jobs import SAMPLE_ASSET_KEYS
    from tests.pipeline.conftest import azure_resources

    client, _ = landing
    client.upload_blob("incoming/HG00096_chr21_region.vcf", HG00096.read_bytes())
    io_container = azure_env["HCML_AZURE_STORAGE_CONTAINER"]
    resources = {**defs.resources, **azure_resources(azurite, io_container, bundle_dir)}
    with dg.instance_for_test() as instance:
        (run,) = _tick(instance).run_requests
        instance.add_dynamic_partitions(samples_partitions.name, [run.partition_key])
        result = dg.materialize(
            list(defs.assets) + list(defs.asset_checks or []), selection=list(SAMPLE_ASSET_KEYS),
            instance=instance, resources=resources, partition_key=run.partition_key, run_config=run.run_config,
            tags=run.tags,
        )
        assert result.success
        meta = {k: v.value for k, v in result.asset_materializations_for_node("clinical_report")[0].metadata.items()}

    blob = f"pipeline/reports/{run.partition_key}/report.json"
    assert meta["report_uri"] == f"azure://{io_container}/{blob}"
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    report = json.loads(service.get_blob_client(io_container, blob).download_blob().readall())
    source = report["provenance"]["input"]
    assert source["uri"] == f"azure://{client.container_name}/incoming/HG00096_chr21_region.vcf"
    assert source["sha256"] == hashlib.sha256(HG00096.read_bytes()).hexdigest()
    assert report["variants"], "HG00096 carries variants in this region"


def test_header_read_grows_until_the_chrom_line(landing, azurite):
    """A bgzipped two-sample VCF, read from a 64-byte first range: exactly the header comes back,
    decompressed, and it plans the same partitions as the whole file."""
    import pysam

    from resources.submissions import plan_partitions

    client, local = landing
    plain = two_sample_vcf()
    (local / "raw.vcf").write_bytes(plain)
    pysam.tabix_compress(str(local / "raw.vcf"), str(local / "fam.vcf.gz"))
    (local / "raw.vcf").unlink()
    bgz = (local / "fam.vcf.gz").read_bytes()
    (local / "fam.vcf.gz").unlink()
    assert bgz[:2] == b"\x1f\x8b"
    client.upload_blob("incoming/fam.vcf.gz", bgz)
    store = AzureBlobStore(container=client.container_name, connection_string=azurite.connection_string)
    (blob,) = store.list_blobs(client.container_name, "incoming")
    header = read_header(store, blob, first=64)
    assert header == _header_lines(plain)
    assert plan_partitions(blob.uri, header) == plan_partitions(blob.uri, plain) == [
        ("fam.HG00096", "HG00096"), ("fam.SECOND", "SECOND")]

    # rewritten between listing and reading: the read is refused (If-Match on the listed etag)
    client.upload_blob("incoming/fam.vcf.gz", gzip.compress(plain), overwrite=True)
    with pytest.raises(BlobChanged):
        read_header(store, blob)
    (relisted,) = store.list_blobs(client.container_name, "incoming")
    assert read_header(store, relisted) == _header_lines(plain)


def test_misconfiguration_is_a_skip_reason_and_no_secret_or_sample_is_logged(landing, azurite, monkeypatch, caplog):
    client, _ = landing
    client.upload_blob("incoming/HG00096_chr21_region.vcf", HG00096.read_bytes())
    caplog.set_level(logging.DEBUG)  # the Azure SDK's own request logging included

    def tick(instance):
        context = dg.build_sensor_context(instance=instance)
        context.log.addHandler(caplog.handler)  # the sensor's own log lines (what a Dagster tick shows)
        return landing_vcf_sensor(context)

    with dg.instance_for_test() as instance:
        result = tick(instance)
        assert [r.partition_key for r in result.run_requests] == ["HG00096_chr21_region.HG00096"]

        monkeypatch.setenv("HCML_LANDING_CONTAINER", "no-such-container")
        missing = tick(instance)
        assert isinstance(missing, dg.SkipReason)
        assert "no-such-container" in missing.skip_message

        monkeypatch.delenv("HCML_AZURE_STORAGE_CONNECTION_STRING")
        unconfigured = tick(instance)
        assert isinstance(unconfigured, dg.SkipReason)
        assert "no Azure storage configured" in unconfigured.skip_message

    sensor_lines = [r.getMessage() for r in caplog.records if r.name == "dagster"]
    assert any("1 run(s)" in line for line in sensor_lines)  # the sensor's own lines are captured here
    assert any("no Azure storage is configured" in line for line in sensor_lines)
    assert not any("HG00096" in line for line in sensor_lines)  # sample / file names stay out of its logs
    assert caplog.records and ACCOUNT_KEY not in caplog.text
    assert ACCOUNT_KEY not in json.dumps([result.cursor, [r.run_config for r in result.run_requests],
                                          [r.tags for r in result.run_requests], missing.skip_message,
                                          unconfigured.skip_message])
