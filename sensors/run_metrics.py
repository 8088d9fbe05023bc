"""Prometheus metrics of finished Dagster runs: `hcml_dagster_runs_total` and `hcml_asset_duration_seconds`.

Run and step pods are short-lived, so the metrics are recorded where run-status sensors are evaluated (the
long-lived code-location server) from the run's event log: one count per finished run, one duration per
asset materialization (the `hcml/wall_seconds` that `measure_usage()` adds, else the step's own timing),
rows from `dagster/row_count`. They are then pushed to HCML_PROMETHEUS_PUSHGATEWAY if set (grouped by
the pod), and are visible on HCML_METRICS_PORT where a process serves it.
"""

from __future__ import annotations

import dagster as dg

from hcml import observability as obs

JOB_NAME = "hcml-dagster"


def _value(entry) -> object:
    return getattr(entry, "value", entry)


def _step_durations(instance: dg.DagsterInstance, run_id: str) -> dict[str, tuple[float, bool]]:
    """step key -> (seconds from STEP_START to success/failure, succeeded)."""
    started: dict[str, float] = {}
    done: dict[str, tuple[float, bool]] = {}
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        if event is None or event.step_key is None:
            continue
        if event.event_type == dg.DagsterEventType.STEP_START:
            started[event.step_key] = record.timestamp
        elif event.event_type in (dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE):
            if event.step_key in started:
                done[event.step_key] = (record.timestamp - started[event.step_key],
                                        event.event_type == dg.DagsterEventType.STEP_SUCCESS)
    return done


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
        wall = _value(mat.metadata.get("hcml/wall_seconds")) if "hcml/wall_seconds" in mat.metadata else None
        seconds = float(wall) if wall is not None else steps.get(step, (None, True))[0]
        rows = _value(mat.metadata.get("dagster/row_count")) if "dagster/row_count" in mat.metadata else None
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
    pushed = obs.push_metrics(JOB_NAME)
    context.log.info(f"run {context.dagster_run.run_id}: {status}, {len(observed)} asset duration(s)"
                     f"{' pushed' if pushed else ''}")


@dg.run_status_sensor(run_status=dg.DagsterRunStatus.SUCCESS, name="run_metrics_success",
                      minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING,
                      description="Prometheus metrics of successful runs (count, asset durations, rows).")
def run_metrics_success(context: dg.RunStatusSensorContext):
    _record(context, "success")


@dg.run_status_sensor(run_status=dg.DagsterRunStatus.FAILURE, name="run_metrics_failure",
                      minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING,
                      description="Prometheus metrics of failed runs (feeds the HcmlDagsterRunsFailing alert).")
def run_metrics_failure(context: dg.RunStatusSensorContext):
    _record(context, "failure")


@dg.run_status_sensor(run_status=dg.DagsterRunStatus.CANCELED, name="run_metrics_canceled",
                      minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING,
                      description="Prometheus metrics of canceled runs.")
def run_metrics_canceled(context: dg.RunStatusSensorContext):
    _record(context, "canceled")


SENSORS = [run_metrics_success, run_metrics_failure, run_metrics_canceled]
