"""Three real brokers (replication factor 3, min.insync.replicas 2): SIGKILL one while submissions are being
produced and consumed; every submission arrives exactly once (counted), none lost, none duplicated."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
from confluent_kafka.admin import AdminClient

from hcml.events import topics
from hcml.events.admin import describe_topics, ensure_topics
from hcml.events.messages import make_submission, submission_event
from hcml.events.producer import EventProducer
from hcml.events.submissions import poll_submissions
from hcml.storage import LocalStore

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

N_SUBMISSIONS = 1200
CHUNK = 50
VCF = (b"##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
       b"21\t25891796\t.\tC\tT\t.\t.\t.\n")


def _leader_of(bootstrap: str, topic: str, partition: int) -> int:
    return AdminClient({"bootstrap.servers": bootstrap}).list_topics(topic, timeout=10).topics[topic] \
        .partitions[partition].leader


def test_killing_a_broker_loses_and_duplicates_no_submission(kafka_cluster, tmp_path, monkeypatch):
    monkeypatch.setenv("HCML_PSEUDONYM_KEY", "fault-test-key")
    bootstrap = kafka_cluster.bootstrap
    ensure_topics(bootstrap)
    assert describe_topics(bootstrap)[topics.RAW]["replication_factor"] == 3

    store = LocalStore(tmp_path / "store")
    ids = [f"fault-{i:05d}" for i in range(N_SUBMISSIONS)]
    events = [submission_event(make_submission(submission_id=sid, patient_id=f"MRN-{sid}", requester="dr.f",
                                               department="genetics", project="fault", input_kind="vcf",
                                               payload=VCF), trace={}) for sid in ids]
    victim_id = _leader_of(bootstrap, topics.RAW, 0)
    victim_pid = kafka_cluster.node_pid(victim_id)
    assert victim_pid

    produced: list = []
    consumed: list[str] = []
    errors: list[BaseException] = []
    production_done = threading.Event()
    killed = threading.Event()

    def produce() -> None:
        try:
            with EventProducer(bootstrap, **{"client.id": "fault-producer"}) as producer:
                for start in range(0, N_SUBMISSIONS, CHUNK):
                    if start >= N_SUBMISSIONS // 3 and not killed.is_set():
                        os.kill(victim_pid, signal.SIGKILL)  # the leader of partition 0, mid-production
                        killed.set()
                    produced.extend(producer.send_many(topics.RAW, events[start:start + CHUNK], timeout=120))
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            production_done.set()

    def consume() -> None:
        offsets: dict[int, int] = {}
        try:
            # the sensor's own read path: bounded reads from a cursor; ends when everything produced is read
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                poll = poll_submissions(bootstrap, offsets, max_records=200, max_seconds=3, store=store)
                consumed.extend(a.submission.submission_id for a in poll.accepted)
                assert not poll.dead_lettered
                offsets = poll.offsets
                if production_done.is_set() and poll.end_of_partitions and not poll.accepted:
                    return
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=produce), threading.Thread(target=consume)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert killed.is_set()
    assert not errors, errors
    # every send was acknowledged exactly once by the surviving in-sync replicas
    assert len(produced) == N_SUBMISSIONS
    assert len({(d.partition, d.offset) for d in produced}) == N_SUBMISSIONS
    # counted on the consumer side: no loss, no duplicate
    assert len(consumed) == N_SUBMISSIONS
    assert sorted(consumed) == ids
    # the partition whose leader died has a new leader among the survivors
    assert _leader_of(bootstrap, topics.RAW, 0) not in (victim_id, -1)
