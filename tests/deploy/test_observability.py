"""hcml.observability: metric names, trace propagation through CloudEvents/Kafka headers/run tags, redaction."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from hcml import observability as obs


def test_exposed_series_match_a_real_scrape():
    # Observe every metric once, scrape with prometheus_client's own exposition, parse it back: the names
    # the helper promises (used by the dashboard test) are exactly what Prometheus would see.
    registry = CollectorRegistry()
    for metric in obs.METRICS.values():
        registry.register(metric)
        labels = {name: "x" for name in metric._labelnames}
        child = metric.labels(**labels) if labels else metric
        if metric._type == "gauge":
            child.set(1)
        elif metric._type == "counter":
            child.inc()
        else:
            child.observe(0.2)
    scraped = {s.name for fam in text_string_to_metric_families(generate_latest(registry).decode())
               for s in fam.samples}
    assert scraped == obs.exposed_series_names()
    assert "hcml_realtime_request_duration_seconds_bucket" in scraped
    assert "hcml_dagster_runs_total" in scraped


def test_metric_names_follow_prometheus_conventions():
    for name, metric in obs.METRICS.items():
        assert re.fullmatch(r"hcml_[a-z0-9_]+", name), name
        assert not name.endswith("_total"), name  # the client adds it
        assert metric._documentation
        assert not {"patient", "patient_id", "sample", "submission_id"} & set(metric._labelnames)


def test_time_request_records_status_class():
    before = obs.REALTIME_REQUESTS.labels("/t", "GET", "4xx")._value.get()
    with obs.time_request("/t", "GET") as holder:
        holder["status"] = 422
    assert obs.REALTIME_REQUESTS.labels("/t", "GET", "4xx")._value.get() == before + 1


@pytest.fixture()
def spans():
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    obs.configure_tracing("hcml-test", exporter=exporter)
    yield exporter
    exporter.clear()


def test_trace_follows_cloudevent_kafka_headers_and_run_tags(spans):
    # API span -> CloudEvent attributes -> Kafka binary headers (bytes, ce_ prefix) -> run tags -> run span.
    with obs.tracer().start_as_current_span("api.submit") as api_span:
        attrs = obs.trace_attributes()
    trace_id = format(api_span.get_span_context().trace_id, "032x")
    assert re.fullmatch(rf"00-{trace_id}-[0-9a-f]{{16}}-0[13]", attrs["traceparent"])

    headers = [("ce_specversion", b"1.0"), ("ce_traceparent", attrs["traceparent"].encode())]
    tags = obs.run_tags_from_attributes(headers)
    assert tags[obs.TRACEPARENT_TAG] == attrs["traceparent"]

    with obs.span_from(tags, "dagster.run", **{"hcml.job": "sample_report_job"}) as run_span:
        pass
    assert run_span.get_span_context().trace_id == api_span.get_span_context().trace_id
    assert run_span.parent.span_id == api_span.get_span_context().span_id
    assert {s.name for s in spans.get_finished_spans()} >= {"api.submit", "dagster.run"}


def test_invalid_traceparent_starts_a_new_trace(spans):
    assert obs.run_tags_from_attributes({"traceparent": "not-a-trace"}) == {}
    with obs.span_from({"traceparent": "00-zz-yy-01"}, "fresh") as span:
        pass
    assert span.parent is None


@pytest.fixture()
def json_logs():
    """configure_logging into a buffer; the global logging/structlog set-up is restored afterwards."""
    import structlog

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    stream = io.StringIO()
    obs.configure_logging("hcml-test", stream=stream)
    try:
        yield stream
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        structlog.reset_defaults()


def test_json_logs_redact_patient_data(json_logs):
    stream = json_logs
    sequence = "ACGT" * 20
    obs.get_logger("t").info("submission received", patient_id="P-0042", submission_id="s1",
                             note=f"seq {sequence} end", payload={"mrn": "123"}, n_variants=3)
    logging.getLogger("uvicorn.error").warning("raw %s", sequence)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    first, second = lines[-2], lines[-1]
    assert first["event"] == "submission received" and first["service"] == "hcml-test"
    assert first["patient_id"] == obs.REDACTED and first["payload"] == obs.REDACTED
    assert first["submission_id"] == "s1" and first["n_variants"] == 3
    assert sequence not in stream.getvalue() and "P-0042" not in stream.getvalue()
    assert "len=80" in first["note"]
    assert second["level"] == "warning" and "len=80" in second["event"]


def test_short_alleles_are_not_redacted():
    out = obs.redact_patient_data(None, "info", {"event": "21-25891796-C-T", "ref": "ACGTAC"})
    assert out == {"event": "21-25891796-C-T", "ref": "ACGTAC"}


def test_otlp_without_the_exporter_package_degrades_to_propagation(monkeypatch, caplog):
    try:
        import opentelemetry.exporter.otlp.proto.http  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("the OTLP exporter is installed here")
    monkeypatch.setattr(obs, "_tracing_configured", False)
    monkeypatch.setenv("HCML_OTEL_EXPORTER", "otlp")
    with caplog.at_level(logging.WARNING, logger="hcml.observability"):
        obs.configure_tracing("hcml-test")
    assert "not exported" in caplog.text
    with obs.tracer().start_as_current_span("still-propagates"):
        assert obs.trace_attributes()["traceparent"]


def test_unknown_exporter_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(obs, "_tracing_configured", False)
    monkeypatch.setenv("HCML_OTEL_EXPORTER", "zipkin")
    with pytest.raises(ValueError, match="HCML_OTEL_EXPORTER='zipkin'"):
        obs.configure_tracing("hcml-test")


def test_http_middleware_continues_the_callers_trace_into_what_the_request_publishes(spans):
    import asyncio

    import httpx

    published = []

    async def app(scope, receive, send):  # a bare ASGI app: what a route that publishes an event does
        published.append(obs.trace_attributes())
        await send({"type": "http.response.start", "status": 202, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"queued"})

    caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    incoming = f"00-{caller_trace}-00f067aa0ba902b7-01"

    async def call():
        transport = httpx.ASGITransport(app=obs.TraceContextMiddleware(app))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            with_parent = await client.post("/v1/submissions", headers={"traceparent": incoming})
            fresh = await client.get("/healthz")
        return with_parent, fresh

    with_parent, fresh = asyncio.run(call())
    assert with_parent.status_code == 202 and with_parent.text == "queued"
    assert with_parent.headers["traceparent"].split("-")[1] == caller_trace
    server = [s for s in spans.get_finished_spans() if s.name == "HTTP POST"][-1]
    assert server.parent.span_id == int("00f067aa0ba902b7", 16)
    assert server.attributes["http.response.status_code"] == 202
    assert fresh.headers["traceparent"].split("-")[1] != caller_trace  # no header: a new trace
    # what the first request would put in its CloudEvent continues the caller's trace; the second its own
    assert published[0]["traceparent"].split("-")[1] == caller_trace
    assert published[1]["traceparent"] == fresh.headers["traceparent"]
