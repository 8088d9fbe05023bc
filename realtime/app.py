"""The realtime clinical service: FastAPI app over the warm bundle + scorer (no Dagster anywhere below).

    uvicorn realtime.app:app            (what `hcml serve` runs; `create_app()` for tests and benchmarks)

Routes: POST /v1/annotate (sync), POST /v1/submissions (queued on Kafka), GET /v1/submissions/{id},
GET /v1/results/{id}[/provenance], GET /v1/ws (WebSocket), GET /v1/whoami, GET /v1/audit (admin),
GET / (the clinical page), /healthz, /readyz, /metrics, /openapi.json. No /docs: Swagger UI's page loads its
script from a public CDN and the service runs offline; /openapi.json opens in any local OpenAPI viewer.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import re
import threading
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from realtime import submissions as subs
from realtime.audit import outcome_for
from realtime.auth import AuthError, Principal, bearer_from_header, require_role, single_authorization
from realtime.events import ResultsListener
from realtime.model_watcher import ModelWatcher
from realtime.models import (
    AnnotateRequest,
    AnnotateResponse,
    ErrorResponse,
    SubmissionAccepted,
    SubmissionRequest,
    SubmissionStatus,
)
from realtime.runtime import Runtime
from realtime.service import (
    NothingToAnnotate,
    RequestTooLarge,
    ServiceState,
    answer_inline,
    interpret_request,
    load_state,
    payload_text,
    warm_up,
)
from realtime.settings import Settings, load_settings

log = logging.getLogger("hcml.realtime")
STATIC = Path(__file__).parent / "static"

CLINICAL = ("clinician", "admin")
ANY_ROLE = ("clinician", "researcher", "admin")

bearer_scheme = HTTPBearer(auto_error=False, description="OIDC access token (RS256); `hcml dev-token --role R` locally")

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "missing, malformed, expired or untrusted token"},
    403: {"model": ErrorResponse, "description": "the token's role may not do this"},
}


def runtime(request: Request) -> Runtime:
    return request.app.state.runtime


def _audit_slot(request: Request) -> dict[str, Any]:
    return request.scope.setdefault("hcml_audit", {})


def authorize(*roles: str):
    """Dependency: the caller's Principal, refused with 401/403 unless it holds one of `roles`.

    `async` although it does not wait on anything: FastAPI runs a plain `def` dependency in its thread
    pool, a round trip between the event loop and a worker thread on every request for a dictionary look-up."""

    async def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    ) -> Principal:
        slot = _audit_slot(request)
        principal = slot.get("principal")  # verified by the middleware, before the body was read
        if principal is None:
            principal = authenticate_header(runtime(request), request.headers.get("authorization"), slot)
        require_role(principal, roles)
        return principal

    dependency.roles = roles  # read by the middleware: a caller without the role is refused before its body is read
    return dependency


def route_roles(route: Any) -> tuple[str, ...] | None:
    """The roles a route's `authorize` dependency demands (None: the route names none)."""
    dependant = getattr(route, "dependant", None)
    for dep in getattr(dependant, "dependencies", ()):
        roles = getattr(dep.call, "roles", None)
        if roles is not None:
            return roles
    return None


def authenticate_header(rt: Runtime, header: str | None, slot: dict[str, Any]) -> Principal:
    principal = rt.verifier.verify(bearer_from_header(header))
    slot["principal"], slot["subject"], slot["role"] = principal, principal.subject, principal.role
    return principal


