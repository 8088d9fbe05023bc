"""The queued path end to end: WebSocket submit -> Kafka -> Dagster sensor -> sample_report_job run ->
result on genetic-data-annotated -> pushed to the same WebSocket.

    .venv/bin/python bench/realtime_queued.py [--runs 3]

It starts a real Kafka broker (scripts/kafka.sh, unless HCML_KAFKA_BOOTSTRAP is set) and `hcml serve`, and
plays the Dagster daemon's part in this process, with the project's own code: the `kafka_submissions`
sensor is evaluated (tick after tick, as fast as it answers), each RunRequest is executed in process
(`execute_in_process` with the request's partition, run config and tags), and the `kafka_run_results`
run-status sensor publishes the result. What a deployment adds on top is the daemon's scheduling: the
sensor's `minimum_interval_seconds` (30 s: on average 15 s of waiting) and the launch of a run worker
(seconds on Kubernetes). The figure printed is therefore the floor of the queued path; the breakdown
says where the time goes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.realtime_startup import ensure_bundle  # noqa: E402

HG00096 = (REPO / "data" / "samples" / "HG00096_chr21_region.vcf").read_text()


def start_broker(directory: Path) -> str:
    from hcml.events.admin import ensure_topics

    out = subprocess.run(["bash", str(REPO / "scripts" / "kafka.sh"), "up", str(directory)], capture_output=True,
                         text=True, check=True)
    bootstrap = out.stdout.strip().splitlines()[-1]
    ensure_topics(bootstrap)
    return bootstrap


def dagster_location(bundle: Path, root: Path):
    import dagster as dg

    from hcml_dagster.definitions import defs
    from resources import ParquetIOManager, ReferenceBundleResource, StorageResource
    from resources.jobs import sample_report_job

    store = StorageResource(local_root=str(root / "store"))
    resources = {**defs.resources, "storage": store, "io_manager": ParquetIOManager(storage=store),
                 "reference": ReferenceBundleResource(path=str(bundle))}
    test_defs = dg.Definitions(assets=list(defs.assets), asset_checks=list(defs.asset_checks or []),
                               jobs=[sample_report_job], resources=resources)
    return test_defs.resolve_job_def("sample_report_job"), resources


async def one_submission(ws_url: str, token: str, instance, job, resources, bootstrap: str, cursor: list) -> dict:
    import dagster as dg
    from websockets.asyncio.client import connect

    from resources import tags
    from sensors.kafka_resource import KafkaResource
    from sensors.kafka_submissions import kafka_submissions
    from sensors.run_results import kafka_run_results

    marks: dict[str, float] = {}
    async with connect(ws_url, max_size=64 << 20) as ws:
        await ws.send(json.dumps({"type": "auth", "token": token}))
        assert json.loads(await ws.recv())["type"] == "ready"
        marks["submit"] = time.perf_counter()
        await ws.send(json.dumps({"type": "submit", "ref": "q", "vcf": HG00096, "patient_id": "BENCH-0001"}))
        queued = json.loads(await ws.recv())
        assert queued["type"] == "queued", queued
        sid = queued["submission_id"]
        marks["queued"] = time.perf_counter()
        request = None
        while request is None:  # sensor ticks back to back (the daemon waits minimum_interval_seconds)
            ctx = dg.build_sensor_context(instance=instance, cursor=cursor[0], sensor_name="kafka_submissions",
                                          resources={"kafka": KafkaResource(bootstrap=bootstrap),
                                                     "storage": resources["storage"]})
            result = await asyncio.to_thread(kafka_submissions, ctx)
            if isinstance(result, dg.SensorResult):
                cursor[0] = result.cursor or cursor[0]
                for req in result.dynamic_partitions_requests or []:
                    instance.add_dynamic_partitions(req.partitions_def_name, list(req.partition_keys))
                request = next((r for r in result.run_requests or [] if r.tags[tags.SUBMISSION_ID] == sid), None)
        marks["run_requested"] = time.perf_counter()
        run = await asyncio.to_thread(
            job.execute_in_process, instance=instance, partition_key=request.partition_key,
            run_config=request.run_config, tags={**request.tags, "dagster/sensor_name": "kafka_submissions",
                                                 "dagster/run_key": request.run_key})
        assert run.success
        marks["run_done"] = time.perf_counter()
        ctx = dg.build_run_status_sensor_context(
            sensor_name="kafka_run_results", dagster_event=run.get_run_success_event(), dagster_instance=instance,
            dagster_run=instance.get_run_by_id(run.run_id), resources={"kafka": KafkaResource(bootstrap=bootstrap)})
        await asyncio.to_thread(kafka_run_results, ctx)
        marks["published"] = time.perf_counter()
        while True:
            frame = json.loads(await ws.recv())
            if frame.get("type") == "result" and frame.get("submission_id") == sid:
                break
        marks["pushed"] = time.perf_counter()
        assert frame["status"] == "succeeded", frame
    t0 = marks["submit"]
    return {k: (v - t0) * 1000 for k, v in marks.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--bundle", default=None)
    args = ap.parse_args()
    import dagster as dg

    from hcml.events.consumer import dump_cursor, end_offsets

    bundle = ensure_bundle(args.bundle)
    root = Path(tempfile.mkdtemp(prefix="hcml-bench-queued-"))
    os.environ["HCML_DATA_DIR"] = str(root)
    os.environ.setdefault("HCML_PSEUDONYM_KEY", "bench-pseudonym-key")
    broker_dir = None
    bootstrap = os.environ.get("HCML_KAFKA_BOOTSTRAP")
    if not bootstrap:
        broker_dir = root / "kafka"
        bootstrap = start_broker(broker_dir)
        os.environ["HCML_KAFKA_BOOTSTRAP"] = bootstrap
    from hcml.events import topics
    from realtime.auth import mint_dev_token
    from realtime.settings import load_settings

    token = mint_dev_token(load_settings(), "clinician", subject="bench")
    proc = None
    try:
        proc, port = _start_with_kafka(bundle, root, bootstrap)
        job, resources = dagster_location(bundle, root)
        cursor = [dump_cursor(end_offsets(bootstrap, topics.RAW))]
        rows = []
        with dg.instance_for_test() as instance:
            for i in range(args.runs + 1):
                marks = asyncio.run(one_submission(f"ws://127.0.0.1:{port}/v1/ws", token, instance, job, resources,
                                                   bootstrap, cursor))
                label = "warm-up" if i == 0 else f"run {i}"
                print(f"{label}: queued {marks['queued']:.0f} ms, run requested {marks['run_requested']:.0f} ms, "
                      f"run done {marks['run_done']:.0f} ms, result published {marks['published']:.0f} ms, "
                      f"pushed to the WebSocket {marks['pushed']:.0f} ms")
                if i:
                    rows.append(marks)
        end = [r["pushed"] for r in rows]
        print(f"queued path (HG00096, 132 variants) submit -> pushed result: median {statistics.median(end):.0f} ms, "
              f"max {max(end):.0f} ms over {len(end)} runs; of which the Dagster run "
              f"{statistics.median(r['run_done'] - r['run_requested'] for r in rows):.0f} ms, Kafka + sensor "
              f"{statistics.median(r['run_requested'] - r['queued'] for r in rows):.0f} ms, result -> push "
              f"{statistics.median(r['pushed'] - r['published'] for r in rows):.0f} ms. A deployment adds the "
              "sensor interval (30 s) and the run worker's start.")
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
        if broker_dir is not None:
            subprocess.run(["bash", str(REPO / "scripts" / "kafka.sh"), "down", str(broker_dir)], capture_output=True)


def _start_with_kafka(bundle: Path, data_dir: Path, bootstrap: str):
    """`hcml serve` with Kafka configured (the sync benchmark's start_server runs it without)."""
    import socket

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("HCML_OIDC")}
    env.update(HCML_BUNDLE_DIR=str(bundle), HCML_DATA_DIR=str(data_dir), HCML_KAFKA_BOOTSTRAP=bootstrap,
               HCML_LOG_LEVEL="WARNING")
    proc = subprocess.Popen([sys.executable, "-m", "hcml.cli", "serve", "--port", str(port), "--log-level", "warning"],
                            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=open(data_dir / "server.log", "wb"))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            r = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1)
            if r.status_code == 200 and r.json()["kafka"]["broker_up"]:
                return proc, port
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("the server did not become ready with Kafka; see " + str(data_dir / "server.log"))


if __name__ == "__main__":
    main()
