"""Prometheus metrics (and the closing trace spans) of finished Dagster runs.

Metrics: `hcml_dagster_runs_total`, `hcml_asset_duration_seconds`, `hcml_asset_rows_total`. Traces: a run
tagged with a submission's `hcml/traceparent` gets a `dagster.run` span with one child per step, so the
trace that started at the API ends with the run.

Run and step pods are short-lived, so the metrics are recorded where run-status sensors are evaluated (the
long-lived code-location server) from the run's event log: one count per finished run, one duration per
asset materialization (the `hcml/wall_seconds` that `measure_usage()` adds, else the step's own timing),
rows from `dagster/row_count`. They are then pushed to HCML_PROMETHEUS_PUSHGATEWAY if set (grouped by
the pod), and are visible on HCML_METRICS_PORT where a process serves it.
"""

from __future__ import annotations

import dagster as dg

from hcml import observability as obs
from hcml.cost.usage import WALL_SECONDS
from hcml.events import topics
from resources.metadata import metadata_values
from sensors.kafka_resource import KAFKA_DISABLED, KafkaResource

JOB_NAME = "hcml-dagster"


def _step_timings(instance: dg.DagsterInstance, run_id: str) -> dict[str, tuple[float, float, bool]]:
    """step key -> (start timestamp, end timestamp, succeeded) from STEP_START to STEP_SUCCESS/FAILURE."""
    started: dict[str, float] = {}
    done: dict[str, tuple[float, float, bool]] = {}
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        if event is None or event.step_key is None:
            continue
        if event.event_type == dg.DagsterEventType.STEP_START:
            started[event.step_key] = record.timestamp
        elif (
            event.event_type in (dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE)
            and event.step_key in started
        ):
            done[event.step_key] = (
                started[event.step_key],
                record.timestamp,
                event.event_type == dg.DagsterEventType.STEP_SUCCESS,
            )
    return done


def _step_durations(instance: dg.DagsterInstance, run_id: str) -> dict[str, tuple[float, bool]]:
    return {k: (end - start, ok) for k, (start, end, ok) in _step_timings(instance, run_id).items()}


def export_run_trace(instance: dg.DagsterInstance, run: dg.DagsterRun, status: str) -> object | None:
    """Close the submission's trace with the run: a `dagster.run` span (child of the span whose
    `traceparent` the Kafka sensor put in the run tags) and one child span per step, with the times the
    event log recorded. Runs without trace context are not traced (returns None)."""
    if obs.TRACEPARENT_TAG not in run.tags:
        return None
    from opentelemetry import trace

    stats = instance.get_run_stats(run.run_id)
    if not stats.start_time or not stats.end_time:
        return None
    ns = lambda t: int(t * 1e9)  # noqa: E731
    tracer = obs.tracer("hcml.dagster")
    span = tracer.start_span(
        f"dagster.run {run.job_name}",
        context=obs.context_from_attributes(run.tags),
        start_time=ns(stats.start_time),
        attributes={
            "dagster.run_id": run.run_id,
            "dagster.job": run.job_name,
            "dagster.status": status,
            "dagster.partition": run.tags.get("dagster/partition", ""),
        },
    )
    parent = trace.set_span_in_context(span)
    for step, (start, end, ok) in sorted(_step_timings(instance, run.run_id).items(), key=lambda kv: kv[1][0]):
        child = tracer.start_span(
            f"dagster.step {step}",
            context=parent,
            start_time=ns(start),
            attributes={"dagster.step": step, "dagster.succeeded": ok},
        )
        if not ok:
            child.set_status(trace.Status(trace.StatusCode.ERROR))
        child.end(end_time=ns(end))
    if status != "success":
        span.set_status(trace.Status(trace.StatusCode.ERROR, status))
    span.end(end_time=ns(stats.end_time))
    return span


def record_run_metrics(instance: dg.DagsterInstance, run: dg.DagsterRun, status: str) -> dict[str, float]:
    """Record one finished run; returns {asset: seconds} of what it observed (for logs and tests)."""
    obs.observe_run(run.job_name, status)
    steps = _step_durations(instance, run.run_id)
    observed: dict[str, float] = {}
    records = instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records
    for record in records:
        mat = record.event_log_entry.asset_materialization
        if mat is None:
            continue
        asset = mat.asset_key.to_user_string()
        step = record.event_log_entry.step_key
        metadata = metadata_values(mat.metadata)
        wall = metadata.get(WALL_SECONDS)
        seconds = float(wall) if wall is not None else steps.get(step, (None, True))[0]
        rows = metadata.get("dagster/row_count")
        if seconds is not None:
            obs.observe_asset(asset, seconds, success=True, rows=int(rows) if rows else None)
            observed[asset] = seconds
    for step, (seconds, succeeded) in steps.items():
        if not succeeded:
            obs.observe_asset(step, seconds, success=False)
            observed[step] = seconds
    return observed


def _record(context: dg.RunStatusSensorContext, status: str) -> None:
    observed = record_run_metrics(context.instance, context.dagster_run, status)
    obs.configure_tracing("hcml-dagster")
    export_run_trace(context.instance, context.dagster_run, status)
    pushed = obs.push_metrics(JOB_NAME)
    context.log.info(
        f"run {context.dagster_run.run_id}: {status}, {len(observed)} asset duration(s){' pushed' if pushed else ''}"
    )


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    name="run_metrics_success",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Prometheus metrics of successful runs (count, asset durations, rows).",
)
def run_metrics_success(context: dg.RunStatusSensorContext):
    _record(context, "success")


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.FAILURE,
    name="run_metrics_failure",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Prometheus metrics of failed runs (feeds the HcmlDagsterRunsFailing alert).",
)
def run_metrics_failure(context: dg.RunStatusSensorContext):
    _record(context, "failure")


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.CANCELED,
    name="run_metrics_canceled",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Prometheus metrics of canceled runs.",
)
def run_metrics_canceled(context: dg.RunStatusSensorContext):
    _record(context, "canceled")


@dg.sensor(
    name="kafka_lag_metrics",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="hcml_kafka_consumer_lag of every consumer group of the platform (the sensors' own too).",
)
def kafka_lag_metrics(context: dg.SensorEvaluationContext, kafka: KafkaResource):
    bootstrap = kafka.bootstrap_servers()
    if not bootstrap:
        return dg.SkipReason(KAFKA_DISABLED)
    lags = {
        group: sum(obs.record_group_lag(bootstrap, group, group_topics).values())
        for group, group_topics in topics.GROUP_TOPICS.items()
        if group != topics.GROUP_CLI_TAIL
    }
    obs.push_metrics(JOB_NAME)
    return dg.SkipReason("consumer lag: " + ", ".join(f"{g}={n}" for g, n in sorted(lags.items())))


SENSORS = [run_metrics_success, run_metrics_failure, run_metrics_canceled, kafka_lag_metrics]