# ---------------------------------------------------------------------------------------- middleware
class AuditAndMetrics:
    """Pure ASGI middleware: one audit line per /v1 request and Prometheus timing per route template."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from hcml.observability import REALTIME_REQUEST_SECONDS, REALTIME_REQUESTS, status_class

        start = time.perf_counter()
        slot = scope.setdefault("hcml_audit", {})
        slot["request_id"] = uuid.uuid4().hex[:16]
        status_holder = [500]

        async def send_wrapper(message: dict) -> None:
            if message["type"] == "http.response.start":
                status_holder[0] = message["status"]
                headers = message.setdefault("headers", [])
                headers.append((b"x-request-id", slot["request_id"].encode()))
                if scope["path"].startswith("/v1/"):  # clinical answers are never cached by browsers or proxies
                    headers.append((b"cache-control", b"no-store"))
            await send(message)

        try:
            rt_now: Runtime | None = getattr(scope["app"].state, "runtime", None)
            if scope["path"].startswith("/v1/") and rt_now is not None:
                # Authenticate before anything reads the body: an unauthenticated caller learns nothing
                # about the API beyond 401, whatever it sends.
                # The role check too: a large body is never read (nor parsed) for a caller who may not send it.
                route = _match_route(scope) if scope["method"] in ("POST", "PUT", "PATCH") else None
                try:
                    principal = authenticate_header(rt_now, single_authorization(scope.get("headers") or []), slot)
                    roles = route_roles(route)
                    if roles is not None:
                        require_role(principal, roles)
                except AuthError as exc:
                    scope["route"] = route or _match_route(scope)
                    response = JSONResponse(
                        {"detail": exc.detail},
                        status_code=exc.status,
                        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'} if exc.status == 401 else None,
                    )
                    await response(scope, receive, send_wrapper)
                    return
            await self.app(scope, receive, send_wrapper)
        finally:
            status = status_holder[0]
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            elapsed = time.perf_counter() - start
            cls = status_class(status)
            REALTIME_REQUEST_SECONDS.labels(template, scope["method"], cls).observe(elapsed)
            REALTIME_REQUESTS.labels(template, scope["method"], cls).inc()
            if scope["path"].startswith("/v1/"):
                rt: Runtime | None = getattr(scope["app"].state, "runtime", None)
                if rt is not None:
                    client = scope.get("client")
                    rt.audit.write(
                        request_id=slot.get("request_id"),
                        subject=slot.get("subject"),
                        role=slot.get("role"),
                        action=f"{scope['method']} {template}",
                        submission_id=slot.get("submission_id"),
                        result_id=slot.get("result_id"),
                        outcome=outcome_for(status),
                        status=status,
                        n_variants=slot.get("n_variants"),
                        n_rejects=slot.get("n_rejects"),
                        duration_ms=round(elapsed * 1000, 3),
                        client=client[0] if client else None,
                    )


def _match_route(scope: dict) -> Any:
    """The route a request would reach (for its template in the audit log), without running it."""
    from starlette.routing import Match

    for route in scope["app"].router.routes:
        match, _ = route.matches(scope)
        if match == Match.FULL:
            return route
    return None


# ------------------------------------------------------------------------------------------ lifespan
def create_app(settings: Settings | None = None, state: ServiceState | None = None) -> FastAPI:
    """The ASGI app. `settings`/`state` default to the environment and the bundle under bundle_dir()."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from hcml.events import topics

        cfg = settings or load_settings()
        warm = state or load_state(results_cap=cfg.results_cache, results_max_bytes=cfg.results_cache_bytes)
        await asyncio.to_thread(warm_up, warm, cfg.variant_cache, cfg.variant_cache_bytes)
        rt = Runtime(cfg, warm)
        rt.hub.bind(asyncio.get_running_loop())
        app.state.runtime = rt
        rt.publisher.start()
        if cfg.kafka_bootstrap:
            rt.listener = ResultsListener(
                cfg.kafka_bootstrap,
                topics.ANNOTATED,
                subs.listener_group(),
                on_result=lambda event: subs.on_result_event(rt.registry, rt.hub, event),
                parse=subs.parse_result_message,
            )
            rt.listener.start()
        rt.model_watcher = ModelWatcher(warm, cfg.model_poll_seconds)
        rt.model_watcher.start()
        # Everything loaded so far (bundle indexes, lookup tables, the model, every module) lives as long as
        # the process: out of the cyclic collector's way, so that a full collection (a pause of the event
        # loop) walks only what requests create: 13-22 ms over ~60k objects before, 2.6 ms after.
        gc.collect()
        gc.freeze()
        gc.enable()  # `hcml serve` starts with the collector off (realtime/cli.py)
        log.info("realtime service ready", extra={"load_seconds": round(warm.load_seconds, 3)})
        try:
            yield
        finally:
            rt.model_watcher.stop()
            if rt.listener:
                rt.listener.stop()
            rt.publisher.stop()
            if warm.batcher is not None:
                warm.batcher.stop()
                warm.batcher = None
            rt.audit.close()

    from realtime import log_guards

    log_guards.install()
    cfg_for_limits = settings or load_settings()
    app = FastAPI(
        title="hcml realtime clinical service",
        version="1",
        summary="Offline, Ensembl-VEP-compatible variant interpretation for clinicians.",
        lifespan=lifespan,
        docs_url=None,  # Swagger UI loads from a CDN: nothing the service serves may need the internet
        redoc_url=None,
        redirect_slashes=False,  # Starlette's redirect builds its Location from the client's Host header
        max_body_size=cfg_for_limits.max_body_bytes,
        # One server span per request, hcml's own (TraceContextMiddleware: the caller's traceparent, the one
        # the published CloudEvents continue). FastAPI's native tracing would add a second SERVER span and
        # three operation spans to every request once a TracerProvider exists (~0.1 ms of the ~0.5 ms a
        # request costs around `interpret`). Its metrics and logs keep their defaults.
        telemetry={"tracing": False},
    )
    app.add_middleware(AuditAndMetrics)
    from hcml.observability import TraceContextMiddleware

    app.add_middleware(TraceContextMiddleware)  # outermost: audit lines and published events join the request's trace
    _exception_handlers(app)
    _routes(app, cfg_for_limits)
    from realtime.ws import register_websocket

    register_websocket(app)
    return app


