"""`hcml kafka` against the real broker."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from hcml.cli import main
from hcml.events import topics
from hcml.events.consumer import end_offsets, read_batch
from hcml.events.messages import from_kafka, parse_submission
from tests.events._support import SAMPLES

pytestmark = pytest.mark.kafka


def test_topics_produce_and_tail(kafka_env):
    runner = CliRunner()
    out = runner.invoke(main, ["kafka", "topics"])
    assert out.exit_code == 0, out.output
    lines = {line.split("\t")[0]: line for line in out.output.splitlines()}
    assert set(lines) == set(topics.TOPICS) and "partitions=6" in lines[topics.RAW]

    start = end_offsets(kafka_env, topics.RAW)
    vcf = SAMPLES / "clinvar2016_chr21_region.vcf"
    out = runner.invoke(main, ["kafka", "produce", str(vcf), "--requester", "dr.cli", "--department", "genetics",
                               "--project", "cli", "--submission-id", "cli-1"], env={"HCML_PATIENT_ID": "MRN-CLI-1"})
    assert out.exit_code == 0, out.output
    answer = json.loads(out.output.strip().splitlines()[-1])
    assert answer["submission_id"] == "cli-1" and answer["payload"] == "inline"
    (record,) = read_batch(kafka_env, topics.RAW, "test-cli", start, max_seconds=15).records
    assert (record.partition, record.offset) == (answer["partition"], answer["offset"])
    sub = parse_submission(from_kafka(record.key, record.value, record.headers))
    assert sub.payload.encode() == vcf.read_bytes() and sub.requester == "dr.cli"
    assert b"MRN-CLI-1" not in record.value

    out = runner.invoke(main, ["kafka", "tail", "--topic", "raw", "--idle", "3"])
    assert out.exit_code == 0, out.output
    tailed = [json.loads(line) for line in out.output.splitlines() if line.startswith("{")]
    mine = [t for t in tailed if t.get("data", {}).get("submission_id") == "cli-1"]
    assert len(mine) == 1 and "payload" not in mine[0]["data"]  # the input itself is never printed


def test_no_bootstrap_is_a_usage_error(monkeypatch):
    monkeypatch.delenv("HCML_KAFKA_BOOTSTRAP", raising=False)
    out = CliRunner().invoke(main, ["kafka", "topics"])
    assert out.exit_code == 2 and "HCML_KAFKA_BOOTSTRAP" in out.output
