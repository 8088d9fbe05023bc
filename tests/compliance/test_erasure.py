"""Erasure end to end on the real stores: a patient's VCF (the real HG00096 region sample under a new sample
name, one allele changed to a novel one as the patient's private marker) is submitted on the real Kafka
broker, run through the Dagster chain into Azurite on a persistent SQLite instance, then erased with
`hcml patient erase`. Before erasure the scans below find the patient; after it no file under the data
dir (Dagster storage included), no Azurite blob and no Kafka record read back from the start yields the
patient id, the sample name or the private variant, and the audit trail still verifies."""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from hcml.config import REPO_ROOT

pytestmark = [pytest.mark.kafka, pytest.mark.azurite]

HG00096 = REPO_ROOT / "data" / "samples" / "HG00096_chr21_region.vcf"
OTHER_BASE = {"A": "C", "C": "G", "G": "T", "T": "A"}


def _patient_vcf(sample: str) -> tuple[str, str]:
    """The real sample renamed, its first carried SNV given a novel ALT; (vcf text, the marker's HGVSg)."""
    out, marker = [], None
    for line in HG00096.read_text().splitlines():
        fields = line.split("\t")
        if line.startswith("#CHROM"):
            fields[-1] = sample
        elif not line.startswith("#") and marker is None and fields[9] not in ("0|0", "0/0") and len(fields[3]) == 1:
            alt = next(b for b in "ACGT" if b not in (fields[3], fields[4]))
            fields[2], fields[4] = ".", alt
            marker = f"{fields[0]}:g.{fields[1]}{fields[3]}>{alt}"  # HGVS genomic SNV notation
        out.append("\t".join(fields))
    assert marker is not None
    return "\n".join(out) + "\n", marker


def _texts(name: str, data: bytes) -> list[bytes]:
    """What a reader of the object could see: its bytes, gunzipped, or a Parquet file's rows as CSV."""
    if name.endswith(".gz"):
        try:
            return [data, gzip.decompress(data)]
        except OSError:
            return [data]
    if name.endswith(".parquet"):
        return [data, pl.read_parquet(io.BytesIO(data)).write_csv().encode()]
    return [data]


def _hits(needles: list[bytes], named_blobs) -> list[str]:
    return [f"{name}: {n.decode()}" for name, data in named_blobs for t in _texts(name, data) for n in needles if n in t]


def _files(root: Path):
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            yield str(path.relative_to(root)), path.read_bytes()


def _blobs(env: dict):
    from azure.storage.blob import BlobServiceClient

    container = BlobServiceClient.from_connection_string(
        env["HCML_AZURE_STORAGE_CONNECTION_STRING"]
    ).get_container_client(env["HCML_AZURE_STORAGE_CONTAINER"])
    for blob in container.list_blobs():
        yield f"azurite:{blob.name}", container.download_blob(blob.name).readall()


def _kafka(bootstrap: str):
    from hcml.events import topics
    from hcml.events.consumer import read_batch

    for topic in (topics.RAW, topics.ANNOTATED, topics.DLQ):
        for rec in read_batch(bootstrap, topic, "hcml-test-reader", {}, max_records=200_000, max_seconds=30).records:
            yield f"{topic}@{rec.offset}", b"".join([rec.key or b"", rec.value or b"", *(v for _, v in rec.headers)])


