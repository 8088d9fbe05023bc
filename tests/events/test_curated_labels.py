"""Curated labels: `hcml kafka produce-labels` (real ClinVar rows) -> clinvar-labels-curated -> the
`kafka_curated_labels` sensor -> a TSV in the ML labels directory that the ML label rule reads exactly as
it reads the original rows."""

from __future__ import annotations

import gzip
import json

import dagster as dg
import pytest
from click.testing import CliRunner

from hcml.cli import main
from hcml.config import REPO_ROOT
from hcml.events import topics
from hcml.events.consumer import dump_cursor, end_offsets, read_batch
from hcml.events.producer import DLQ_REASON, EventProducer
from sensors.kafka_labels import kafka_curated_labels
from sensors.kafka_resource import KafkaResource

pytestmark = pytest.mark.kafka
CLINVAR = REPO_ROOT / "data" / "clinvar" / "clinvar_2016-05-20.lifted_GRCh38.tsv.gz"


def _app_rows(n: int) -> str:
    """The header and the first n APP rows of the shipped ClinVar release (real assertions)."""
    with gzip.open(CLINVAR, "rt") as fh:
        header = fh.readline()
        rows = [line for line in fh if line.split("\t")[9] == "APP"][:n]
    return header + "".join(rows)


def test_labels_flow_from_kafka_to_the_ml_labels_dir(kafka_env, tmp_path, monkeypatch):
    from hcml.ml.data import clinvar_labels

    labels_dir = tmp_path / "labels"
    monkeypatch.setenv("HCML_LABELS_DIR", str(labels_dir))
    bootstrap = kafka_env
    start, dlq_start = end_offsets(bootstrap, topics.LABELS), end_offsets(bootstrap, topics.DLQ)
    source = tmp_path / "curated.tsv"
    source.write_text(_app_rows(12))

    out = CliRunner().invoke(main, ["kafka", "produce-labels", str(source), "--curated-by", "curator.a"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output.strip().splitlines()[-1])["labels"] == 12
    with EventProducer(bootstrap) as producer:  # and one invalid message, which must not stop the rest
        producer.send_raw(topics.LABELS, b"bad", b'{"symbol": "APP"}', [
            ("ce_id", b"x"), ("ce_source", b"/t"), ("ce_type", b"org.hcml.label.v1"), ("ce_specversion", b"1.0"),
            ("content-type", b"application/json")])

    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance, cursor=dump_cursor(start),
                                          resources={"kafka": KafkaResource(bootstrap=bootstrap)})
        result = kafka_curated_labels(context)
    files = sorted(labels_dir.glob("kafka-*.tsv"))
    assert len(files) == 1
    ours = clinvar_labels([files[0]])
    expected = clinvar_labels([source])  # the ML rule applied to the original real rows
    cols = ["chrom", "pos", "ref", "alt", "symbol", "hgvs_c", "hgvs_p", "clinical_significance", "label"]
    assert ours.select(cols).sort(cols).rows() == expected.select(cols).sort(cols).rows()
    assert ours.height > 0
    assert sum(json.loads(result.cursor).values()) - sum(start.values()) == 13
    (dead,) = read_batch(bootstrap, topics.DLQ, "test-labels-dlq", dlq_start, max_seconds=15).records
    assert dict(dead.headers)[DLQ_REASON].decode().startswith("data.")
