"""Publish every finished `sample_report_job` run's result on `genetic-data-annotated`.

One run-status sensor per outcome (success, failure). The result carries the submission id (run tag, or
the partition for runs that did not come from Kafka), the report URIs and provenance hash from the
`clinical_report` materialization, and a summary. The CloudEvent id is `<run id>:result`, so a result
re-published after a failed tick is recognisable as the same event (consumers de-duplicate on it).
"""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg

from hcml.events import topics
from hcml.events.messages import SOURCE_DAGSTER, Result, result_event
from hcml.events.producer import EventProducer
from hcml.observability import TRACEPARENT_TAG, TRACESTATE_TAG
from resources import tags
from resources.jobs import sample_report_job
from resources.metadata import metadata_values
from sensors.kafka_resource import KAFKA_DISABLED, KafkaResource

REPORT_ASSET = dg.AssetKey("clinical_report")
SUMMARY_KEYS = ("n_reported", "n_clinvar_pathogenic", "dagster/row_count", "model")


def report_metadata(instance: dg.DagsterInstance, run_id: str) -> dict:
    """The `clinical_report` materialization metadata of a run ({} if it did not get that far)."""
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records
    for record in reversed(records):
        mat = record.event_log_entry.asset_materialization
        if mat is not None and mat.asset_key == REPORT_ASSET:
            return metadata_values(mat.metadata)
    return {}


def result_for_run(instance: dg.DagsterInstance, run: dg.DagsterRun, status: str, error: str | None = None) -> Result:
    meta = report_metadata(instance, run.run_id)
    submission_id = (
        run.tags.get(tags.SUBMISSION_ID) or meta.get("submission_id") or run.tags.get("dagster/partition") or run.run_id
    )
    summary = {k.replace("dagster/", ""): meta[k] for k in SUMMARY_KEYS if k in meta}
    for key in (tags.DEPARTMENT, tags.PROJECT, tags.ANALYSIS):
        if key in run.tags:
            summary[key.split("/", 1)[1]] = run.tags[key]
    provenance = {"run_id": run.run_id, "job": run.job_name, "partition": run.tags.get("dagster/partition")}
    for k in ("provenance_sha256", "content_sha256"):
        if meta.get(k):
            provenance[k] = meta[k]
    return Result(
        submission_id=submission_id,
        status=status,  # type: ignore[arg-type]
        summary=summary,
        report_uri=meta.get("report_uri") or None,
        report_html_uri=meta.get("report_html_uri") or None,
        provenance=provenance,
        run_id=run.run_id,
        error=error,
        completed_at=datetime.now(UTC),
    )


def publish_run_result(
    bootstrap: str, instance: dg.DagsterInstance, run: dg.DagsterRun, status: str, error: str | None = None
) -> Result:
    result = result_for_run(instance, run, status, error)
    trace = {
        k: run.tags[t] for k, t in (("traceparent", TRACEPARENT_TAG), ("tracestate", TRACESTATE_TAG)) if t in run.tags
    }
    event = result_event(result, SOURCE_DAGSTER, event_id=f"{run.run_id}:result", trace=trace)
    with EventProducer(bootstrap) as producer:
        producer.send(topics.ANNOTATED, event)  # raises if not acknowledged: the sensor tick fails and retries
    return result


@dg.run_status_sensor(
    name="kafka_run_results",
    run_status=dg.DagsterRunStatus.SUCCESS,
    monitored_jobs=[sample_report_job],
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Publish each succeeded sample_report_job run's result on genetic-data-annotated.",
)
def kafka_run_results(context: dg.RunStatusSensorContext, kafka: KafkaResource):
    bootstrap = kafka.bootstrap_servers()
    if not bootstrap:
        return dg.SkipReason(KAFKA_DISABLED)
    result = publish_run_result(bootstrap, context.instance, context.dagster_run, "succeeded")
    context.log.info(f"published the result of submission {result.submission_id} (run {result.run_id})")


@dg.run_failure_sensor(
    name="kafka_run_failures",
    monitored_jobs=[sample_report_job],
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Publish each failed sample_report_job run as a failed result on genetic-data-annotated.",
)
def kafka_run_failures(context: dg.RunFailureSensorContext, kafka: KafkaResource):
    bootstrap = kafka.bootstrap_servers()
    if not bootstrap:
        return dg.SkipReason(KAFKA_DISABLED)
    message = context.failure_event.message or "run failed"
    result = publish_run_result(bootstrap, context.instance, context.dagster_run, "failed", error=message[:2000])
    context.log.info(f"published the failure of submission {result.submission_id} (run {result.run_id})")
