"""Kafka figures on a local broker started by this script (scripts/kafka.sh), printed and returned as JSON.

1. produce -> consume latency (p50/p99) of submission CloudEvents, one at a time at a steady rate,
   with the platform's producer settings (idempotent, acks=all) and a consumer assigned at the end;
2. throughput: submission events produced (every delivery report checked) and consumed, per second;
3. time from a submission landing (broker ack) to its Dagster run being requested: a
   `kafka_submissions` sensor tick evaluated right after the ack (the daemon adds its tick interval,
   30 s by default, on top).

    .venv/bin/python bench/kafka_latency.py [--messages 5000] [--throughput 20000] [--sensor-trials 10] [--cluster]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def latency(bootstrap: str, n: int, rate: float) -> dict:
    from confluent_kafka import OFFSET_END, Consumer, Producer, TopicPartition

    from hcml.events.admin import ensure_topics
    from hcml.events.consumer import consumer_config
    from hcml.events.messages import make_submission, submission_event, to_kafka
    from hcml.events.producer import producer_config
    from hcml.events.topics import TopicSpec

    topic = "bench-latency"
    ensure_topics(bootstrap, [TopicSpec(topic, 1, 3)])  # RF 3 on the cluster, 1 on one broker
    consumer = Consumer(consumer_config(bootstrap, "bench-latency", **{"enable.partition.eof": False,
                                                                          "fetch.wait.max.ms": 5}))
    consumer.assign([TopicPartition(topic, 0, OFFSET_END)])
    consumer.consume(timeout=1.0)
    latencies: list[float] = []
    done = threading.Event()

    def consume() -> None:
        while len(latencies) < n and not done.is_set():
            msg = consumer.poll(0.1)
            if msg is not None and not msg.error():
                if b"warm-up" in dict(msg.headers()).get("bench_phase", b""):
                    continue
                sent = float(dict(msg.headers())["bench_sent"])
                latencies.append(time.perf_counter() - sent)

    reader = threading.Thread(target=consume)
    reader.start()
    time.sleep(0.5)
    producer = Producer(producer_config(bootstrap))
    errors = []
    sub = make_submission(submission_id="bench", patient_id="MRN-bench", requester="bench", department="bench",
                          project="bench", input_kind="variants", payload="21-25891796-C-T")
    key, value, headers = to_kafka(submission_event(sub, trace={}))
    # warm-up (not measured): the idempotent producer id, connections, the consumer's first fetches
    for _ in range(200):
        producer.produce(topic, value=value, key=key, headers=headers + [("bench_phase", b"warm-up"),
                                                                         ("bench_sent", b"0")])
        producer.poll(0)
    producer.flush(30)
    time.sleep(1.0)
    interval = 1.0 / rate
    next_at = time.perf_counter()
    for _ in range(n):
        now = time.perf_counter()
        if now < next_at:
            time.sleep(next_at - now)
        next_at += interval
        producer.produce(topic, value=value, key=key,
                         headers=headers + [("bench_sent", repr(time.perf_counter()).encode())],
                         on_delivery=lambda err, msg: errors.append(err) if err else None)
        producer.poll(0)
    producer.flush(30)
    reader.join(timeout=60)
    done.set()
    consumer.close()
    assert not errors, errors[:3]
    ms = [x * 1000 for x in latencies]
    return {"messages": len(ms), "rate_per_s": rate, "p50_ms": round(_pct(ms, 0.50), 2),
            "p99_ms": round(_pct(ms, 0.99), 2), "max_ms": round(max(ms), 2), "mean_ms": round(statistics.mean(ms), 2)}


def throughput(bootstrap: str, n: int) -> dict:
    from hcml.events.admin import ensure_topics
    from hcml.events.consumer import read_batch
    from hcml.events.messages import make_submission, submission_event
    from hcml.events.producer import EventProducer
    from hcml.events.topics import TopicSpec

    topic = "bench-throughput"
    ensure_topics(bootstrap, [TopicSpec(topic, 6, 3)])
    vcf = (ROOT / "data/samples/clinvar2016_chr21_region.vcf").read_text()
    t0 = time.perf_counter()
    events = [submission_event(make_submission(submission_id=f"tp-{i}", patient_id=f"MRN-{i}", requester="b",
                                               department="b", project="b", input_kind="vcf", payload=vcf), trace={})
              for i in range(n)]
    build_s = time.perf_counter() - t0
    size = sum(len(json.dumps(e.get_data())) for e in events[:100]) / 100
    t0 = time.perf_counter()
    with EventProducer(bootstrap) as producer:
        for start in range(0, n, 5000):
            producer.send_many(topic, events[start:start + 5000])
    produce_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    got = 0
    offsets: dict[int, int] = {}
    while got < n:
        batch = read_batch(bootstrap, topic, "bench-throughput", offsets, max_records=n, max_seconds=60)
        got += len(batch.records)
        for r in batch.records:
            offsets[r.partition] = r.offset + 1
        if batch.end_of_partitions:
            break
    consume_s = time.perf_counter() - t0
    return {"messages": n, "mean_event_bytes": int(size), "build_events_per_s": int(n / build_s),
            "produce_acked_per_s": int(n / produce_s), "produce_MB_per_s": round(n * size / produce_s / 1e6, 1),
            "consumed": got, "consume_per_s": int(got / consume_s)}


def sensor_latency(bootstrap: str, trials: int) -> dict:
    import dagster as dg

    from hcml.events import topics
    from hcml.events.consumer import dump_cursor, end_offsets
    from hcml.events.messages import make_submission, submission_event
    from hcml.events.producer import EventProducer
    from resources import StorageResource
    from sensors.kafka_resource import KafkaResource
    from sensors.kafka_submissions import kafka_submissions

    vcf = (ROOT / "data/samples/HG00096_chr21_region.vcf").read_bytes()
    times = []
    with tempfile.TemporaryDirectory() as tmp, dg.instance_for_test() as instance:
        resources = {"kafka": KafkaResource(bootstrap=bootstrap), "storage": StorageResource(local_root=tmp)}
        cursor = dump_cursor(end_offsets(bootstrap, topics.RAW))
        with EventProducer(bootstrap) as producer:
            for i in range(trials):
                sub = make_submission(submission_id=f"sensor-{i}", patient_id=f"MRN-{i}", requester="b",
                                      department="b", project="b", input_kind="vcf", payload=vcf)
                producer.send(topics.RAW, submission_event(sub, trace={}))  # returns at the broker's ack
                t0 = time.perf_counter()
                result = kafka_submissions(dg.build_sensor_context(instance=instance, cursor=cursor,
                                                                   resources=resources))
                times.append(time.perf_counter() - t0)
                assert [r.tags["hcml/submission_id"] for r in result.run_requests] == [sub.submission_id]
                cursor = result.cursor
    ms = [t * 1000 for t in times]
    return {"trials": trials, "ack_to_run_requested_p50_ms": round(_pct(ms, 0.5), 1),
            "ack_to_run_requested_max_ms": round(max(ms), 1),
            "plus_daemon_interval_s": 30, "note": "a tick runs every minimum_interval_seconds=30; mean wait 15 s"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=500.0, help="messages per second for the latency run")
    parser.add_argument("--throughput", type=int, default=20000)
    parser.add_argument("--sensor-trials", type=int, default=10)
    parser.add_argument("--cluster", action="store_true",
                        help="three brokers, replication factor 3, min.insync.replicas 2 (acks=all waits for 2)")
    args = parser.parse_args()
    os.environ.setdefault("HCML_PSEUDONYM_KEY", "bench-key")
    with tempfile.TemporaryDirectory(prefix="hcml-kafka-bench-") as tmp:
        os.environ["HCML_DATA_DIR"] = str(Path(tmp) / "var")
        script = ROOT / "scripts" / "kafka.sh"
        t0 = time.perf_counter()
        up, down = ("cluster-up", "cluster-down") if args.cluster else ("up", "down")
        bootstrap = subprocess.run(["bash", str(script), up, str(Path(tmp) / "kafka")], check=True,
                                   capture_output=True, text=True).stdout.strip().splitlines()[-1]
        startup_s = time.perf_counter() - t0
        try:
            from hcml.events.admin import ensure_topics

            ensure_topics(bootstrap)
            kind = "three KRaft nodes, RF 3, min ISR 2" if args.cluster else "single KRaft node"
            figures = {"broker": f"Apache Kafka 4.1.1 (scripts/kafka.sh, {kind}), started in {startup_s:.1f} s",
                       "latency": latency(bootstrap, args.messages, args.rate),
                       "throughput": throughput(bootstrap, args.throughput),
                       "sensor": sensor_latency(bootstrap, args.sensor_trials)}
        finally:
            subprocess.run(["bash", str(script), down, str(Path(tmp) / "kafka")], capture_output=True)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
