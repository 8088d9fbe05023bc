"""Metrics, traces and logs shared by every part of hcml (realtime, Kafka consumers, Dagster assets).

One place defines each Prometheus metric name, so that the Grafana dashboard and the alert rules under
`deploy/observability/` refer to metrics that exist (a test checks it). Traces follow a submission from
the API through Kafka into the Dagster run: the W3C `traceparent` travels as a CloudEvent extension
attribute (CloudEvents distributed-tracing extension) and then as a Dagster run tag. Logs are structlog
JSON with patient identifiers and sequences redacted before they are written.

Nothing here reads the environment at import time, and nothing imports Dagster or a web framework.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    pushadd_to_gateway,
    start_http_server,
)

# --------------------------------------------------------------------------------------------------
# Prometheus metrics. Names are the contract; labels are low-cardinality (never a patient, sample or
# submission id). Counters are exposed with the `_total` suffix, histograms as `_bucket/_sum/_count`.
# --------------------------------------------------------------------------------------------------

# Latency buckets for the clinician-facing API: the target is "well under a second".
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0)
# Pipeline steps run from a second to hours.
ASSET_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600)
COST_BUCKETS = (0.001, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 50, 100)

# realtime service
REALTIME_REQUEST_SECONDS = Histogram(
    "hcml_realtime_request_duration_seconds",
    "Time to answer a realtime API request, by route template, method and HTTP status class.",
    ["route", "method", "status"],
    buckets=LATENCY_BUCKETS,
)
REALTIME_REQUESTS = Counter(
    "hcml_realtime_requests",
    "Realtime API requests answered, by route template, method and HTTP status class.",
    ["route", "method", "status"],
)
REALTIME_VARIANTS = Counter(
    "hcml_realtime_variants",
    "Variants interpreted in-process by the realtime service, by outcome (annotated/rejected).",
    ["outcome"],
)
REALTIME_WEBSOCKETS = Gauge(
    "hcml_realtime_websocket_connections",
    "Open WebSocket connections pushing progress to clinicians.",
)
REALTIME_OUTBOX_BYTES = Gauge(
    "hcml_realtime_outbox_bytes",
    "Bytes on disk in the realtime service's event outbox (events not yet acknowledged by Kafka).",
)
REALTIME_OUTBOX_RECORDS = Gauge(
    "hcml_realtime_outbox_records",
    "Events recorded in the realtime outbox and not yet acknowledged by Kafka.",
)
REALTIME_OUTBOX_OLDEST_AGE = Gauge(
    "hcml_realtime_outbox_oldest_age_seconds",
    "Age of the oldest event in the realtime outbox not yet acknowledged by Kafka (0 when none).",
)
REALTIME_OUTBOX_DEGRADED = Gauge(
    "hcml_realtime_outbox_degraded",
    "1 while the audit trail is degraded (outbox over its byte budget or unwritable): sync answers get 503.",
)

# Kafka producers and consumers
KAFKA_MESSAGES_PRODUCED = Counter(
    "hcml_kafka_messages_produced",
    "CloudEvents produced, by topic and delivery outcome (delivered/failed).",
    ["topic", "outcome"],
)
KAFKA_MESSAGES_CONSUMED = Counter(
    "hcml_kafka_messages_consumed",
    "Messages consumed, by topic, consumer group and outcome (processed/dead_lettered/duplicate).",
    ["topic", "consumer_group", "outcome"],
)
KAFKA_DEAD_LETTERS = Counter(
    "hcml_kafka_dead_letters",
    "Messages sent to the dead-letter topic, by source topic and reason class.",
    ["topic", "reason"],
)
KAFKA_CONSUMER_LAG = Gauge(
    "hcml_kafka_consumer_lag",
    "Messages not yet consumed (high watermark minus committed offset), by topic, partition and group.",
    ["topic", "partition", "consumer_group"],
)

# Dagster pipeline
ASSET_DURATION_SECONDS = Histogram(
    "hcml_asset_duration_seconds",
    "Wall time of one asset materialization, by asset key and outcome (success/failure).",
    ["asset", "outcome"],
    buckets=ASSET_BUCKETS,
)
ASSET_ROWS = Counter(
    "hcml_asset_rows",
    "Rows written by asset materializations, by asset key.",
    ["asset"],
)
DAGSTER_RUNS = Counter(
    "hcml_dagster_runs",
    "Dagster runs that reached a terminal state, by job and status (success/failure/canceled).",
    ["job", "status"],
)
ANNOTATED_VARIANTS = Counter(
    "hcml_annotated_variants",
    "Variants annotated by the batch pipeline or the realtime service, by path (batch/realtime).",
    ["path"],
)

# cost attribution
ANALYSIS_COST = Histogram(
    "hcml_analysis_cost",
    "Cost of one analysis in the rate card's currency, by department.",
    ["department"],
    buckets=COST_BUCKETS,
)
DEPARTMENT_SPEND = Gauge(
    "hcml_department_spend",
    "Spend so far in the current budget period, by department (rate card currency).",
    ["department"],
)
DEPARTMENT_BUDGET = Gauge(
    "hcml_department_budget",
    "Budget of the current period, by department (rate card currency).",
    ["department"],
)

# model
MODEL_SCORE_SECONDS = Histogram(
    "hcml_model_score_duration_seconds",
    "Time to score one batch of variants with the pathogenicity model.",
    ["model_version"],
    buckets=LATENCY_BUCKETS,
)

METRICS: dict[str, Counter | Gauge | Histogram] = {
    m._name: m  # type: ignore[attr-defined]
    for m in (
        REALTIME_REQUEST_SECONDS,
        REALTIME_REQUESTS,
        REALTIME_VARIANTS,
        REALTIME_WEBSOCKETS,
        REALTIME_OUTBOX_BYTES,
        REALTIME_OUTBOX_RECORDS,
        REALTIME_OUTBOX_OLDEST_AGE,
        REALTIME_OUTBOX_DEGRADED,
        KAFKA_MESSAGES_PRODUCED,
        KAFKA_MESSAGES_CONSUMED,
        KAFKA_DEAD_LETTERS,
        KAFKA_CONSUMER_LAG,
        ASSET_DURATION_SECONDS,
        ASSET_ROWS,
        DAGSTER_RUNS,
        ANNOTATED_VARIANTS,
        ANALYSIS_COST,
        DEPARTMENT_SPEND,
        DEPARTMENT_BUDGET,
        MODEL_SCORE_SECONDS,
    )
}


def exposed_series_names() -> set[str]:
    """Every series name a scrape of these metrics can show (`x_total`, `x_bucket`, `x_sum`, ...)."""
    suffixes = {
        "counter": ("_total", "_created"),
        "gauge": ("",),
        "histogram": ("_bucket", "_sum", "_count", "_created"),
    }
    return {name + s for name, m in METRICS.items() for s in suffixes[m._type]}  # type: ignore[attr-defined]


def status_class(status_code: int) -> str:
    """HTTP status as a low-cardinality label: 2xx, 4xx, 5xx."""
    return f"{status_code // 100}xx"


@contextlib.contextmanager
def time_request(route: str, method: str) -> Iterator[MutableMapping[str, Any]]:
    """Observe one realtime request; set `holder["status"]` to the HTTP status before leaving."""
    import time

    holder: dict[str, Any] = {"status": 500}
    start = time.perf_counter()
    try:
        yield holder
    finally:
        status = status_class(int(holder["status"]))
        REALTIME_REQUEST_SECONDS.labels(route, method, status).observe(time.perf_counter() - start)
        REALTIME_REQUESTS.labels(route, method, status).inc()


def observe_asset(asset: str, wall_seconds: float, *, success: bool = True, rows: int | None = None) -> None:
    """Record one asset materialization (call with `usage.wall_seconds` from `hcml.cost.usage`)."""
    ASSET_DURATION_SECONDS.labels(asset, "success" if success else "failure").observe(wall_seconds)
    if rows:
        ASSET_ROWS.labels(asset).inc(rows)


def observe_run(job: str, status: str) -> None:
    """Record a Dagster run that reached a terminal state (status: success/failure/canceled)."""
    DAGSTER_RUNS.labels(job, status.lower()).inc()


def observe_analysis_cost(department: str, cost: float) -> None:
    ANALYSIS_COST.labels(department).observe(cost)


def record_consumer_lag(consumer: Any, consumer_group: str, partitions: list[Any] | None = None) -> int:
    """Set `hcml_kafka_consumer_lag` for a confluent-kafka consumer's partitions; returns the total lag.

    `partitions` defaults to the consumer's assignment. Lag = high watermark - committed offset (or the
    low watermark when nothing is committed yet).
    """
    partitions = partitions if partitions is not None else consumer.assignment()
    if not partitions:
        return 0
    total = 0
    for tp in consumer.committed(partitions, timeout=10):
        low, high = consumer.get_watermark_offsets(tp, timeout=10, cached=False)
        position = tp.offset if tp.offset is not None and tp.offset >= 0 else low
        lag = max(high - position, 0)
        KAFKA_CONSUMER_LAG.labels(tp.topic, str(tp.partition), consumer_group).set(lag)
        total += lag
    return total


def record_group_lag(
    bootstrap: str, group: str, topics: list[str] | tuple[str, ...], timeout: float = 10.0
) -> dict[str, int]:
    """Measure a consumer group's lag from outside the group (it never joins and never commits), e.g. for
    the Dagster sensors, whose consumers live only during a tick. Returns {topic: total lag}."""
    from confluent_kafka import Consumer, TopicPartition

    from hcml.events.kafka_config import client_config

    consumer = Consumer(
        client_config(bootstrap, **{"group.id": group, "enable.auto.commit": False, "client.id": f"{group}-lag-probe"})
    )
    try:
        totals: dict[str, int] = {}
        for topic in topics:
            metadata = consumer.list_topics(topic, timeout=timeout).topics.get(topic)
            if metadata is None or metadata.error is not None:
                continue
            partitions = [TopicPartition(topic, p) for p in sorted(metadata.partitions)]
            totals[topic] = record_consumer_lag(consumer, group, partitions)
        return totals
    finally:
        consumer.close()


def metrics_payload(registry: CollectorRegistry = REGISTRY) -> tuple[bytes, str]:
    """The Prometheus text exposition and its content type (for a `/metrics` route)."""
    return generate_latest(registry), CONTENT_TYPE_LATEST


def start_metrics_server(port: int | None = None) -> int | None:
    """Serve `/metrics` on HCML_METRICS_PORT (default: not served) for long-lived processes."""
    if port is None:
        raw = os.environ.get("HCML_METRICS_PORT", "")
        if not raw:
            return None
        port = int(raw)
    start_http_server(port)
    return port


def push_metrics(job: str, registry: CollectorRegistry = REGISTRY, grouping_key: dict[str, str] | None = None) -> bool:
    """Push to HCML_PROMETHEUS_PUSHGATEWAY (host:port) from short-lived run/step pods; no-op if unset.

    Grouped by `instance` (the pod's hostname, by default) so that replicas do not overwrite each other.
    """
    gateway = os.environ.get("HCML_PROMETHEUS_PUSHGATEWAY", "")
    if not gateway:
        return False
    import socket

    key = {"instance": socket.gethostname(), **(grouping_key or {})}
    pushadd_to_gateway(gateway, job=job, registry=registry, grouping_key=key, timeout=10)
    return True


# --------------------------------------------------------------------------------------------------
# OpenTelemetry traces: W3C trace context through CloudEvents and Dagster run tags.
# --------------------------------------------------------------------------------------------------

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
# Dagster run tags that carry the submission's trace context into the run.
TRACEPARENT_TAG = "hcml/traceparent"
TRACESTATE_TAG = "hcml/tracestate"
_TRACEPARENT_RE = re.compile(r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")

_tracing_configured = False


def configure_tracing(service_name: str, exporter: Any | None = None) -> Any:
    """Install a TracerProvider for this process (once) and return it.

    The exporter is chosen by HCML_OTEL_EXPORTER: `none` (default: spans are created, kept in context and
    propagated, not exported), `console` (JSON spans on stderr), or `otlp` (OTLP/HTTP to
    OTEL_EXPORTER_OTLP_ENDPOINT; the images install `opentelemetry-exporter-otlp-proto-http`; without it a
    warning is logged and spans are not exported).
    Pass `exporter` to use your own (tests use the in-memory exporter).
    """
    global _tracing_configured
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor

    if _tracing_configured and exporter is None:
        return trace.get_tracer_provider()
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        resource = Resource.create({"service.name": service_name, "service.namespace": "hcml"})
        provider = TracerProvider(resource=resource)
        trace.set_tracer_provider(provider)
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        kind = os.environ.get("HCML_OTEL_EXPORTER", "none").lower()
        if kind == "console":
            provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter(out=sys.stderr)))
        elif kind == "otlp":
            try:
                from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # type: ignore
            except ImportError:
                # telemetry must never take a service down: keep propagating, say why nothing is exported
                logging.getLogger("hcml.observability").warning(
                    "HCML_OTEL_EXPORTER=otlp but opentelemetry-exporter-otlp-proto-http is not installed: "
                    "trace context is propagated, spans are not exported"
                )
            else:
                provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        elif kind != "none":
            raise ValueError(f"HCML_OTEL_EXPORTER={kind!r}: expected none, console or otlp")
    _tracing_configured = True
    return provider


def tracer(name: str = "hcml") -> Any:
    from opentelemetry import trace

    return trace.get_tracer(name)


def _propagator() -> Any:
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    return TraceContextTextMapPropagator()


def trace_attributes(context: Any | None = None) -> dict[str, str]:
    """`traceparent`/`tracestate` of the current (or given) span, to add to a CloudEvent's attributes.

    Empty when there is no valid span (nothing to propagate).
    """
    carrier: dict[str, str] = {}
    _propagator().inject(carrier, context=context)
    return carrier


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray)):
        value = value.decode("ascii", "replace")
    return str(value)


def context_from_attributes(attributes: Mapping[str, Any] | list[tuple[str, Any]] | None) -> Any:
    """OpenTelemetry context from CloudEvent attributes or Kafka headers.

    Accepts structured attributes (`traceparent`), binary-mode Kafka headers (`ce_traceparent`, as bytes,
    as a dict or confluent-kafka's list of tuples) and Dagster run tags (`hcml/traceparent`). Returns an
    empty context when there is no valid trace context (a new trace then starts).
    """
    carrier: dict[str, str] = {}
    items = attributes.items() if isinstance(attributes, Mapping) else (attributes or [])
    for key, value in items:
        k = str(key).lower()
        for prefix in ("ce_", "ce-", "hcml/"):
            if k.startswith(prefix):
                k = k[len(prefix) :]
        if k in (TRACEPARENT, TRACESTATE):
            text = _text(value)
            if text:
                carrier[k] = text.strip()
    if TRACEPARENT in carrier and not _TRACEPARENT_RE.match(carrier[TRACEPARENT]):
        carrier.pop(TRACEPARENT)
    return _propagator().extract(carrier)


def run_tags_from_attributes(attributes: Mapping[str, Any] | list[tuple[str, Any]] | None) -> dict[str, str]:
    """Dagster run tags carrying a CloudEvent's trace context (for the Kafka sensor's RunRequest)."""
    carrier = trace_attributes(context_from_attributes(attributes))
    tags = {}
    if TRACEPARENT in carrier:
        tags[TRACEPARENT_TAG] = carrier[TRACEPARENT]
    if carrier.get(TRACESTATE):
        tags[TRACESTATE_TAG] = carrier[TRACESTATE]
    return tags


@contextlib.contextmanager
def span_from(
    attributes: Mapping[str, Any] | list[tuple[str, Any]] | None, name: str, **span_attributes: Any
) -> Iterator[Any]:
    """Start a span that continues the trace carried by CloudEvent attributes, headers or run tags."""
    with tracer().start_as_current_span(
        name, context=context_from_attributes(attributes), attributes=span_attributes or None
    ) as span:
        yield span


class TraceContextMiddleware:
    """Pure ASGI middleware (no web framework import): one server span per HTTP request.

    Continues the caller's W3C `traceparent` header if it sends one, else starts a trace; everything the
    request does runs inside the span, so the CloudEvents it publishes carry its context
    (`trace_attributes()`), and the response returns `traceparent` so clients can quote it.
    """

    def __init__(self, app: Any, service_name: str = "hcml-realtime") -> None:
        self.app = app
        self.service_name = service_name

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        configure_tracing(self.service_name)
        headers = [(k.decode("latin-1"), v) for k, v in scope.get("headers", [])]
        method = scope.get("method", "GET")
        with tracer("hcml.http").start_as_current_span(
            f"HTTP {method}",
            context=context_from_attributes(headers),
            kind=_server_kind(),
            attributes={"http.request.method": method, "url.path": scope.get("path", "")},
        ) as span:
            outgoing = trace_attributes()

            async def send_with_trace(message: dict) -> None:
                if message["type"] == "http.response.start":
                    span.set_attribute("http.response.status_code", message["status"])
                    extra = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in outgoing.items()]
                    message = {**message, "headers": [*message.get("headers", []), *extra]}
                await send(message)

            await self.app(scope, receive, send_with_trace)


def _server_kind() -> Any:
    from opentelemetry.trace import SpanKind

    return SpanKind.SERVER


# --------------------------------------------------------------------------------------------------
# Structured JSON logs, patient data redacted.
# --------------------------------------------------------------------------------------------------

# Keys whose values are never logged (identifiers, demographics, raw inputs and sequences).
REDACTED_KEYS = frozenset(
    {
        "patient",
        "patient_id",
        "patientid",
        "patient_name",
        "full_name",
        "first_name",
        "last_name",
        "mrn",
        "medical_record_number",
        "dob",
        "date_of_birth",
        "birth_date",
        "birthdate",
        "address",
        "phone",
        "email",
        "ssn",
        "insurance_number",
        "sequence",
        "seq",
        "dna",
        "raw_sequence",
        "vcf",
        "vcf_text",
        "payload",
        "body",
        "genotype",
        "genotypes",
        "gt",
        "sample",
        "sample_id",
        "sample_name",
        "samples",
        "variants",
        "text",
        "authorization",
        "token",
        "password",
        "secret",
        "connection_string",
    }
)
# Runs of nucleotides long enough to be a patient sequence rather than a ref/alt allele.
_SEQUENCE_RE = re.compile(r"[ACGTNacgtn]{30,}")
REDACTED = "[REDACTED]"


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return _SEQUENCE_RE.sub(lambda m: f"[REDACTED sequence len={len(m.group(0))}]", value)
    if isinstance(value, Mapping):
        return {k: (REDACTED if str(k).lower() in REDACTED_KEYS else _redact_value(v)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_redact_value(v) for v in value)
    return value


def redact_patient_data(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: drop values of patient-data keys, mask long nucleotide runs anywhere."""
    for key in list(event_dict):
        if key.lower() in REDACTED_KEYS:
            event_dict[key] = REDACTED
        else:
            event_dict[key] = _redact_value(event_dict[key])
    return event_dict


def add_trace_ids(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: add the current trace and span id, so logs join traces."""
    from opentelemetry import trace

    ctx = trace.get_current_span().get_span_context()
    if ctx.is_valid:
        event_dict.setdefault("trace_id", format(ctx.trace_id, "032x"))
        event_dict.setdefault("span_id", format(ctx.span_id, "016x"))
    return event_dict


def configure_logging(service: str, stream: Any | None = None) -> None:
    """JSON logs (HCML_LOG_FORMAT=json, default; `console` for humans) at HCML_LOG_LEVEL (default INFO).

    Both structlog loggers and the standard library's (uvicorn, dagster, confluent-kafka callbacks) go
    through the same processors, so redaction applies to all of them.
    """
    import structlog

    level = getattr(logging, os.environ.get("HCML_LOG_LEVEL", "INFO").upper(), logging.INFO)
    fmt = os.environ.get("HCML_LOG_FORMAT", "json").lower()
    shared = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        add_trace_ids,
        structlog.processors.format_exc_info,
        redact_patient_data,
    ]
    renderer = (
        structlog.dev.ConsoleRenderer(colors=False)
        if fmt == "console"
        else structlog.processors.JSONRenderer(sort_keys=True)
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                lambda _l, _m, ev: {**ev, "service": service},
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_hcml", False)]:
        root.removeHandler(old)
    handler._hcml = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    # Libraries whose INFO lines carry request URLs (blob names can name a sample): warnings only.
    for name in _URL_LOGGING_LIBRARIES:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))


_URL_LOGGING_LIBRARIES = (
    "azure.core.pipeline.policies.http_logging_policy",
    "azure.identity",
    "urllib3.connectionpool",
)


def get_logger(name: str = "hcml") -> Any:
    import structlog

    return structlog.get_logger(name)
