"""Crypto-shredding (AES-256-GCM per data key) and retention per data class, on real files and the real
`cryptography` primitives; the scheduled Dagster job runs the same domain function."""

from __future__ import annotations

import base64
import json
import os
import time
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hcml.compliance import crypto


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("HCML_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("HCML_PSEUDONYM_KEY", "shred-test-key")
    for name in ("HCML_AZURE_STORAGE_CONNECTION_STRING", "HCML_AZURE_STORAGE_ACCOUNT_URL", "HCML_KEYSTORE_DIR"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_sealed_value_is_aes_gcm_under_the_key_file_and_unreadable_once_shredded(data_dir):
    sealed = crypto.seal_text("p1", "payload", "21\t25891796\t.\tC\tT")
    assert "25891796" not in sealed
    key_file = data_dir / "secrets" / "patient-keys" / "p1.key"
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    # decrypt independently with the key file and the documented layout: nonce(12) | ciphertext+tag, AAD key:field
    raw = base64.b64decode(sealed.rsplit(":", 1)[1])
    assert AESGCM(key_file.read_bytes()).decrypt(raw[:12], raw[12:], b"p1:payload") == b"21\t25891796\t.\tC\tT"
    with pytest.raises(ValueError, match="does not authenticate"):
        crypto.open_text("sample", sealed)  # moved to another field
    assert crypto.shred("p1") and not key_file.exists()
    with pytest.raises(crypto.Shredded):
        crypto.open_text("payload", sealed)


def test_submission_on_kafka_carries_no_payload_or_sample_in_clear_and_is_refused_after_shredding(data_dir):
    from hcml.events import messages

    vcf = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tSAMPLE-X9\n21\t25891796\t.\tC\tT\t.\t.\t.\tGT\t0|1\n"
    sub = messages.make_submission(patient_id="MRN-9", requester="r", department="d", project="p",
                                   input_kind="vcf", payload=vcf, sample="SAMPLE-X9")
    key, value, headers = messages.to_kafka(messages.submission_event(sub))
    assert b"SAMPLE-X9" not in value and b"25891796" not in value
    data = json.loads(value)
    assert data["patient_pseudonym"] == sub.patient_pseudonym and crypto.is_sealed(data["payload"])
    assert messages.parse_submission(messages.from_kafka(key, value, headers)) == sub
    crypto.shred(sub.patient_pseudonym)
    with pytest.raises(messages.InvalidMessage, match="crypto-shredded"):
        messages.parse_submission(messages.from_kafka(key, value, headers))


def _age(path, days):
    when = time.time() - days * 86400
    os.utime(path, (when, when))


def test_retention_deletes_each_class_past_its_days_and_shreds_old_day_keys(data_dir, monkeypatch):
    from hcml.compliance.retention import enforce_retention
    from hcml.compliance.trail import pipeline_log
    from hcml.compliance.verify import verify_audit
    from hcml.storage import open_store

    monkeypatch.setenv("HCML_RETENTION_INPUTS_DAYS", "10")
    monkeypatch.setenv("HCML_RETENTION_REPORTS_DAYS", "100")
    monkeypatch.setenv("HCML_RETENTION_EVENTS_DAYS", "5")
    store = open_store()
    paths = {}
    for key, age in [("submissions/a/input.vcf", 11), ("submissions/b/input.vcf", 9), ("reports/a/report.json", 99),
                     ("reports/old/report.json", 101), ("assets/sample_variants/old.parquet", 101)]:
        uri = store.put(key, b"x")
        paths[key] = store.root / key
        _age(paths[key], age)
    landing = data_dir / "landing"
    landing.mkdir()
    (landing / "old.vcf").write_text("x")
    _age(landing / "old.vcf", 30)
    now = datetime.now(UTC)
    for days in (2, 6, 40):
        crypto.seal_text(crypto.day_key_id(now - timedelta(days=days)), "payload", "x")
    report = enforce_retention(now)
    assert report.as_dict() == {"inputs": 1, "reports": 2, "landing_files": 1, "day_keys_shredded": 2}
    left = {k for k, p in paths.items() if p.exists()}
    assert left == {"submissions/b/input.vcf", "reports/a/report.json"}
    assert crypto.key_ids() == [crypto.day_key_id(now - timedelta(days=2))]
    trail = [json.loads(x) for x in pipeline_log().read_text().splitlines()]
    assert trail[-1]["event"] == "retention_enforced" and verify_audit([pipeline_log()]).ok
    del uri


def test_retention_job_is_scheduled_and_runs_the_domain_function(data_dir):
    import dagster as dg

    from hcml_dagster.compliance import retention_job, retention_schedule
    from hcml_dagster.definitions import defs

    assert defs.resolve_job_def("retention_job") is not None
    assert retention_schedule.cron_schedule == "30 2 * * *" and retention_schedule.job_name == "retention_job"
    with dg.instance_for_test() as instance:
        result = retention_job.execute_in_process(instance=instance)
    assert result.success and set(result.output_for_node("enforce_retention_op")) == {
        "inputs", "reports", "landing_files", "day_keys_shredded"}
