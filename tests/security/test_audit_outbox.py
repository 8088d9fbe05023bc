"""No answer without its audit record, and no audit record lost: the durable outbox against the real server
and a real Kafka broker.

The guarantee under test (docs/realtime.md, "Audit durability"): every synchronous answer's two events (the
audit copy on `genetic-data-raw`, the result on `genetic-data-annotated`) are on disk before the answer is
given; they reach Kafka at least once whatever the outage, across SIGTERM and restarts; the CloudEvent id
(`ce_id`) is the deduplication key, and after deduplication each event is there exactly once. Duplicates
come only from acknowledgements in flight at a crash: a run where the process is stopped by SIGTERM has
none, and the tests check that too. Over the byte budget the service answers 503 + Retry-After instead of
answering without audit.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from hcml.config import REPO_ROOT
from tests.realtime.conftest import Server, server_token, start_server, stop_server

SINGLE = {"variants": ["21-25891796-C-T"]}  # APP missense, real (ClinVar sample)


def _wait(predicate, what: str, seconds: float = 120.0):
    """A synchronisation guard for asynchronous effects, not a performance assertion."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


class Broker:
    """A broker of this module alone, stopped and started again on the same port."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.bootstrap = ""

    def _script(self, *args: str) -> str:
        out = subprocess.run(["bash", str(REPO_ROOT / "scripts" / "kafka.sh"), *args, str(self.directory)],
                             capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr[-2000:]
        return out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""

    def up(self) -> str:
        address = self._script("up")
        assert not self.bootstrap or address == self.bootstrap  # the same port: the producer reconnects
        self.bootstrap = address
        return address

    def down(self) -> None:
        self._script("down")


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory):
    from hcml.events.admin import ensure_topics

    b = Broker(tmp_path_factory.mktemp("audit-kafka"))
    b.up()
    ensure_topics(b.bootstrap)
    try:
        yield b
    finally:
        b.down()


def _read_all(bootstrap: str, topic: str) -> list:
    from hcml.events.consumer import read_batch

    return read_batch(bootstrap, topic, "hcml-test-audit-reader", {}, max_records=1_000_000,
                      max_seconds=60).records


def _ce_id(record) -> str:
    return dict(record.headers)["ce_id"].decode()


def _annotate_many(server: Server, token: str, n: int, threads: int = 8) -> tuple[list[str], Counter]:
    """`n` single-variant requests from `threads` clients: (result ids of the 200s, status counts)."""
    statuses: Counter = Counter()
    ids: list[str] = []
    headers = {"Authorization": f"Bearer {token}"}

    def worker(count: int) -> None:
        with httpx.Client(base_url=server.url, headers=headers, timeout=60) as client:
            for _ in range(count):
                try:
                    r = client.post("/v1/annotate", json=SINGLE)
                except httpx.TransportError:  # the server was killed: this client stops
                    statuses["no answer"] += 1
                    return
                statuses[r.status_code] += 1
                if r.status_code == 200:
                    ids.append(r.json()["result_id"])

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(worker, [n // threads + (i < n % threads) for i in range(threads)]))
    return ids, statuses


async def _ws_annotate(url: str, token: str) -> dict:
    """One WebSocket `annotate` against the real server: its final frame (result or error)."""
    import json

    from websockets.asyncio.client import connect

    async with connect(url) as ws:
        await ws.send(json.dumps({"type": "auth", "token": token}))
        assert json.loads(await ws.recv())["type"] == "ready"
        await ws.send(json.dumps({"type": "annotate", "ref": "r", **SINGLE}))
        while True:
            frame = json.loads(await ws.recv())
            if frame["type"] in ("result", "error"):
                return frame


def _metric(server: Server, name: str) -> float:
    for line in httpx.get(f"{server.url}/metrics", timeout=10).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


def _readyz(server: Server) -> dict:
    return httpx.get(f"{server.url}/readyz", timeout=10).json()


@pytest.mark.kafka
@pytest.mark.slow
def test_outage_sigterm_restart_delivers_every_event_once(broker, bundle_dir, tmp_path):
    """Broker down, 10,000 answers, SIGTERM, restart, broker back: 20,000 events, each once by ce_id."""
    from hcml.events import topics

    n = 10_000
    broker.down()
    data_dir = tmp_path / "data"
    env = {"HCML_KAFKA_BOOTSTRAP": broker.bootstrap}
    server = start_server(data_dir, bundle_dir, tmp_path / "first.log", **env)
    try:
        ids, statuses = _annotate_many(server, server_token(server, "clinician"), n)
        assert statuses == Counter({200: n}), statuses  # the outage costs disk, never an answer
        ready = _readyz(server)
        assert ready["kafka"]["broker_up"] is False and ready["audit_degraded"] is False
        assert ready["kafka"]["outbox"]["records"] == 2 * n  # the audit copy and the result of each answer
        assert _metric(server, "hcml_realtime_outbox_records") == 2 * n
        assert _metric(server, "hcml_realtime_outbox_bytes") > 0
        assert _metric(server, "hcml_realtime_outbox_oldest_age_seconds") > 0
        assert "/" not in str(ready["kafka"]["outbox"]) and broker.bootstrap not in str(ready)
    finally:
        stop_server(server)  # SIGTERM
    assert server.process.returncode in (0, -15)  # uvicorn re-raises SIGTERM after a clean shutdown
    assert "Application shutdown complete" in server.logs()
    assert f"{2 * n} events" in server.logs() and "kept in the outbox for the next start" in server.logs()

    server = start_server(data_dir, bundle_dir, tmp_path / "second.log", **env)
    try:
        assert _readyz(server)["kafka"]["outbox"]["records"] == 2 * n  # replayed from disk
        broker.up()
        _wait(lambda: _readyz(server)["kafka"]["outbox"]["records"] == 0, "the outbox to drain", 300)
        assert _metric(server, "hcml_realtime_outbox_oldest_age_seconds") == 0
    finally:
        stop_server(server)

    raw = [r for r in _read_all(broker.bootstrap, topics.RAW) if r.key and r.key.decode() in set(ids)]
    annotated = [r for r in _read_all(broker.bootstrap, topics.ANNOTATED) if r.key and r.key.decode() in set(ids)]
    for name, records in (("raw", raw), ("annotated", annotated)):
        by_result = Counter(r.key.decode() for r in records)
        assert set(by_result) == set(ids), f"{name}: {len(set(ids) - set(by_result))} answers without an event"
        distinct = {_ce_id(r) for r in records}
        assert len(distinct) == n, f"{name}: {len(distinct)} distinct event ids for {n} answers"
        assert len(records) == n, f"{name}: {len(records) - n} duplicates after a clean SIGTERM"
    assert {_ce_id(r) for r in annotated} == {f"{rid}:result" for rid in ids}


@pytest.mark.kafka
@pytest.mark.slow
def test_every_answer_given_before_a_sigkill_reaches_kafka(broker, bundle_dir, tmp_path):
    """Broker up, the process killed (SIGKILL) while answering: every answer it gave has both events on
    Kafka after a restart. Duplicates are allowed here (acknowledgements in flight at the kill), and are
    the same event by ce_id."""
    import signal
    import threading

    from hcml.events import topics

    broker.up()
    data_dir = tmp_path / "data"
    env = {"HCML_KAFKA_BOOTSTRAP": broker.bootstrap}
    server = start_server(data_dir, bundle_dir, tmp_path / "first.log", **env)
    got: dict = {}
    load = threading.Thread(target=lambda: got.update(
        zip(("ids", "statuses"), _annotate_many(server, server_token(server, "clinician"), 4000))))
    try:
        load.start()
        _wait(lambda: _readyz(server)["kafka"]["delivered"] >= 1000, "a thousand events delivered")
        server.process.send_signal(signal.SIGKILL)
        load.join()
    finally:
        stop_server(server)
    ids = set(got["ids"])
    assert got["statuses"]["no answer"] > 0 and len(ids) >= 500, got["statuses"]  # killed mid-load

    server = start_server(data_dir, bundle_dir, tmp_path / "second.log", **env)
    try:
        _wait(lambda: _readyz(server)["kafka"]["outbox"]["records"] == 0, "the outbox to drain", 300)
    finally:
        stop_server(server)
    for topic in (topics.RAW, topics.ANNOTATED):
        records = [r for r in _read_all(broker.bootstrap, topic) if r.key and r.key.decode() in ids]
        assert {r.key.decode() for r in records} == ids, f"{topic}: answers without their event"
        by_id: dict[str, set[str]] = {}
        for r in records:
            by_id.setdefault(_ce_id(r), set()).add(r.key.decode())
        assert len(by_id) == len(ids) and all(len(v) == 1 for v in by_id.values())  # one id per answer


@pytest.mark.kafka
@pytest.mark.azurite
def test_a_replica_stopped_during_an_outage_hands_its_events_to_the_next_through_blob(
        broker, azurite, bundle_dir, tmp_path):
    """A pod's emptyDir goes with the pod: on SIGTERM the undelivered segments go to Blob (real Azurite) and
    a replica starting on another volume takes them over; every event reaches Kafka once."""
    import uuid

    from hcml.events import topics

    n = 50
    broker.down()
    env = {"HCML_KAFKA_BOOTSTRAP": broker.bootstrap,
           "HCML_AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string,
           "HCML_AZURE_STORAGE_CONTAINER": f"t{uuid.uuid4().hex[:12]}", "HCML_AZURE_STORAGE_PREFIX": "hcml-test"}
    first = start_server(tmp_path / "pod-a", bundle_dir, tmp_path / "a.log", **env)
    try:
        ids, statuses = _annotate_many(first, server_token(first, "clinician"), n, threads=2)
        assert statuses == Counter({200: n})
    finally:
        stop_server(first)
    assert f"{2 * n} undelivered events" in first.logs() and "handed over to the object store" in first.logs()
    assert not [p for p in (tmp_path / "pod-a").rglob("*.seg") if p.stat().st_size]  # nothing left behind

    second = start_server(tmp_path / "pod-b", bundle_dir, tmp_path / "b.log", **env)
    try:
        assert _readyz(second)["kafka"]["outbox"]["records"] == 2 * n
        broker.up()
        _wait(lambda: _readyz(second)["kafka"]["outbox"]["records"] == 0, "the outbox to drain", 180)
    finally:
        stop_server(second)
    for topic in (topics.RAW, topics.ANNOTATED):
        records = [r for r in _read_all(broker.bootstrap, topic) if r.key and r.key.decode() in set(ids)]
        assert sorted(r.key.decode() for r in records) == sorted(ids), topic  # each answer's event, once
        assert len({_ce_id(r) for r in records}) == n


@pytest.mark.kafka
def test_over_budget_answers_503_with_retry_after_until_the_broker_drains_it(broker, bundle_dir, tmp_path):
    budget = 64 << 10
    broker.down()
    server = start_server(tmp_path / "data", bundle_dir, tmp_path / "server.log",
                          HCML_KAFKA_BOOTSTRAP=broker.bootstrap, HCML_REALTIME_OUTBOX_MAX_BYTES=str(budget),
                          HCML_REALTIME_RETRY_AFTER="7")
    try:
        token = server_token(server, "clinician")
        headers = {"Authorization": f"Bearer {token}"}
        answered = 0
        with httpx.Client(base_url=server.url, headers=headers, timeout=60) as client:
            for _ in range(2000):
                r = client.post("/v1/annotate", json=SINGLE)
                if r.status_code != 200:
                    break
                answered += 1
            assert r.status_code == 503, r.text
            assert r.headers["retry-after"] == "7" and "audit" in r.json()["detail"]
            ready = _readyz(server)
            assert ready["audit_degraded"] is True
            # every answer given has both its events on disk, and nothing else is there
            assert ready["kafka"]["outbox"]["records"] == 2 * answered
            assert ready["kafka"]["outbox"]["bytes"] >= budget
            assert _metric(server, "hcml_realtime_outbox_degraded") == 1
            assert "audit trail degraded" in server.logs()
            frame = asyncio.run(_ws_annotate(server.url.replace("http://", "ws://") + "/v1/ws", token))
            assert frame["type"] == "error" and frame["status"] == 503 and "audit" in frame["detail"], frame
            assert _readyz(server)["kafka"]["outbox"]["records"] == 2 * answered  # nothing answered meanwhile
            broker.up()
            _wait(lambda: client.post("/v1/annotate", json=SINGLE).status_code == 200, "answers again", 180)
        assert _metric(server, "hcml_realtime_outbox_degraded") == 0
        assert "audit trail recovered" in server.logs()
    finally:
        stop_server(server)


def test_events_of_large_answers_wait_on_disk_not_in_memory(bundle_dir, tmp_path):
    """150 answers to 1 MB VCF bodies with Kafka unreachable: their events wait in the outbox (the large
    audit payloads in the object store), not in the server's memory. The in-memory buffer this replaces
    held each body and each answer until delivery: +371 MB for the same run (measured, 922c45e)."""
    from tests.security.conftest import rss_bytes

    lines = (REPO_ROOT / "data" / "samples" / "HG00096_chr21_region.vcf").read_text().splitlines(keepends=True)
    meta = [x for x in lines if x.startswith("##")]
    rest = [x for x in lines if not x.startswith("##")]
    size = sum(map(len, lines))
    body = "".join(meta) + "##padding=" + "x" * (1_000_000 - size - 20) + "\n" + "".join(rest)
    server = start_server(tmp_path / "data", bundle_dir, tmp_path / "server.log",
                          HCML_KAFKA_BOOTSTRAP="127.0.0.1:9",  # nothing listens there
                          HCML_REALTIME_RESULTS_CACHE="1")  # the provenance cache holds answers by design
    try:
        headers = {"Authorization": f"Bearer {server_token(server, 'clinician')}"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=120) as client:
            assert client.post("/v1/annotate", json={"vcf": body}).status_code == 200  # warm
            before = rss_bytes(server)
            for _ in range(150):
                r = client.post("/v1/annotate", json={"vcf": body})
                assert r.status_code == 200, r.text[:300]
        grown = rss_bytes(server) - before
        outbox = _readyz(server)["kafka"]["outbox"]
    finally:
        stop_server(server)
    assert outbox["records"] == 2 * 151
    assert grown < 50e6, f"server memory grew {grown / 1e6:.0f} MB for 150 MB of bodies waiting for Kafka"


def test_a_torn_tail_and_a_damaged_record_are_skipped_with_a_log_line(tmp_path, caplog):
    """What a crash mid-write (a frame cut short) and a flipped bit leave on disk: both found by their
    length/crc32 frame, logged, skipped; every other record is read back, in order."""
    from realtime.outbox import Outbox

    ids = [f"event-{i}" for i in range(30)]
    box = Outbox(tmp_path / "outbox", max_bytes=1 << 20)
    box.open()
    for i in ids:
        assert box.append([("t", i.encode(), i.encode() * 10, [("ce_id", i.encode())])]).result(10)
    box.close()
    (segment,) = [p for p in (tmp_path / "outbox").glob("*/*.seg") if p.stat().st_size]
    data = bytearray(segment.read_bytes())
    start_of_tenth = data.index(b"event-10event-10")  # inside record 10's value
    data[start_of_tenth] ^= 0x01
    whole_frame = data[data.index(b"HCOB", start_of_tenth):]
    whole_frame = whole_frame[: whole_frame.index(b"HCOB", 4)]
    segment.write_bytes(bytes(data) + bytes(whole_frame[: len(whole_frame) // 2]))  # torn at the end

    caplog.set_level(logging.WARNING, logger="hcml.realtime.outbox")
    box = Outbox(tmp_path / "outbox", max_bytes=1 << 20)
    box.open()
    got = []
    while batch := box.read(7, 1 << 20):
        for pending in batch:
            got.append(pending.record.event_id)
            box.ack(pending)
    box.close()
    assert got == [i for i in ids if i != "event-10"]
    skipped = [r.getMessage() for r in caplog.records if "unreadable bytes skipped" in r.getMessage()]
    assert any("a damaged record" in m for m in skipped) and any("a torn write" in m for m in skipped)
    assert not [p for p in (tmp_path / "outbox").glob("*/*.seg") if p.stat().st_size]  # all delivered: removed


def test_a_write_the_disk_refuses_fails_its_requests_and_degrades_never_hangs(tmp_path, caplog):
    """The segment's descriptor swapped for a read-only one: the kernel refuses the write (EBADF), as it
    would a full or failed disk. The waiting request gets OutboxUnavailable (the route's 503), the outbox
    says degraded and logs it; nothing half-written stays behind."""
    from realtime.outbox import Outbox, OutboxUnavailable

    box = Outbox(tmp_path, 1 << 20)
    box.open()
    try:
        assert box.append([("t", None, b"kept", [("ce_id", b"kept")])]).result(10)
        read_only = os.open("/dev/null", os.O_RDONLY)
        os.dup2(read_only, box._active_fd)
        os.close(read_only)
        caplog.set_level(logging.ERROR, logger="hcml.realtime.outbox")
        with pytest.raises(OutboxUnavailable):
            box.append([("t", None, b"refused", [("ce_id", b"refused")])]).result(10)
        assert box.degraded and box.records == 1
        assert any("audit trail degraded" in r.getMessage() for r in caplog.records)
        with pytest.raises(OutboxUnavailable):  # refused at once while the error is fresh
            box.append([("t", None, b"refused", [("ce_id", b"again")])]).result(10)
        assert [p.record.value for p in box.read(10, 1 << 20)] == [b"kept"]
    finally:
        box.close()


def test_a_second_process_takes_over_an_outbox_left_behind(tmp_path):
    """Two workers keep a directory each (flock); a directory whose owner is gone is taken over and replayed."""
    from realtime.outbox import Outbox

    first, second = Outbox(tmp_path, 1 << 20), Outbox(tmp_path, 1 << 20)
    first.open()
    second.open()
    assert first.directory != second.directory
    assert first.append([("t", None, b"from-first", [("ce_id", b"a")])]).result(10)
    assert second.append([("t", None, b"from-second", [("ce_id", b"b")])]).result(10)
    first.close()
    second.close()
    third = Outbox(tmp_path, 1 << 20)
    third.open()
    try:
        values = sorted(p.record.value for p in third.read(10, 1 << 20))
        assert values == [b"from-first", b"from-second"]
        assert len([p for p in tmp_path.iterdir() if p.is_dir()]) == 1
    finally:
        third.close()
