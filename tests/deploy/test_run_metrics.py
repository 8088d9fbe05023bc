"""sensors/run_metrics.py on real Dagster runs (an ephemeral instance, real event logs)."""

from __future__ import annotations

import time

import dagster as dg

from hcml import observability as obs
from sensors.run_metrics import record_run_metrics, run_metrics_failure, run_metrics_success

SLEEP = 0.3


@dg.asset
def slow_table() -> dg.MaterializeResult:
    start = time.perf_counter()
    time.sleep(SLEEP)
    return dg.MaterializeResult(metadata={"dagster/row_count": 7, "hcml/wall_seconds": time.perf_counter() - start})


@dg.asset
def untimed_table() -> None:
    time.sleep(SLEEP)


@dg.asset
def broken_table() -> None:
    time.sleep(SLEEP)
    raise RuntimeError("boom")


def _hist(asset: str, outcome: str) -> tuple[float, float]:
    child = obs.ASSET_DURATION_SECONDS.labels(asset, outcome)
    samples = {s.name: s.value for s in obs.ASSET_DURATION_SECONDS.collect()[0].samples
               if s.labels.get("asset") == asset and s.labels.get("outcome") == outcome}
    del child
    return samples.get("hcml_asset_duration_seconds_count", 0.0), samples.get("hcml_asset_duration_seconds_sum", 0.0)


def _runs(job: str, status: str) -> float:
    return obs.DAGSTER_RUNS.labels(job, status)._value.get()


def test_successful_run_counts_and_times_each_asset(monkeypatch):
    monkeypatch.delenv("HCML_PROMETHEUS_PUSHGATEWAY", raising=False)
    with dg.instance_for_test() as instance:
        result = dg.materialize([slow_table, untimed_table], instance=instance)
        run = instance.get_run_by_id(result.run_id)
        before_runs = _runs(run.job_name, "success")
        before = {a: _hist(a, "success") for a in ("slow_table", "untimed_table")}
        rows_before = obs.ASSET_ROWS.labels("slow_table")._value.get()

        event = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_SUCCESS)
        context = dg.build_run_status_sensor_context(
            sensor_name="run_metrics_success", dagster_event=event, dagster_instance=instance, dagster_run=run)
        run_metrics_success(context)

    assert _runs(run.job_name, "success") == before_runs + 1
    for asset in ("slow_table", "untimed_table"):  # with and without the usage metadata
        count, total = _hist(asset, "success")
        assert count == before[asset][0] + 1
        assert SLEEP <= total - before[asset][1] < SLEEP + 5
    assert obs.ASSET_ROWS.labels("slow_table")._value.get() == rows_before + 7


def test_failed_run_feeds_the_failed_runs_alert(monkeypatch):
    monkeypatch.delenv("HCML_PROMETHEUS_PUSHGATEWAY", raising=False)
    with dg.instance_for_test() as instance:
        result = dg.materialize([broken_table], instance=instance, raise_on_error=False)
        assert not result.success
        run = instance.get_run_by_id(result.run_id)
        before = _runs(run.job_name, "failure")
        before_hist = _hist("broken_table", "failure")
        event = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_FAILURE)
        context = dg.build_run_status_sensor_context(
            sensor_name="run_metrics_failure", dagster_event=event, dagster_instance=instance, dagster_run=run)
        run_metrics_failure(context)
        observed = record_run_metrics(instance, run, "failure")  # a second evaluation counts again
    assert _runs(run.job_name, "failure") == before + 2
    assert _hist("broken_table", "failure")[0] == before_hist[0] + 2
    assert observed["broken_table"] >= SLEEP


def test_push_is_a_no_op_without_a_gateway(monkeypatch):
    monkeypatch.delenv("HCML_PROMETHEUS_PUSHGATEWAY", raising=False)
    assert obs.push_metrics("hcml-dagster") is False


def test_push_sends_the_exposition_over_http(monkeypatch):
    # an HTTP server speaking the Pushgateway push API (POST /metrics/job/...): the body must be the exposition
    import http.server
    import threading

    received = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # pushadd = POST
            received["path"] = self.path
            received["body"] = self.rfile.read(int(self.headers["Content-Length"])).decode()
            self.send_response(202)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.handle_request, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("HCML_PROMETHEUS_PUSHGATEWAY", f"127.0.0.1:{server.server_port}")
        obs.observe_run("pushed_job", "success")
        assert obs.push_metrics("hcml-dagster") is True
        thread.join(10)
    finally:
        server.server_close()
    assert received["path"].startswith("/metrics/job/hcml-dagster/instance/")
    assert 'hcml_dagster_runs_total{job="pushed_job",status="success"}' in received["body"]


def test_run_span_continues_the_submission_trace():
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from sensors.run_metrics import export_run_trace

    exporter = InMemorySpanExporter()
    obs.configure_tracing("hcml-test", exporter=exporter)
    with obs.tracer().start_as_current_span("api.submit") as api_span:
        tags = obs.run_tags_from_attributes(obs.trace_attributes())
    with dg.instance_for_test() as instance:
        result = dg.materialize([slow_table, untimed_table], instance=instance, tags=tags)
        run = instance.get_run_by_id(result.run_id)
        assert export_run_trace(instance, run, "success") is not None
        untraced = dg.materialize([slow_table], instance=instance)
        assert export_run_trace(instance, instance.get_run_by_id(untraced.run_id), "success") is None
    spans = {s.name: s for s in exporter.get_finished_spans()}
    run_span = spans[f"dagster.run {run.job_name}"]
    api = api_span.get_span_context()
    assert run_span.context.trace_id == api.trace_id and run_span.parent.span_id == api.span_id
    steps = [s for name, s in spans.items() if name.startswith("dagster.step ")]
    assert {s.attributes["dagster.step"] for s in steps} == {"slow_table", "untimed_table"}
    for step in steps:
        assert step.parent.span_id == run_span.context.span_id
        assert step.end_time - step.start_time >= SLEEP * 1e9
        assert run_span.start_time <= step.start_time <= step.end_time <= run_span.end_time
