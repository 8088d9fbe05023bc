"""The realtime outbox's own cost per event, in process (CPU time, so that other processes on the machine
do not blur a sub-millisecond figure; wall time printed beside it).

    .venv/bin/python bench/realtime_outbox.py [--requests 3000] [--threads 8]

Per synchronous answer the service builds two CloudEvents (audit copy + result; built before this change
too, on the publisher thread) and now appends them to the outbox and waits for them to be on disk:
- build: the two events (make_submission / Result -> CloudEvent -> Kafka message), for reference;
- append + wait, one request at a time, `fsync=always` and `never`: the cost the outbox adds to a request;
- the same from `--threads` concurrent requesters (group commit: one fdatasync for the waiting ones);
- read + acknowledge every record back (what the publisher does besides producing);
- the audit hash chain's share: linking one event, and a chained audit-log line against a plain one.
End to end with the service: bench/realtime_latency.py --server-env HCML_KAFKA_BOOTSTRAP=<broker> (docs).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def two_events(result_id: str) -> list[tuple]:
    from hcml.events import messages, topics

    sub = messages.make_submission(submission_id=result_id, patient_id=f"unidentified:{result_id}", requester="bench",
                                   department="clinical", project="clinical-care", analysis="realtime_interpretation",
                                   input_kind="variants", payload="21-25891796-C-T", processing="realtime")
    res = messages.Result(submission_id=result_id, status="succeeded", summary={"n_variants": 1, "n_rejects": 0},
                          provenance={"result_id": result_id}, completed_at=datetime.now(UTC))
    return [(topics.RAW, *messages.to_kafka(messages.submission_event(sub, source=messages.SOURCE_REALTIME, trace={}))),
            (topics.ANNOTATED, *messages.to_kafka(messages.result_event(res, source=messages.SOURCE_REALTIME,
                                                                        event_id=f"{result_id}:result", trace={})))]


def timed(label: str, n_events: int, fn) -> None:
    w0, c0 = time.perf_counter(), cpu_seconds()
    fn()
    wall, cpu = time.perf_counter() - w0, cpu_seconds() - c0
    print(f"{label}: {cpu / n_events * 1e6:.1f} us CPU, {wall / n_events * 1e6:.1f} us wall per event "
          f"({n_events} events)")


def chain_cost(events: list) -> None:
    """The audit hash chain's own share: linking an event (the outbox writer does it per event) and a chained
    audit-log line against the plain JSON line it replaced."""
    import json

    from hcml.compliance.chain import ChainHead, chain_event

    flat = [e for pair in events for e in pair]
    head = ChainHead("bench")
    timed("audit chain: link one event (outbox writer thread)", len(flat),
          lambda: [chain_event(head, t, k, v, list(h)) for t, k, v, h in flat])
    line = {"ts": "2026-12-03T16:00:00.000+00:00", "request_id": "0" * 32, "subject": "clinician-7", "role": "clinician",
            "action": "POST /v1/annotate", "outcome": "ok", "status": 200, "n_variants": 3, "duration_ms": 12.5}
    timed("audit log line, plain json.dumps (before)", len(flat),
          lambda: [json.dumps(line, separators=(",", ":")) for _ in flat])
    from hcml.compliance.crypto import day_key_id, seal_text

    payload = "21\t25891796\t.\tC\tT\t.\t.\t.\n" * 20  # 640 bytes, a small sync input
    timed("seal an audit copy's payload (AES-GCM, day key)", len(flat),
          lambda: [seal_text(day_key_id(), "payload", payload) for _ in flat])
    head = ChainHead("bench-log")
    timed("audit log line, chained (canonical JSON + sha256)", len(flat), lambda: [head.link_encoded(line) for _ in flat])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--threads", type=int, default=8)
    args = ap.parse_args()
    os.environ.setdefault("HCML_PSEUDONYM_KEY", "bench-outbox")
    from realtime.outbox import Outbox

    n = args.requests
    events = [two_events(f"{i:032x}") for i in range(n)]
    timed("build the two events of an answer", 2 * n, lambda: [two_events(f"{i:032x}") for i in range(n)])
    chain_cost(events)
    for fsync in (True, False):
        box = Outbox(Path(tempfile.mkdtemp(prefix="hcml-bench-outbox-")), 1 << 34, fsync=fsync)
        box.open()
        policy = "always" if fsync else "never"
        timed(f"append + wait on disk, one request at a time, fsync={policy}", 2 * n,
              lambda: [box.append(e).result() for e in events])

        def concurrent() -> None:
            def worker(part: list) -> None:
                for e in part:
                    box.append(e).result()
            threads = [threading.Thread(target=worker, args=(events[i::args.threads],)) for i in range(args.threads)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()

        timed(f"append + wait, {args.threads} concurrent requesters, fsync={policy}", 2 * n, concurrent)

        def drain() -> None:
            while batch := box.read(500, 16 << 20):
                for pending in batch:
                    box.ack(pending)
        print(f"  on disk: {box.bytes_on_disk() / (4 * n):.0f} bytes per event")
        timed("read back + acknowledge (the publisher's share, Kafka aside)", 4 * n, drain)
        box.close()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
