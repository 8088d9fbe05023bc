"""CloudEvents 1.0 messages of the platform and their versioned, validated data schemas.

Kafka binding: **binary content mode** (CloudEvents Kafka protocol binding): the attributes travel as
`ce_*` headers (`ce_id`, `ce_source`, `ce_type`, `ce_specversion`, `ce_time`, `ce_subject`,
`ce_dataschema`, `ce_traceparent`), `content-type: application/json`, the data schema as the JSON
value, and the submission id as the message key (so one submission's events stay in order on one
partition). Knative's KafkaSource and the `cloudevents` SDK read the same shape.

Event types carry the schema version: `org.hcml.submission.v1`, `org.hcml.result.v1`. A consumer that
meets an unknown type or a data schema that does not validate sends the message to the dead-letter
topic (see `InvalidMessage`).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from hcml.compliance.crypto import Shredded, is_sealed, open_text, seal_text
from hcml.events.pseudonym import PSEUDONYM_RE, pseudonymise
from hcml.events.topics import MAX_MESSAGE_BYTES

SUBMISSION_TYPE = "org.hcml.submission.v1"
RESULT_TYPE = "org.hcml.result.v1"
LABEL_TYPE = "org.hcml.label.v1"
REPORT_CHANGED_TYPE = "org.hcml.report.changed.v1"
SUBMISSION_SCHEMA = "urn:hcml:schema:submission:1"
RESULT_SCHEMA = "urn:hcml:schema:result:1"
LABEL_SCHEMA = "urn:hcml:schema:label:1"
REPORT_CHANGED_SCHEMA = "urn:hcml:schema:report-changed:1"

# CloudEvent `source` attribute: who produced the event (the lineage sensor keys on it).
SOURCE_REALTIME = "/hcml/realtime"
SOURCE_DAGSTER = "/hcml/dagster"
SOURCE_CLI = "/hcml/cli"

# Inline payloads up to this size; larger ones are stored (`hcml.storage.open_store()`) and referenced
# by URI. Leaves room under MAX_MESSAGE_BYTES for JSON escaping and headers.
INLINE_PAYLOAD_LIMIT = 256 * 1024

_ID = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
_FORMAT = JSONFormat()


class InvalidMessage(ValueError):
    """A message that is not a valid hcml CloudEvent; `reason` names the header or field."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class Submission(BaseModel):
    """Data of `org.hcml.submission.v1`: one patient input to interpret (version 1)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = 1
    submission_id: str = Field(pattern=_ID)
    patient_pseudonym: str = Field(pattern=PSEUDONYM_RE, description="HMAC-SHA256 of the patient id")
    requester: str = Field(min_length=1, max_length=128)
    department: str = Field(min_length=1, max_length=128)
    project: str = Field(min_length=1, max_length=128)
    analysis: str = Field(default="sample_report", min_length=1, max_length=64)
    input_kind: Literal["vcf", "variants", "sequence"]
    processing: Literal["batch", "realtime"] = Field(
        default="batch",
        description="batch: queued for a Dagster run; realtime: already interpreted in-process (audit copy)",
    )
    sample: str | None = Field(
        default=None, max_length=1024, description="VCF sample column to report on (sealed on Kafka)"
    )
    payload: str | None = Field(default=None, description="the input itself, when small (sealed on Kafka)")
    payload_uri: str | None = Field(default=None, description="where the input is stored, when large")
    payload_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    payload_bytes: int = Field(ge=0)
    submitted_at: datetime

    @model_validator(mode="after")
    def _one_payload(self) -> Submission:
        if (self.payload is None) == (self.payload_uri is None):
            raise ValueError("exactly one of payload (inline) and payload_uri (stored) must be given")
        if self.payload is not None and not is_sealed(self.payload):  # a sealed one is checked once opened
            data = self.payload.encode("utf-8")
            if len(data) > INLINE_PAYLOAD_LIMIT:
                raise ValueError(f"payload: {len(data)} bytes inline, over the {INLINE_PAYLOAD_LIMIT} limit")
            if hashlib.sha256(data).hexdigest() != self.payload_sha256:
                raise ValueError("payload_sha256 does not match the inline payload")
        return self


class Result(BaseModel):
    """Data of `org.hcml.result.v1`: the outcome of one submission (version 1)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = 1
    submission_id: str = Field(pattern=_ID)
    status: Literal["succeeded", "failed"]
    summary: dict[str, Any] = Field(default_factory=dict, description="counts, top findings (no patient ids)")
    report_uri: str | None = None
    report_html_uri: str | None = None
    provenance: dict[str, Any] = Field(default_factory=dict, description="provenance_sha256, model, bundle...")
    run_id: str | None = Field(default=None, description="the Dagster run (batch path)")
    error: str | None = None
    completed_at: datetime