def test_patient_erasure_leaves_nothing_readable_and_the_chain_verifies(
    tmp_path, monkeypatch, kafka_env, azure_env, bundle_dir
):
    from hcml.compliance.verify import verify_audit
    from hcml.compliance.trail import pipeline_log
    from hcml.events import messages, topics
    from hcml.events.producer import EventProducer
    from hcml.events.pseudonym import pseudonymise
    from hcml.events.submissions import poll_submissions
    from hcml.events.consumer import end_offsets
    from hcml_dagster.definitions import defs
    from resources import build_resources, tags
    from resources.jobs import SAMPLE_ASSET_KEYS, sample_run_config
    from resources.partitions import samples_partitions

    data_dir, home = tmp_path / "var", tmp_path / "var" / "dagster"
    home.mkdir(parents=True)
    monkeypatch.setenv("HCML_DATA_DIR", str(data_dir))
    monkeypatch.setenv("HCML_BUNDLE_DIR", str(bundle_dir))
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    patient_id, sample = f"MRN-{uuid.uuid4().hex[:10]}", f"PAT{uuid.uuid4().hex[:10].upper()}"
    vcf, marker = _patient_vcf(sample)
    needles = [patient_id.encode(), sample.encode(), marker.encode()]

    start = end_offsets(kafka_env, topics.RAW)
    sub = messages.make_submission(
        patient_id=patient_id, requester="dr.erase", department="genetics", project="erasure",
        input_kind="vcf", payload=vcf, sample=sample,
    )
    EventProducer(kafka_env).send(topics.RAW, messages.submission_event(sub))
    (item,) = [a for a in poll_submissions(kafka_env, start, max_seconds=20).accepted
               if a.submission.submission_id == sub.submission_id]
    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.add_dynamic_partitions(samples_partitions.name, [sub.submission_id])
        result = dg.materialize(
            list(defs.assets) + list(defs.asset_checks or []), selection=list(SAMPLE_ASSET_KEYS),
            instance=instance, resources={**defs.resources, **build_resources()}, partition_key=sub.submission_id,
            run_config=sample_run_config(item.source_uri, sample=item.submission.sample,
                                         submission_id=sub.submission_id),
            tags={tags.SUBMISSION_ID: sub.submission_id, tags.SOURCE_URI: item.source_uri},
        )
        assert result.success

    # the scans can fail: before erasure they find the patient where it is expected
    before_blobs = _hits(needles, _blobs(azure_env))
    assert any(f"reports/{sub.submission_id}/report.json: {marker}" in h for h in before_blobs), before_blobs
    assert any(f": {sample}" in h for h in _hits(needles, _files(home))), "the run config holds the sample"
    assert not _hits(needles, _kafka(kafka_env))  # sealed from the start: never readable on Kafka

    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "HCML_PATIENT_ID": patient_id}
    erased = subprocess.run([sys.executable, "-m", "hcml.cli", "patient", "erase", "--as-json"],
                            capture_output=True, text=True, env=env, timeout=300)
    assert erased.returncode == 0, erased.stdout + erased.stderr[-3000:]
    report = json.loads(erased.stdout[erased.stdout.index("{"):])
    assert report["submissions"] == 1 and report["key_shredded"] and report["orchestrator"]["runs"] == 1
    assert patient_id not in erased.stdout + erased.stderr and sample not in erased.stdout + erased.stderr

    assert _hits(needles, _files(data_dir)) == []
    assert _hits(needles, _blobs(azure_env)) == []
    assert _hits(needles, _kafka(kafka_env)) == []
    records = [r for r in __import__("hcml.events.consumer", fromlist=["read_batch"]).read_batch(
        kafka_env, topics.RAW, "hcml-test-reader", start, max_seconds=20).records if r.key == sub.submission_id.encode()]
    assert records
    with pytest.raises(messages.InvalidMessage, match="crypto-shredded"):
        messages.parse_submission(messages.from_kafka(records[0].key, records[0].value, records[0].headers))

    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert sub.submission_id not in instance.get_dynamic_partitions(samples_partitions.name)
        assert not instance.get_run_records(dg.RunsFilter(tags={tags.SUBMISSION_ID: sub.submission_id}))
        observed = instance.fetch_observations(dg.AssetKey("clinical_report"), limit=10).records
        assert any(o.asset_observation.metadata["patient_pseudonym"].value == pseudonymise(patient_id)
                   for o in observed)

    trail = [json.loads(line) for line in pipeline_log().read_text().splitlines()]
    tombstone = trail[-1]
    assert tombstone["event"] == "patient_erased" and tombstone["patient_pseudonym"] == pseudonymise(patient_id)
    assert verify_audit([pipeline_log()]).ok
