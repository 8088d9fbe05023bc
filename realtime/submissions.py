"""Queued submissions: store the VCF, announce it on `genetic-data-raw`, track its status, push its result.

A submission's status record lives in memory and in the object store (`submissions/<id>/status.json`), so
any replica (and a restarted one) answers `GET /v1/submissions/{id}`. Results arrive on
`genetic-data-annotated` (from the Dagster run's sensor or the results worker); the listener updates the
record and the hub pushes it to the WebSocket clients that wait for that submission.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fastapi.responses import JSONResponse

from realtime.runtime import PushHub, Runtime, SubmissionRegistry

if TYPE_CHECKING:
    from realtime.auth import Principal
    from realtime.models import SubmissionRequest

log = logging.getLogger("hcml.realtime.submissions")

REPORT_INLINE_LIMIT = 2 << 20  # reports up to 2 MiB are returned inline by GET /v1/submissions/{id}
RECORD_TIMEOUT_SECONDS = 30.0  # a disk that hangs: 503 rather than a request waiting for ever
AUDIT_UNAVAILABLE = (
    "the audit trail cannot record this answer now (its outbox is over budget or unwritable "
    "while Kafka is unreachable): no answer is given without its audit record; retry later"
)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def status_key(submission_id: str) -> str:
    return f"submissions/{submission_id}/status.json"


def persist(record: dict[str, Any]) -> None:
    from hcml.storage import open_store

    open_store().put(status_key(record["submission_id"]), json.dumps(record, sort_keys=True).encode())


def load_persisted(submission_id: str) -> dict[str, Any] | None:
    from hcml.storage import StoreError, open_store

    store = open_store()
    uri = store.uri_for(status_key(submission_id))
    try:
        return json.loads(store.get(uri))
    except (StoreError, ValueError):
        return None


def lookup(rt: Runtime, submission_id: str, principal: Principal) -> dict[str, Any] | None:
    """The record, if it exists and the caller may see it (its requester, or an admin)."""
    if not _valid_id(submission_id):
        return None
    record = rt.registry.get(submission_id) or load_persisted(submission_id)
    if record is None:
        return None
    return record if visible_to(record.get("requester"), principal) else None


def visible_to(owner: str | None, principal: Principal) -> bool:
    """Who may read a submission or a synchronous result: the subject who made it, or an admin."""
    return "admin" in principal.roles or (owner is not None and owner == principal.subject)


def _valid_id(value: str) -> bool:
    """An id as this service mints them (letters, digits, `_`, `-`): never a path step such as `..`."""
    return 0 < len(value) <= 64 and all(c.isascii() and (c.isalnum() or c in "_-") for c in value)


def without_local_paths(value: Any) -> Any:
    """`value` with every `file://` URI left out: the server's file system layout is not the caller's
    business (an object-store URI names only the blob, and stays)."""
    if isinstance(value, dict):
        return {
            k: without_local_paths(v) for k, v in value.items() if not (isinstance(v, str) and v.startswith("file://"))
        }
    if isinstance(value, list):
        return [None if isinstance(v, str) and v.startswith("file://") else without_local_paths(v) for v in value]
    return value


def public_status(record: dict[str, Any]) -> dict[str, Any]:
    """What GET /v1/submissions/{id} answers: status, timestamps, summary, report (inline when small)."""
    out = {
        k: record.get(k)
        for k in (
            "submission_id",
            "status",
            "submitted_at",
            "updated_at",
            "input_uri",
            "report_uri",
            "report_html_uri",
            "summary",
            "run_id",
            "error",
        )
    }
    out["provenance_url"] = f"/v1/submissions/{record['submission_id']}/provenance"
    report_uri = record.get("report_uri")
    if report_uri:
        out["report"] = _read_report(report_uri)
    return without_local_paths({k: v for k, v in out.items() if v is not None})


def _read_report(uri: str) -> Any:
    from hcml.storage import StoreError, open_store

    try:
        data = open_store().get(uri)
    except (StoreError, OSError, ValueError):
        return None
    if len(data) > REPORT_INLINE_LIMIT:
        return None
    try:
        return json.loads(data)
    except ValueError:
        return None


def provenance_of(record: dict[str, Any]) -> dict[str, Any] | None:
    if record.get("status") not in ("succeeded", "failed"):
        return None
    prov = dict(record.get("provenance") or {})
    report = _read_report(record["report_uri"]) if record.get("report_uri") else None
    if isinstance(report, dict) and isinstance(report.get("provenance"), dict):
        prov = {**report["provenance"], **prov}
    prov.setdefault("submission_id", record["submission_id"])
    prov.setdefault("report_uri", record.get("report_uri"))
    prov.setdefault("run_id", record.get("run_id"))
    return without_local_paths(prov)


# ---------------------------------------------------------------------------------------- queueing
def queue_submission(rt: Runtime, principal: Principal, body: SubmissionRequest) -> dict[str, Any] | JSONResponse:
    """Store the VCF, buffer the submission event; 503 + Retry-After when Kafka cannot take it."""
    from hcml.events import messages, topics
    from hcml.events.pseudonym import pseudonymise
    from hcml.genomics.errors import InputError
    from hcml.genomics.vcf import vcf_text_header
    from hcml.storage import open_store

    try:  # bad input is the caller's 4xx, whatever the state of Kafka: the header rule every route applies
        vcf_text_header(body.vcf)
    except InputError as exc:
        return JSONResponse({"detail": str(exc)}, status_code=422)
    retry = {"Retry-After": str(rt.settings.retry_after_seconds)}
    if not rt.publisher.enabled:
        return JSONResponse(
            {
                "detail": "queued submissions are unavailable: Kafka is not configured "
                "(HCML_KAFKA_BOOTSTRAP); use POST /v1/annotate for small inputs"
            },
            status_code=503,
            headers=retry,
        )
    if not rt.publisher.accepting():
        return JSONResponse(
            {
                "detail": "cannot accept submissions now: the Kafka broker is unreachable or the "
                "event outbox is over budget; retry later"
            },
            status_code=503,
            headers=retry,
        )
    submission_id = uuid.uuid4().hex
    data = body.vcf.encode("utf-8")
    store = open_store()
    input_uri = store.put(f"submissions/{submission_id}/input.vcf", data)
    submission = messages.Submission(
        submission_id=submission_id,
        patient_pseudonym=pseudonymise(body.patient_id or f"unidentified:{submission_id}"),
        requester=principal.subject,
        department=body.department or "clinical",
        project=body.project or "clinical-care",
        input_kind="vcf",
        sample=body.sample,
        payload_uri=input_uri,
        payload_sha256=hashlib.sha256(data).hexdigest(),
        payload_bytes=len(data),
        submitted_at=datetime.now(UTC),
    )
    key, value, headers = messages.to_kafka(messages.submission_event(submission, source=messages.SOURCE_REALTIME))
    if not rt.publisher.offer(topics.RAW, value, key=key, headers=headers):
        return JSONResponse(
            {"detail": "cannot accept submissions now: the event outbox refuses events; retry later"},
            status_code=503,
            headers=retry,
        )
    now = _now()
    record = {
        "submission_id": submission_id,
        "status": "queued",
        "submitted_at": now,
        "updated_at": now,
        "requester": principal.subject,
        "input_uri": input_uri,
        "input_bytes": len(data),
    }
    rt.registry.put(record)
    persist(record)
    return without_local_paths(
        {
            "submission_id": submission_id,
            "status": "queued",
            "input_uri": input_uri,
            "status_url": f"/v1/submissions/{submission_id}",
        }
    )


# -------------------------------------------------------------------------------------- sync results
async def record_realtime_result(
    rt: Runtime, principal: Principal, result: dict[str, Any], payload: str | None = None
) -> bool:
    """Record a synchronous answer for lineage and audit before it is given, never waiting on Kafka: an
    audit copy of the submission for `genetic-data-raw` (`processing: realtime`, skipped by the batch
    sensor) and the result for `genetic-data-annotated`, both in the durable outbox (built on its writer
    thread, on disk when this returns True). False: the outbox refuses events (the caller answers 503).
    True without recording when Kafka is not configured (nothing is published then)."""

    from realtime.outbox import OutboxUnavailable

    if not rt.publisher.enabled:
        return True
    recorded = rt.publisher.record(realtime_result_events(rt, principal, result, payload))
    try:
        return bool(await asyncio.wait_for(asyncio.wrap_future(recorded), RECORD_TIMEOUT_SECONDS))
    except (OutboxUnavailable, TimeoutError):
        return False


def realtime_result_events(
    rt: Runtime, principal: Principal, result: dict[str, Any], payload: str | None = None
) -> list[Any]:
    """The builders of a synchronous answer's two events (run on the outbox writer's thread)."""
    from hcml.events import topics

    rid = result["result_id"]
    requester = principal.subject
    consequences: dict[str, int] = {}
    for v in result["variants"]:
        term = v.get("most_severe_consequence") or "unknown"
        consequences[term] = consequences.get(term, 0) + 1
    summary = {
        "n_variants": result["n_variants"],
        "n_rejects": result["n_rejects"],
        "input_kind": result["input_kind"],
        "most_severe_consequences": consequences,
    }
    provenance = (rt.state.recall(rid) or {}).get("provenance", {})

    def build_submission() -> tuple[bytes | None, bytes, list[tuple[str, bytes]]]:
        from hcml.compliance.crypto import day_key_id
        from hcml.events import messages

        sub = messages.make_submission(
            submission_id=rid,
            patient_id=f"unidentified:{rid}",
            requester=requester,
            department="clinical",
            project="clinical-care",
            analysis="realtime_interpretation",
            input_kind=result["input_kind"],
            payload=payload or "",
            processing="realtime",
        )
        return messages.to_kafka(
            messages.submission_event(sub, source=messages.SOURCE_REALTIME, trace={}, key_id=day_key_id())
        )

    def build_result() -> tuple[bytes | None, bytes, list[tuple[str, bytes]]]:
        from hcml.events import messages

        res = messages.Result(
            submission_id=rid,
            status="succeeded",
            summary=summary,
            provenance=provenance,
            completed_at=datetime.now(UTC),
        )
        return messages.to_kafka(
            messages.result_event(res, source=messages.SOURCE_REALTIME, event_id=f"{rid}:result", trace={})
        )

    def with_topic(topic: str, build: Any) -> Any:
        return lambda: (topic, *build())

    events = [with_topic(topics.RAW, build_submission)] if payload is not None else []
    return events + [with_topic(topics.ANNOTATED, build_result)]


def count_variants(result: dict[str, Any]) -> None:
    from hcml.observability import ANNOTATED_VARIANTS, REALTIME_VARIANTS

    REALTIME_VARIANTS.labels("annotated").inc(result["n_variants"])
    if result["n_rejects"]:
        REALTIME_VARIANTS.labels("rejected").inc(result["n_rejects"])
    ANNOTATED_VARIANTS.labels("realtime").inc(result["n_variants"])


def update_gauges(rt: Runtime) -> None:
    from hcml.observability import REALTIME_WEBSOCKETS

    REALTIME_WEBSOCKETS.set(rt.hub.connections)
    rt.publisher.update_metrics()


# ------------------------------------------------------------------------------------- result events
def listener_group() -> str:
    from hcml.events import topics

    return topics.GROUP_WEBSOCKET_FANOUT


def parse_result_message(value: bytes, headers: Any) -> dict[str, Any] | None:
    """A `org.hcml.result.v1` event as a dict (None for other event types on the topic)."""
    from hcml.events import messages

    event = messages.from_kafka(None, value, headers)
    if event.get_type() != messages.RESULT_TYPE:
        return None
    result = messages.parse_result(event)
    out = result.model_dump(mode="json")
    out["source"] = event.get_source()
    return out


def merge_result(record: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
    """The status record after a result event (the requester and submission time are kept)."""
    merged = dict(record)
    merged.update(
        submission_id=result["submission_id"],
        status=result["status"],
        updated_at=_now(),
        report_uri=result.get("report_uri"),
        report_html_uri=result.get("report_html_uri"),
        summary=result.get("summary") or {},
        provenance=result.get("provenance") or {},
        run_id=result.get("run_id"),
        error=result.get("error"),
    )
    return merged


def on_result_event(registry: SubmissionRegistry, hub: PushHub, event: dict[str, Any]) -> None:
    """Called on the listener thread for every result: update the record and push it."""
    sid = event["submission_id"]
    known = registry.get(sid)
    if known is None and event.get("source") != "/hcml/realtime":
        known = load_persisted(sid)
        if known is not None:
            registry.put(known)
    if known is None:
        return  # a synchronous result (already answered) or another deployment's submission
    record = merge_result(known, event)
    registry.put(record)
    try:
        persist(record)
    except Exception as exc:  # the worker persists too; pushing must not depend on it
        log.warning("could not persist submission status", extra={"error": type(exc).__name__})
    hub.publish(sid, {"type": "result", **public_status(record)})