class ReportChanged(BaseModel):
    """Data of `org.hcml.report.changed.v1`: a re-analysis produced a report that differs for the clinician
    from the previous one of the same partition (version 1). The patient is named by pseudonym only."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = 1
    partition: str = Field(pattern=_ID)
    submission_id: str | None = None
    patient_pseudonym: str | None = Field(default=None, pattern=PSEUDONYM_RE)
    report_uri: str
    report_html_uri: str | None = None
    report_content_sha256: str
    previous_report_sha256: str | None = None
    clinvar_release: str | None = None
    model_version: str | None = None
    n_changed: int = Field(ge=1)
    changes: list[dict[str, Any]] = Field(description="per variant: key, gene, status, field changes (before/after)")
    run_id: str | None = None
    changed_at: datetime


class CuratedLabel(BaseModel):
    """Data of `org.hcml.label.v1`: one newly curated ClinVar-style assertion (version 1).

    Same fields as the shipped ClinVar table (GRCh37 `chrom`/`pos`/`ref`/`alt`, as ClinVar's key), so the
    ML label rule reads it unchanged. No patient data: variants and assertions only.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = 1
    label_id: str = Field(pattern=_ID)
    chrom: str | None = Field(default=None, max_length=8)
    pos: int | None = Field(default=None, ge=1)
    ref: str | None = Field(default=None, pattern=r"^[ACGTN]+$")
    alt: str | None = Field(default=None, pattern=r"^[ACGTN]+$")
    symbol: str = Field(min_length=1, max_length=64)
    hgvs_c: str | None = Field(default=None, max_length=512)
    hgvs_p: str | None = Field(default=None, max_length=512)
    clinical_significance: str = Field(min_length=1, max_length=512)
    review_status: str | None = Field(default=None, max_length=256)
    conflicted: bool = False
    curated_by: str = Field(min_length=1, max_length=128)
    curated_at: datetime

    @model_validator(mode="after")
    def _located(self) -> CuratedLabel:
        if self.hgvs_c is None and None in (self.chrom, self.pos, self.ref, self.alt):
            raise ValueError("a label needs chrom/pos/ref/alt or hgvs_c")
        return self


def label_event(label: CuratedLabel, source: str = SOURCE_CLI, trace: dict[str, str] | None = None) -> CloudEvent:
    return _event(
        LABEL_TYPE,
        LABEL_SCHEMA,
        source,
        label.label_id,
        label.model_dump(mode="json"),
        f"{label.label_id}:label",
        trace,
    )


def parse_label(event: CloudEvent) -> CuratedLabel:
    if event.get_type() != LABEL_TYPE:
        raise InvalidMessage(f"ce_type {event.get_type()!r}: expected {LABEL_TYPE}")
    return _validate(CuratedLabel, event)


def make_submission(
    *,
    submission_id: str | None = None,
    patient_id: str,
    requester: str,
    department: str,
    project: str,
    input_kind: str,
    payload: bytes | str,
    sample: str | None = None,
    analysis: str = "sample_report",
    processing: str = "batch",
    store: Any | None = None,
) -> Submission:
    """Build a submission: pseudonymise the patient id, inline a small payload or store a large one."""
    data = payload.encode("utf-8") if isinstance(payload, str) else bytes(payload)
    submission_id = submission_id or uuid.uuid4().hex
    digest = hashlib.sha256(data).hexdigest()
    inline: str | None = None
    uri: str | None = None
    if len(data) <= INLINE_PAYLOAD_LIMIT:
        try:
            inline = data.decode("utf-8")
        except UnicodeDecodeError:  # bgzipped VCF etc.: binary goes to the store
            inline = None
    if inline is None:
        if store is None:
            from hcml.storage import open_store

            store = open_store()
        suffix = {"vcf": "vcf", "variants": "txt", "sequence": "txt"}.get(input_kind, "bin")
        if data[:2] == b"\x1f\x8b":
            suffix += ".gz"
        uri = store.put(f"submissions/{submission_id}/input.{suffix}", data)
    return Submission(
        submission_id=submission_id,
        patient_pseudonym=pseudonymise(patient_id),
        requester=requester,
        department=department,
        project=project,
        analysis=analysis,
        input_kind=input_kind,  # type: ignore[arg-type]
        processing=processing,  # type: ignore[arg-type]
        sample=sample,
        payload=inline,
        payload_uri=uri,
        payload_sha256=digest,
        payload_bytes=len(data),
        submitted_at=datetime.now(UTC),
    )


def _event(
    event_type: str,
    schema: str,
    source: str,
    subject: str,
    data: dict,
    event_id: str | None,
    trace: dict[str, str] | None,
) -> CloudEvent:
    attributes: dict[str, Any] = {
        "type": event_type,
        "source": source,
        "subject": subject,
        "dataschema": schema,
        "datacontenttype": "application/json",
        "partitionkey": subject,
    }
    if event_id:
        attributes["id"] = event_id
    if trace is None:
        from hcml.observability import trace_attributes

        trace = trace_attributes()
    for key in ("traceparent", "tracestate"):
        if trace.get(key):
            attributes[key] = trace[key]
    return CloudEvent(attributes, data)


def submission_event(
    submission: Submission, source: str = SOURCE_CLI, trace: dict[str, str] | None = None, key_id: str | None = None
) -> CloudEvent:
    """The CloudEvent for a submission, its payload and sample sealed (`sealed`: the one way patient data
    goes onto Kafka); the current OpenTelemetry span's `traceparent` is carried."""
    return _event(
        SUBMISSION_TYPE,
        SUBMISSION_SCHEMA,
        source,
        submission.submission_id,
        sealed(submission, key_id).model_dump(mode="json"),
        None,
        trace,
    )


def result_event(
    result: Result, source: str, event_id: str | None = None, trace: dict[str, str] | None = None
) -> CloudEvent:
    """The CloudEvent for a result. Pass a deterministic `event_id` (e.g. `<run id>:result`) so that a
    re-published result is recognisable as the same event by consumers."""
    return _event(
        RESULT_TYPE, RESULT_SCHEMA, source, result.submission_id, result.model_dump(mode="json"), event_id, trace
    )


def report_changed_event(changed: ReportChanged, event_id: str, trace: dict[str, str] | None = None) -> CloudEvent:
    """The CloudEvent telling the clinician a report changed; `event_id` is deterministic (the run and
    partition) so a re-published notice is recognisably the same."""
    data = changed.model_dump(mode="json")
    return _event(REPORT_CHANGED_TYPE, REPORT_CHANGED_SCHEMA, SOURCE_DAGSTER, changed.partition, data, event_id, trace)


def parse_report_changed(event: CloudEvent) -> ReportChanged:
    return _validate(ReportChanged, event)


def to_kafka(event: CloudEvent) -> tuple[bytes | None, bytes, list[tuple[str, bytes]]]:
    """(key, value, headers) of an event in binary content mode; raises if over MAX_MESSAGE_BYTES."""
    message = ce_kafka.to_binary(event, _FORMAT)
    headers = [(k, v) for k, v in message.headers.items() if k != "ce_partitionkey"]
    key = message.key.encode("utf-8") if isinstance(message.key, str) else message.key
    size = len(message.value) + sum(len(k) + len(v) for k, v in headers) + len(key or b"")
    if size > MAX_MESSAGE_BYTES:
        raise InvalidMessage(
            f"event of {size} bytes is over the {MAX_MESSAGE_BYTES}-byte Kafka limit; "
            "store the payload and send its URI"
        )
    return key, message.value, headers


def header_dict(headers: list[tuple[str, bytes]] | dict | None) -> dict[str, bytes]:
    if not headers:
        return {}
    items = headers.items() if isinstance(headers, dict) else headers
    return {str(k): (v if isinstance(v, bytes) else str(v).encode("utf-8")) for k, v in items if v is not None}


def from_kafka(key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]] | dict | None) -> CloudEvent:
    """Parse a binary-mode (or structured-mode) CloudEvent; raises InvalidMessage naming what is wrong."""
    hdrs = header_dict(headers)
    if value is None:
        raise InvalidMessage("empty message value (tombstone)")
    try:
        decoded = {k: v.decode("utf-8") for k, v in hdrs.items()}
    except UnicodeDecodeError as exc:
        raise InvalidMessage(f"a header is not UTF-8: {exc}") from exc
    binary = any(k.lower().startswith("ce_") for k in decoded)
    if binary:
        for required in ("ce_id", "ce_source", "ce_type", "ce_specversion"):
            if required not in {k.lower() for k in decoded}:
                raise InvalidMessage(f"header {required} is missing (CloudEvents binary mode)")
    try:
        message = ce_kafka.KafkaMessage(headers=hdrs, key=None, value=value)
        event = ce_kafka.from_kafka(message, _FORMAT)
    except Exception as exc:  # the SDK raises several types for bad JSON / attributes
        raise InvalidMessage(f"not a CloudEvent: {type(exc).__name__}: {str(exc)[:200]}") from exc
    if event.get_specversion() != "1.0":
        raise InvalidMessage(f"ce_specversion {event.get_specversion()!r}: expected 1.0")
    return event


