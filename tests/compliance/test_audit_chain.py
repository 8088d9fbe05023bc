"""Tamper-evident audit trails: each of edit / insert / delete / reorder done to the real stores (the realtime
audit log file, the pipeline trail, outbox segment files, Kafka topics, anchors in Azurite) is found by
`hcml audit verify`, which names the place. The expectation is the test's own: it knows which line, frame
or offset it tampered with."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from hcml.compliance.verify import verify_audit
from hcml.config import REPO_ROOT


@pytest.fixture
def data_dir(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("HCML_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("HCML_AUDIT_ANCHOR_SECONDS", "3600")  # anchors at start and close only, unless asked
    return tmp_path


def _canonical(record: dict) -> str:
    """Written here, not imported: sorted keys, compact, UTF-8 (what the chain's spec says)."""
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _realtime_log(data_dir: Path, n: int = 8) -> list[str]:
    from realtime.audit import AuditLog

    path = data_dir / "realtime" / "audit.jsonl"
    log = AuditLog(path)
    for i in range(n):
        log.write(action=f"POST /v1/annotate/{i}", subject="clinician-7", role="clinician", status=200, outcome="ok")
    log.close()
    return path.read_text().splitlines()


def _verify_lines(data_dir: Path, lines: list[str]):
    path = data_dir / "realtime" / "audit.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return verify_audit([path])


def test_untouched_log_verifies_and_links_are_sha256_of_the_previous_line(data_dir):
    lines = _realtime_log(data_dir)
    records = [json.loads(x) for x in lines]
    assert [r["seq"] for r in records] == list(range(len(lines)))
    assert records[0]["prev"] == "0" * 64
    for before, after in zip(lines, records[1:]):
        assert after["prev"] == hashlib.sha256(_canonical(json.loads(before)).encode()).hexdigest()
    result = _verify_lines(data_dir, lines)
    assert result.ok, result.as_dict()
    (stream,) = result.streams
    assert stream.records == len(lines) and stream.anchors >= 2 and stream.anchored_seq == len(lines) - 1


def _edit(lines, i):
    record = json.loads(lines[i])
    record["status"] = 403
    lines[i] = _canonical(record)


def _insert(lines, i):
    """A forged record linked as a careful forger would: the right seq and the hash of the line before."""
    record = json.loads(lines[i - 1])
    record.update(action="GET /v1/results/forged", seq=record["seq"] + 1, prev=hashlib.sha256(lines[i - 1].encode()).hexdigest())
    lines.insert(i, _canonical(record))


@pytest.mark.parametrize(
    "tamper, kind, line",
    [
        (lambda ls: _edit(ls, 3), "edited", 4),
        (lambda ls: _insert(ls, 4), "inserted", 5),
        (lambda ls: ls.pop(5), "deleted", 5),  # gap between line 5 (seq 4) and line 6 (seq 6)
        (lambda ls: ls.insert(2, ls.pop(5)), "reordered", 3),
        (lambda ls: ls.pop(), "deleted", None),  # the last line: only its anchor knows it
        (lambda ls: _edit(ls, 7), "edited", 8),  # the last line, edited: against the anchor's head
        (lambda ls: ls.pop(0), "truncated", 1),
    ],
    ids=["edit", "insert", "delete", "reorder", "delete-last", "edit-last", "delete-first"],
)
def test_tampered_realtime_audit_log_is_named(data_dir, tamper, kind, line):
    lines = _realtime_log(data_dir)
    tamper(lines)
    result = _verify_lines(data_dir, lines)
    assert not result.ok
    problems = result.problems()
    assert kind in {p["kind"] for p in problems}, problems
    if line is not None:
        assert any(p["kind"] == kind and f"line {line})" in p["msg"] for p in problems), problems
    else:
        assert any("not among the records read" in p["msg"] for p in problems), problems


def test_whole_stream_deleted_is_found_by_its_anchor(data_dir):
    _realtime_log(data_dir)
    path = data_dir / "realtime" / "audit.jsonl"
    path.write_text("")
    result = verify_audit([path])
    assert not result.ok and result.problems()[0]["kind"] == "deleted"


def _append_many(data_dir: str, n: int, who: int) -> None:
    import os

    os.environ["HCML_DATA_DIR"] = data_dir
    from hcml.compliance.trail import append_pipeline_record

    for i in range(n):
        append_pipeline_record("report_issued", partition=f"p{who}-{i}", content_sha256="0" * 64)


def test_pipeline_trail_from_concurrent_processes_verifies_and_an_edit_is_named(data_dir):
    from hcml.compliance.trail import anchor_pipeline, pipeline_log

    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_append_many, args=(str(data_dir), 15, w)) for w in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    anchor_pipeline()
    path = pipeline_log()
    lines = path.read_text().splitlines()
    assert len(lines) == 45
    assert verify_audit([path]).ok
    record = json.loads(lines[20])
    record["partition"] = "someone-else"
    lines[20] = _canonical(record)
    path.write_text("\n".join(lines) + "\n")
    problems = verify_audit([path]).problems()
    assert [(p["kind"], p["index"]) for p in problems] == [("edited", 21)]
    assert "pipeline.jsonl line 21)" in problems[0]["msg"]


