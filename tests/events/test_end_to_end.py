"""End to end on the real broker: three real VCF submissions -> sensor tick -> sample_report_job runs
(executed on a test instance with the requested partition, run config and tags) -> clinical reports ->
result events read back from genetic-data-annotated. A replayed tick launches nothing twice; a run that
fails publishes a failed result.

The Dagster daemon launches a RunRequest only if no run of the sensor has its run key yet; `_launch`
applies that same rule (tags `dagster/sensor_name` + `dagster/run_key`), then executes the run in process.
"""

from __future__ import annotations

import json

import dagster as dg
import pytest

from hcml.events import topics
from hcml.events.consumer import dump_cursor, end_offsets, read_batch
from hcml.events.messages import SOURCE_DAGSTER, from_kafka, make_submission, parse_result, submission_event
from hcml.events.producer import EventProducer
from resources import tags
from resources.jobs import SAMPLE_ASSET_KEYS
from sensors.kafka_resource import KafkaResource
from sensors.kafka_submissions import kafka_submissions
from sensors.run_results import kafka_run_failures, kafka_run_results
from tests.events._support import read_store_uri, sample_vcfs, vcf_submission_events

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

RUN_KEY_TAG = "dagster/run_key"
SENSOR_TAG = "dagster/sensor_name"


def _carried(vcf: bytes) -> set[tuple[int, str, str]]:
    """(pos, ref, alt) the VCF's single sample carries (any non-0 allele), or every record without samples."""
    out = set()
    for line in vcf.decode().splitlines():
        if not line or line.startswith("#"):
            continue
        cols = line.split("\t")
        if len(cols) > 9:
            alleles = cols[9].split(":")[0].replace("/", "|").split("|")
            if not any(a not in ("0", ".") for a in alleles):
                continue
        for alt in cols[4].split(","):
            out.add((int(cols[1]), cols[3], alt))
    return out


@pytest.fixture(scope="module")
def location(tmp_path_factory, bundle_dir):
    """The code location's job and resources, with a private local store and the test bundle."""
    from hcml_dagster.definitions import defs
    from resources.jobs import sample_report_job
    from resources import StorageResource, resources_for

    root = tmp_path_factory.mktemp("e2e")
    resources = {**defs.resources, **resources_for(StorageResource(local_root=str(root / "store")), bundle_dir)}
    test_defs = dg.Definitions(assets=list(defs.assets), asset_checks=list(defs.asset_checks or []),
                               jobs=[sample_report_job], resources=resources)
    return {"job": test_defs.resolve_job_def("sample_report_job"), "resources": resources, "root": root}


def _tick(instance, location, bootstrap, cursor):
    context = dg.build_sensor_context(instance=instance, cursor=cursor, sensor_name="kafka_submissions",
                                      resources={"kafka": KafkaResource(bootstrap=bootstrap, max_seconds_per_tick=15),
                                                 "storage": location["resources"]["storage"]})
    result = kafka_submissions(context)
    # what the daemon does with the result's partitions requests
    for request in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    return result


def _launch(instance, location, request) -> dg.ExecuteInProcessResult | None:
    """Run a request unless a run with its run key exists (the daemon's rule)."""
    existing = instance.get_run_records(dg.RunsFilter(tags={SENSOR_TAG: "kafka_submissions", RUN_KEY_TAG: request.run_key}))
    if existing:
        return None
    return location["job"].execute_in_process(
        instance=instance, partition_key=request.partition_key, run_config=request.run_config,
        tags={**request.tags, SENSOR_TAG: "kafka_submissions", RUN_KEY_TAG: request.run_key},
        raise_on_error=False,
    )


def _publish(instance, bootstrap, result: dg.ExecuteInProcessResult) -> None:
    """Evaluate the run-status sensors for a finished run, as the daemon would."""
    run = instance.get_run_by_id(result.run_id)
    resources = {"kafka": KafkaResource(bootstrap=bootstrap)}
    if result.success:
        ctx = dg.build_run_status_sensor_context(sensor_name="kafka_run_results", dagster_event=result.get_run_success_event(),
                                                 dagster_instance=instance, dagster_run=run, resources=resources)
        kafka_run_results(ctx)
    else:
        ctx = dg.build_run_status_sensor_context(sensor_name="kafka_run_failures", dagster_event=result.get_run_failure_event(),
                                                 dagster_instance=instance, dagster_run=run,
                                                 resources=resources).for_run_failure()
        kafka_run_failures(ctx)