def _data(event: CloudEvent) -> dict:
    data = event.get_data()
    if isinstance(data, (bytes, str)):
        try:
            data = json.loads(data)
        except ValueError as exc:
            raise InvalidMessage(f"data is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidMessage(f"data must be a JSON object, got {type(data).__name__}")
    return data


def _validate(model: type[BaseModel], event: CloudEvent) -> Any:
    try:
        return model.model_validate(_data(event))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "data"
        raise InvalidMessage(f"data.{where}: {first['msg']} ({exc.error_count()} error(s))") from exc


def parse_submission(event: CloudEvent) -> Submission:
    if event.get_type() != SUBMISSION_TYPE:
        raise InvalidMessage(f"ce_type {event.get_type()!r}: expected {SUBMISSION_TYPE}")
    return opened(_validate(Submission, event))


def sealed(submission: Submission, key_id: str | None = None) -> Submission:
    """The submission as it may enter Kafka: payload and sample sealed with the patient's data key (its
    pseudonym), or `key_id` (the day's key for input without a named patient: `crypto.day_key_id()`)."""
    key_id = key_id or submission.patient_pseudonym
    update = {
        name: seal_text(key_id, name, value)
        for name in ("payload", "sample")
        if (value := getattr(submission, name)) is not None and not is_sealed(value)
    }
    return submission.model_copy(update=update) if update else submission


def opened(submission: Submission) -> Submission:
    """The submission with its sealed fields decrypted (and the payload checked against its hash);
    InvalidMessage when the patient was erased (the key is shredded) or a sealed field is damaged."""
    update = {}
    try:
        for name in ("payload", "sample"):
            value = getattr(submission, name)
            if is_sealed(value):
                update[name] = open_text(name, value)
    except Shredded:
        raise InvalidMessage("data: crypto-shredded (the patient was erased); nothing to process") from None
    except ValueError as exc:
        raise InvalidMessage(f"data: {exc}") from None
    if not update:
        return submission
    try:
        return Submission.model_validate({**submission.model_dump(), **update})
    except ValidationError as exc:
        raise InvalidMessage(f"data: {exc.errors()[0].get('msg')}") from None


def parse_result(event: CloudEvent) -> Result:
    if event.get_type() != RESULT_TYPE:
        raise InvalidMessage(f"ce_type {event.get_type()!r}: expected {RESULT_TYPE}")
    return _validate(Result, event)


@dataclass(frozen=True)
class Record:
    """One consumed Kafka message, detached from the client (safe after the consumer is closed)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    timestamp_ms: int

    @property
    def coordinates(self) -> str:
        return f"{self.topic}:{self.partition}:{self.offset}"