def validation_errors(errors: Any, prefix: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Precise location and message, but never the input echoed back (it may be patient data)."""
    return [{"loc": [*prefix, *e.get("loc", ())], "msg": e.get("msg"), "type": e.get("type")} for e in errors]


def _error(status: int, detail: Any, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def _audit_unavailable(rt: Runtime) -> JSONResponse:
    """No answer without its audit record: 503 while the outbox refuses events."""
    return _error(503, subs.AUDIT_UNAVAILABLE, {"Retry-After": str(rt.settings.retry_after_seconds)})


def _exception_handlers(app: FastAPI) -> None:
    from hcml.genomics.errors import InputError

    @app.exception_handler(AuthError)
    async def _auth(request: Request, exc: AuthError) -> JSONResponse:
        headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'} if exc.status == 401 else None
        return _error(exc.status, exc.detail, headers)

    @app.exception_handler(InputError)
    async def _input(request: Request, exc: InputError) -> JSONResponse:
        return _error(422, str(exc))

    @app.exception_handler(RequestTooLarge)
    async def _too_large(request: Request, exc: RequestTooLarge) -> JSONResponse:
        return _error(413, str(exc))

    @app.exception_handler(NothingToAnnotate)
    async def _nothing(request: Request, exc: NothingToAnnotate) -> JSONResponse:
        _audit_slot(request)["n_rejects"] = len(exc.rejects)
        return JSONResponse({"detail": str(exc), "rejects": exc.rejects}, status_code=422)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(422, validation_errors(exc.errors()))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        rid = _audit_slot(request).get("request_id")
        log.error("unexpected error", extra={"request_id": rid, "error": type(exc).__name__})
        return _error(500, f"internal error (request {rid})")


# -------------------------------------------------------------------------------------------- routes
def content_security_policy(html: str) -> str:
    """Only this page's own inline script and style (by hash), and connections back to this origin."""
    import base64
    import hashlib
    import re

    def hashes(tag: str) -> str:
        bodies = re.findall(rf"<{tag}>(.*?)</{tag}>", html, flags=re.S)
        return " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(b.encode()).digest()).decode()}'" for b in bodies)

    return (
        f"default-src 'none'; script-src {hashes('script')}; style-src {hashes('style')}; "
        "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


_ERROR_KIND = re.compile(r"[A-Za-z_][\w.]*")


def without_details(value: Any, key: str = "") -> Any:
    """/readyz for anyone: error texts cut to their kind (`FileNotFoundError`, `KafkaError`), so file paths
    and broker addresses are shown only to an admin's token."""
    if isinstance(value, dict):
        return {k: without_details(v, k) for k, v in value.items()}
    if isinstance(value, str) and key.endswith("error"):
        kind = _ERROR_KIND.match(value)
        return kind.group(0) if kind else "error"
    return value


def _is_admin(rt: Runtime, request: Request) -> bool:
    try:
        principal = rt.verifier.verify(bearer_from_header(single_authorization(request.scope["headers"])))
    except AuthError:
        return False
    return "admin" in principal.roles


def _routes(app: FastAPI, cfg: Settings) -> None:
    page_html = (STATIC / "index.html").read_text(encoding="utf-8")
    page_headers = {
        "Cache-Control": "no-store",
        "Content-Security-Policy": content_security_policy(page_html),
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
    }

    @app.get("/", include_in_schema=False)
    def page() -> HTMLResponse:
        return HTMLResponse(page_html, headers=page_headers)

    @app.get("/healthz", tags=["operations"], summary="Liveness: the process answers")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["operations"],
        summary="Readiness: bundle (and model) loaded",
        responses={503: {"description": "not ready (bundle missing)"}},
    )
    def readyz(request: Request) -> JSONResponse:
        rt = runtime(request)
        st = rt.state
        body = {
            "ready": st.ready,
            "bundle": st.bundle_info() and {"bundle_sha256": st.bundle_info()["bundle_sha256"]},
            "bundle_error": st.bundle_error,
            "model": st.model_info(),
            "model_error": st.scorer_error,
            "load_seconds": round(st.load_seconds, 3),
            "warmup_seconds": round(st.warmup_seconds, 3),
            "kafka": rt.publisher.status(),
            "audit_degraded": rt.publisher.degraded,
        }
        if not _is_admin(rt, request):
            body = without_details(body)
        return JSONResponse(body, status_code=200 if st.ready else 503)

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics", response_class=Response)
    def metrics(request: Request) -> Response:
        from hcml.observability import metrics_payload

        rt = runtime(request)
        subs.update_gauges(rt)
        payload, content_type = metrics_payload()
        return Response(payload, media_type=content_type)

    @app.get("/v1/whoami", tags=["clinical"], summary="The caller's identity and roles", responses=ERRORS)
    def whoami(principal: Annotated[Principal, Depends(authorize(*ANY_ROLE))]) -> dict[str, Any]:
        return {"subject": principal.subject, "roles": list(principal.roles)}

    @app.post(
        "/v1/annotate",
        tags=["clinical"],
        summary="Annotate and score variants now (variant strings, a small VCF, or a DNA sequence)",
        response_model=None,
        responses={
            200: {"model": AnnotateResponse, "description": "per-variant interpretation, plus rejects"},
            **ERRORS,
            413: {"model": ErrorResponse, "description": "body, variant count or sequence over the limit"},
            422: {"model": ErrorResponse, "description": "malformed JSON, VCF, sequence, or nothing readable"},
            503: {"model": ErrorResponse, "description": "the reference bundle is not loaded"},
        },
    )
    async def annotate(
        body: AnnotateRequest, request: Request, principal: Annotated[Principal, Depends(authorize(*ANY_ROLE))]
    ) -> JSONResponse:
        rt = runtime(request)
        if not rt.state.ready:
            return _error(503, "reference bundle not loaded", {"Retry-After": str(cfg.retry_after_seconds)})
        if rt.publisher.degraded:
            return _audit_unavailable(rt)
        kwargs = dict(
            variants=body.variants,
            vcf=body.vcf,
            sequence=body.sequence,
            owner=principal.subject,
            max_variants=rt.settings.max_variants,
            max_sequence=rt.settings.max_sequence_length,
        )
        if answer_inline(rt.state, body.variants):
            # a few variants, or answers all in the variant cache: a couple of milliseconds on the event
            # loop itself, cheaper than two thread hand-offs (InlinePolicy)
            result = interpret_request(rt.state, inline=True, **kwargs)
        else:
            result = await run_in_threadpool(interpret_request, rt.state, **kwargs)
        slot = _audit_slot(request)
        slot.update(result_id=result["result_id"], n_variants=result["n_variants"], n_rejects=result["n_rejects"])
        subs.count_variants(result)
        if not await subs.record_realtime_result(
            rt, principal, result, payload_text(body.variants, body.vcf, body.sequence)
        ):
            return _audit_unavailable(rt)
        return JSONResponse(result)

    @app.get(
        "/v1/results/{result_id}",
        tags=["clinical"],
        summary="A recent synchronous result",
        responses={**ERRORS, 404: {"model": ErrorResponse}},
    )
    def get_result(
        result_id: Annotated[str, PathParam(max_length=64)],
        request: Request,
        principal: Annotated[Principal, Depends(authorize(*ANY_ROLE))],
    ) -> JSONResponse:
        _audit_slot(request)["result_id"] = result_id
        record = runtime(request).state.recall(result_id)
        if record is None or not subs.visible_to(record.get("owner"), principal):
            return _error(
                404, f"no recent result {result_id!r} visible to you (results are kept for the last few requests)"
            )
        return JSONResponse(record["result"])

    @app.get(
        "/v1/results/{result_id}/provenance",
        tags=["clinical"],
        summary="Which input digest, reference bundle, model and code produced a result",
        responses={**ERRORS, 404: {"model": ErrorResponse}},
    )
    def get_result_provenance(
        result_id: Annotated[str, PathParam(max_length=64)],
        request: Request,
        principal: Annotated[Principal, Depends(authorize(*ANY_ROLE))],
    ) -> JSONResponse:
        _audit_slot(request)["result_id"] = result_id
        record = runtime(request).state.recall(result_id)
        if record is None or not subs.visible_to(record.get("owner"), principal):
            return _error(404, f"no recent result {result_id!r} visible to you")
        return JSONResponse(record["provenance"])

    @app.post(
        "/v1/submissions",
        tags=["clinical"],
        summary="Queue a large VCF for the batch pipeline (stored, announced on Kafka)",
        status_code=202,
        response_model=None,
        responses={
            202: {"model": SubmissionAccepted},
            **ERRORS,
            413: {"model": ErrorResponse},
            422: {"model": ErrorResponse},
            503: {"model": ErrorResponse, "description": "cannot accept work now (Kafka unavailable); see Retry-After"},
        },
        max_body_size=cfg.max_submission_bytes,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": SubmissionRequest.model_json_schema()}},
            }
        },
    )
    async def submit(request: Request, principal: Annotated[Principal, Depends(authorize(*CLINICAL))]) -> JSONResponse:
        # Read raw and parsed on a worker thread rather than by FastAPI on the event loop. The parser holds the
        # GIL throughout, though: a 64 MB body still pauses every request ~2 s (docs/realtime.md); only a caller
        # whose role and Content-Length passed AuditAndMetrics and the body limit gets this far.
        raw = await request.body()
        try:
            body = await run_in_threadpool(SubmissionRequest.model_validate_json, raw)
        except ValidationError as exc:
            return _error(422, validation_errors(exc.errors(), prefix=("body",)))
        rt = runtime(request)
        accepted = await run_in_threadpool(subs.queue_submission, rt, principal, body)
        if isinstance(accepted, JSONResponse):
            return accepted
        _audit_slot(request)["submission_id"] = accepted["submission_id"]
        return JSONResponse(accepted, status_code=202)

    @app.get(
        "/v1/submissions/{submission_id}",
        tags=["clinical"],
        summary="Status (and report) of a submission",
        response_model=None,
        responses={200: {"model": SubmissionStatus}, **ERRORS, 404: {"model": ErrorResponse}},
    )
    def submission_status(
        submission_id: Annotated[str, PathParam(max_length=64)],
        request: Request,
        principal: Annotated[Principal, Depends(authorize(*CLINICAL))],
    ) -> JSONResponse:
        _audit_slot(request)["submission_id"] = submission_id
        record = subs.lookup(runtime(request), submission_id, principal)
        if record is None:
            return _error(404, f"no submission {submission_id!r} visible to you")
        return JSONResponse(subs.public_status(record))

    @app.get(
        "/v1/submissions/{submission_id}/provenance",
        tags=["clinical"],
        summary="Provenance of a submission's report",
        response_model=None,
        responses={**ERRORS, 404: {"model": ErrorResponse}, 409: {"model": ErrorResponse}},
    )
    def submission_provenance(
        submission_id: Annotated[str, PathParam(max_length=64)],
        request: Request,
        principal: Annotated[Principal, Depends(authorize(*CLINICAL))],
    ) -> JSONResponse:
        _audit_slot(request)["submission_id"] = submission_id
        rt = runtime(request)
        record = subs.lookup(rt, submission_id, principal)
        if record is None:
            return _error(404, f"no submission {submission_id!r} visible to you")
        prov = subs.provenance_of(record)
        if prov is None:
            return _error(409, f"submission {submission_id!r} has no report yet (status {record.get('status')})")
        return JSONResponse(prov)

    @app.get("/v1/audit", tags=["operations"], summary="The latest audit records (admin)", responses={**ERRORS})
    def audit_tail(
        request: Request,
        principal: Annotated[Principal, Depends(authorize("admin"))],
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> JSONResponse:
        return JSONResponse(runtime(request).audit.tail(limit))


def __getattr__(name: str) -> Any:
    """`realtime.app:app` for uvicorn, built on first access (not at import time)."""
    if name == "app":
        global _APP
        with _APP_LOCK:
            if _APP is None:
                _APP = create_app()
        return _APP
    raise AttributeError(name)


_APP: FastAPI | None = None
_APP_LOCK = threading.Lock()