def _results(bootstrap, start):
    records = read_batch(bootstrap, topics.ANNOTATED, "test-e2e-reader", start, max_seconds=20).records
    out = []
    for r in records:
        event = from_kafka(r.key, r.value, r.headers)
        out.append((event, parse_result(event)))
    return out


def test_three_submissions_to_reports_and_result_events(kafka_env, location, monkeypatch, tmp_path):
    monkeypatch.setenv("HCML_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("HCML_MLFLOW_TRACKING_URI", raising=False)
    bootstrap = kafka_env
    raw_start, annotated_start = end_offsets(bootstrap, topics.RAW), end_offsets(bootstrap, topics.ANNOTATED)
    subs = vcf_submission_events("e2e")
    with EventProducer(bootstrap) as producer:
        producer.send_many(topics.RAW, [e for _, e in subs])

    with dg.instance_for_test() as instance:
        tick = _tick(instance, location, bootstrap, dump_cursor(raw_start))
        assert len(tick.run_requests) == 3
        assert set(instance.get_dynamic_partitions("samples")) >= {s.submission_id for s, _ in subs}
        runs = [_launch(instance, location, r) for r in tick.run_requests]
        assert all(r is not None and r.success for r in runs), [r.run_id for r in runs if r and not r.success]
        # a replayed tick (same cursor) asks for the same run keys, and nothing runs twice
        replay = _tick(instance, location, bootstrap, dump_cursor(raw_start))
        assert [r.run_key for r in replay.run_requests] == [r.run_key for r in tick.run_requests]
        assert [_launch(instance, location, r) for r in replay.run_requests] == [None, None, None]
        assert len(instance.get_run_records(dg.RunsFilter(tags={SENSOR_TAG: "kafka_submissions"}))) == 3
        for run in runs:
            stored = instance.get_run_by_id(run.run_id)
            assert stored.job_name == "sample_report_job"
            assert {k: stored.tags[k] for k in (tags.DEPARTMENT, tags.PROJECT, tags.USER)}
            materialized = {e.asset_key.to_user_string() for e in run.get_asset_materialization_events()}
            assert materialized == set(SAMPLE_ASSET_KEYS)
            _publish(instance, bootstrap, run)

    results = _results(bootstrap, annotated_start)
    assert len(results) == 3  # one result per run, none twice
    originals = sample_vcfs()
    for event, result in results:
        assert event.get_source() == SOURCE_DAGSTER and event.get_id() == f"{result.run_id}:result"
        assert result.status == "succeeded"
        name = result.submission_id.removeprefix("e2e-")
        report = json.loads(read_store_uri(result.report_uri))
        assert report["submission_id"] == result.submission_id
        carried = _carried(originals[name])  # independent reading of the input VCF
        assert {(v["pos"], v["ref"], v["alt"]) for v in report["variants"]} == carried
        assert result.summary["n_reported"] == len(carried)
        assert result.provenance["provenance_sha256"] == report["integrity"]["provenance_sha256"]
        assert result.summary["department"] in ("genetics", "oncology")
    assert {r.submission_id for _, r in results} == {s.submission_id for s, _ in subs}


def test_failed_run_publishes_a_failed_result(kafka_env, location, monkeypatch, tmp_path):
    monkeypatch.setenv("HCML_DATA_DIR", str(tmp_path / "var"))
    bootstrap = kafka_env
    raw_start, annotated_start = end_offsets(bootstrap, topics.RAW), end_offsets(bootstrap, topics.ANNOTATED)
    # a stored payload (binary: not inlined) that passes the consumer's checks and fails the run's reader: an
    # inline VCF that breaks the header rule is dead-lettered before any run (test_submissions_sensor)
    sub = make_submission(submission_id="e2e-not-a-vcf", patient_id="MRN-X", requester="dr.f", department="genetics",
                          project="p", input_kind="vcf", payload=b"\x1f\x8bnot a gzip stream\n",
                          store=location["resources"]["storage"].open())
    with EventProducer(bootstrap) as producer:
        producer.send(topics.RAW, submission_event(sub))
    with dg.instance_for_test() as instance:
        (request,) = _tick(instance, location, bootstrap, dump_cursor(raw_start)).run_requests
        run = _launch(instance, location, request)
        assert not run.success
        _publish(instance, bootstrap, run)
    ((event, result),) = _results(bootstrap, annotated_start)
    assert result.submission_id == "e2e-not-a-vcf" and result.status == "failed"
    assert result.error and result.report_uri is None and result.run_id == run.run_id