# ----------------------------------------------------------------------------------------- outbox files
def _outbox_with_events(root: Path, n: int = 6) -> None:
    from realtime.outbox import Outbox

    outbox = Outbox(root, max_bytes=64 << 20, fsync=False)
    outbox.open()
    for i in range(n):
        headers = [("ce_id", f"evt-{i}".encode()), ("ce_type", b"org.hcml.test")]
        outbox.append([("audit-test", f"k{i}".encode(), json.dumps({"i": i}).encode(), headers)]).result(10)
    outbox.close()


def _frames(root: Path) -> tuple[Path, list[bytes]]:
    from hcml.events.outbox_format import FRAME

    (segment,) = [s for s in root.glob("*/*.seg") if s.stat().st_size]
    data, frames, pos = segment.read_bytes(), [], 0
    while pos < len(data):
        _, length, _ = FRAME.unpack_from(data, pos)
        frames.append(data[pos : pos + FRAME.size + length])
        pos += FRAME.size + length
    return segment, frames


def _reframe(frame: bytes, value: bytes) -> bytes:
    """The same record with another value and a correct CRC (a forger who knows the format)."""
    from hcml.events.outbox_format import FRAME, Record

    record = Record.decode(frame[FRAME.size :])
    record.value = value
    return record.encode()


@pytest.mark.parametrize(
    "tamper, kind, ce_id",
    [
        (lambda fs: fs.__setitem__(2, _reframe(fs[2], b'{"i": 99}')), "edited", "evt-2"),
        (lambda fs: fs.insert(3, _reframe(fs[2], b'{"i": 99}')), "inserted", "evt-2"),
        (lambda fs: fs.pop(3), "deleted", "evt-4"),
    ],
    ids=["edit", "insert", "delete"],
)
def test_tampered_outbox_segment_is_named_by_ce_id(data_dir, tamper, kind, ce_id):
    root = data_dir / "outbox"
    _outbox_with_events(root)
    assert verify_audit([], outbox_root=root).ok
    segment, frames = _frames(root)
    tamper(frames)
    segment.write_bytes(b"".join(frames))
    problems = verify_audit([], outbox_root=root).problems()
    assert any(p["kind"] == kind and f"ce_id {ce_id}," in p["msg"] for p in problems), problems


def test_audit_verify_command_exit_status(data_dir):
    lines = _realtime_log(data_dir)
    env = {"HCML_DATA_DIR": str(data_dir), "PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO_ROOT)}
    run = [sys.executable, "-m", "hcml.cli", "audit", "verify", "--no-kafka"]
    good = subprocess.run(run, capture_output=True, text=True, env=env, timeout=120)
    assert good.returncode == 0, good.stdout + good.stderr
    lines.insert(2, lines.pop(4))
    (data_dir / "realtime" / "audit.jsonl").write_text("\n".join(lines) + "\n")
    bad = subprocess.run(run + ["--as-json"], capture_output=True, text=True, env=env, timeout=120)
    assert bad.returncode == 1
    report = json.loads(bad.stdout)
    assert {p["kind"] for s in report["streams"] for p in s["problems"]} == {"reordered"}


# ----------------------------------------------------------------------------------------------- Kafka
@pytest.mark.kafka
def test_kafka_events_verify_redelivery_is_not_tampering_forgery_and_deletion_are(kafka_env, data_dir):
    from confluent_kafka import Producer, TopicPartition
    from confluent_kafka.admin import AdminClient, NewTopic

    from hcml.compliance.verify import kafka_events
    from hcml.events.consumer import read_batch
    from realtime.events import EventPublisher

    topic = f"audit-test-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": kafka_env})
    admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])[topic].result(30)
    publisher = EventPublisher(kafka_env, outbox_dir=data_dir / "outbox", fsync=False)
    publisher.start()
    for i in range(10):
        headers = [("ce_id", f"evt-{i}".encode()), ("ce_type", b"org.hcml.test")]
        assert publisher.offer(topic, json.dumps({"i": i}).encode(), key=f"k{i % 3}", headers=headers)
    publisher.stop(flush_seconds=30)
    assert publisher.depth() == 0
    stream = publisher.outbox.chain.stream

    def check():
        result = verify_audit([], kafka_bootstrap=kafka_env, kafka_topics=[topic])
        return {s.stream: s for s in result.streams}[stream]

    assert check().ok and check().records == 10
    records = read_batch(kafka_env, topic, "hcml-test-reader", {}, max_records=100, max_seconds=20).records
    by_id = {dict(r.headers)["ce_id"].decode(): r for r in records}

    producer = Producer({"bootstrap.servers": kafka_env})
    again = by_id["evt-4"]  # the same event delivered twice (a resend after a lost acknowledgement)
    producer.produce(topic, again.value, again.key, partition=again.partition, headers=list(again.headers))
    producer.flush(10)
    assert check().ok

    forged = by_id["evt-6"]  # an event claiming evt-6's place with another value
    producer.produce(topic, b'{"i": 666}', forged.key, partition=forged.partition, headers=list(forged.headers))
    producer.flush(10)
    report = check()
    assert [p.kind for p in report.problems] == ["inserted"], report.as_dict()
    assert "ce_id evt-6" in report.problems[0].message and f"{topic}[{forged.partition}]@" in report.problems[0].message

    victim = by_id["evt-2"]  # records deleted off the broker: everything before evt-2's offset + 1 in its partition
    admin.delete_records([TopicPartition(topic, victim.partition, victim.offset + 1)])[
        TopicPartition(topic, victim.partition, victim.offset + 1)
    ].result(30)
    assert "evt-2" not in {e.event_id for e in kafka_events(kafka_env, [topic])}
    report = check()
    assert {p.kind for p in report.problems} & {"deleted", "truncated"}, report.as_dict()


# ---------------------------------------------------------------------------------------------- Azurite
@pytest.mark.azurite
def test_anchors_in_azurite_catch_a_deleted_tail(azure_env, data_dir):
    from azure.storage.blob import BlobServiceClient

    from hcml.compliance.anchors import read_anchors

    lines = _realtime_log(data_dir, n=5)
    service = BlobServiceClient.from_connection_string(azure_env["HCML_AZURE_STORAGE_CONNECTION_STRING"])
    names = [b.name for b in service.get_container_client(azure_env["HCML_AZURE_STORAGE_CONTAINER"]).list_blobs()]
    stream = json.loads(lines[0])["stream"]
    assert f"hcml-test/audit/anchors/{stream}/000000000005.json" in names
    assert read_anchors()[stream][-1]["head"] == hashlib.sha256(lines[-1].encode()).hexdigest()
    assert _verify_lines(data_dir, lines).ok
    problems = _verify_lines(data_dir, lines[:-2]).problems()
    assert [p["kind"] for p in problems] == ["deleted"] and "counts 5 records" in problems[0]["msg"]
