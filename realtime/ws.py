"""`GET /v1/ws`: submit over a WebSocket and receive progress and results pushed.

Protocol (JSON text frames):
  client -> {"type": "auth", "token": "<bearer>"}            first frame (or an Authorization header)
  server -> {"type": "ready", "subject": ..., "roles": [...]}
  client -> {"type": "annotate", "ref": "r1", "variants": [...] | "vcf": "..." | "sequence": "..."}
  server -> {"type": "progress", "ref": "r1", "stage": "received" | "parsed" | "annotated", ...counts}
  server -> {"type": "result", "ref": "r1", ...the body of POST /v1/annotate}
  client -> {"type": "submit", "ref": "r2", "vcf": "...", ...}  queue a large VCF (clinician/admin)
  server -> {"type": "queued", "ref": "r2", "submission_id": ...}, later {"type": "result", "submission_id": ...}
  client -> {"type": "subscribe", "submission_id": "..."}    pushed the current status now and the result later
  server -> {"type": "error", "ref": ..., "status": 4xx, "detail": ...}   the connection stays open
Browsers cannot set headers on a WebSocket, hence the auth frame; the token never goes in the URL (URLs are
logged by proxies).

Close codes: 1008 (CLOSE_POLICY) refused credentials, a malformed first frame, or a token that expired
during the session (an error frame with status 401 says which first); 1009 a frame over the size limit
(HCML_REALTIME_WS_PREAUTH_BYTES before authentication, the submission limit after); 1013 (CLOSE_SLOW_READER)
the client left more than HCML_REALTIME_WS_OUTBOX_BYTES of answers unread (or all sockets together more than
HCML_REALTIME_WS_OUTBOX_TOTAL_BYTES, and this one added to them).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from typing import Any

from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from realtime.audit import Timer, outcome_for
from realtime.auth import AuthError, Principal, bearer_from_header, require_role, single_authorization
from realtime.models import AnnotateRequest, SubmissionRequest

log = logging.getLogger("hcml.realtime.ws")

AUTH_TIMEOUT_SECONDS = 10.0
CLOSE_POLICY = 1008  # policy violation (bad credentials, a malformed first frame, an expired token)
CLOSE_SLOW_READER = 1013  # try again later: the client does not read its answers
FRAME_LIMIT_EXTENSION = "hcml.frame_limit"  # realtime.protocol: raise the frame limit once authenticated
CLOSE_NOW_EXTENSION = "hcml.close_now"  # realtime.protocol: close without waiting for the client to read


class OutboxTotal:
    """Unread bytes of all of a process's WebSockets together: many sockets of one client must not add up to
    what one may not hold."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.bytes = 0


class Outbox:
    """The frames waiting for one client, serialised when queued and bounded in bytes.

    A client that sends requests but never reads would otherwise keep every answer in server memory; past
    `limit` bytes (or when all sockets together pass `total.limit`, the one adding to them) the connection is
    closed with CLOSE_SLOW_READER. `put_nowait` (also called by the submission hub) never blocks and never
    raises."""

    def __init__(self, limit: int, on_overflow: Any = None, total: OutboxTotal | None = None) -> None:
        self.limit = limit
        self.total = total or OutboxTotal(limit)
        self.bytes = 0
        self.overflowed = False
        self.on_overflow = on_overflow
        self._frames: deque[str | tuple[int, str]] = deque()
        self._ready = asyncio.Event()
        self.closed = asyncio.Event()  # set by the pusher once it has sent a close queued with `close_after`

    def put_nowait(self, message: dict[str, Any]) -> None:
        if self.overflowed:
            return
        text = json.dumps(message, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        if self.bytes + len(text) > self.limit or self.total.bytes + len(text) > self.total.limit:
            self.overflowed = True
            self.release()
            if self.on_overflow is not None:
                self.on_overflow()
        else:
            self._frames.append(text)
            self.bytes += len(text)
            self.total.bytes += len(text)
        self._ready.set()

    def release(self) -> None:
        """Drop what is queued (the connection is going)."""
        self._frames.clear()
        self.total.bytes -= self.bytes
        self.bytes = 0

    def close_after(self, code: int, reason: str) -> None:
        """Close the socket once every frame queued so far has been sent."""
        self._frames.append((code, reason))
        self._ready.set()

    async def get(self) -> str | tuple[int, str] | None:
        """The next frame's text, or a queued close (code, reason); None once the client has overflowed."""
        while not self._frames and not self.overflowed:
            self._ready.clear()
            await self._ready.wait()
        if self.overflowed:
            return None
        item = self._frames.popleft()
        if isinstance(item, str):
            self.bytes -= len(item)
            self.total.bytes -= len(item)
        return item


def register_websocket(app: FastAPI) -> None:
    @app.websocket("/v1/ws")
    async def websocket_endpoint(ws: WebSocket) -> None:
        rt = ws.app.state.runtime
        await ws.accept()
        principal = await _authenticate(ws, rt)
        if principal is None:
            return
        raise_limit = ws.scope.get("extensions", {}).get(FRAME_LIMIT_EXTENSION)
        if raise_limit is not None:
            raise_limit(rt.settings.max_submission_bytes)
        rt.hub.connections += 1
        closing: list[asyncio.Task] = []
        total = getattr(ws.app.state, "ws_outbox_total", None)
        if total is None:
            total = ws.app.state.ws_outbox_total = OutboxTotal(rt.settings.ws_outbox_total_bytes)
        queue = Outbox(
            rt.settings.ws_outbox_bytes,
            total=total,
            on_overflow=lambda: closing.append(
                asyncio.create_task(_close(ws, CLOSE_SLOW_READER, "too many bytes of answers unread", pusher))
            ),
        )
        ws.state.outbox = queue  # one writer (the pusher task) keeps frames in order
        pusher = asyncio.create_task(_push(ws, queue))
        expiry = asyncio.create_task(_close_at_expiry(ws, queue, principal, pusher))
        try:
            queue.put_nowait({"type": "ready", "subject": principal.subject, "roles": list(principal.roles)})
            while True:
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    break
                if time.time() >= principal.refused_after:
                    await expiry  # says so, then closes
                    break
                raw = message.get("text")
                if raw is None:
                    _send_error_now(queue, None, 400, "binary frames are not accepted: send JSON text frames")
                    continue
                try:
                    await _handle(ws, rt, principal, queue, raw)
                except (WebSocketDisconnect, asyncio.CancelledError):
                    raise
                except Exception as exc:  # one bad frame never takes the session (or a traceback) with it
                    log.error("websocket frame failed", extra={"error": type(exc).__name__})
                    _send_error_now(queue, None, 500, "internal error handling this frame")
        except WebSocketDisconnect:
            pass
        finally:
            rt.hub.connections -= 1
            rt.hub.unsubscribe_all(queue)
            pusher.cancel()
            expiry.cancel()
            queue.release()


async def _push(ws: WebSocket, queue: Outbox) -> None:
    try:
        while True:
            item = await queue.get()
            if item is None:
                return
            if isinstance(item, tuple):
                await ws.close(code=item[0], reason=item[1])
                queue.closed.set()
                return
            await ws.send_text(item)
    except (asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
        return


async def _close(ws: WebSocket, code: int, reason: str, pusher: asyncio.Task) -> None:
    """Close with `code` now, dropping what is still queued. A client that does not read keeps the server's
    `send` waiting for buffer room, the close frame included: under uvicorn the protocol writes it at once and
    drops the connection if the client still has not read it after uvicorn's close timeout."""
    pusher.cancel()
    close_now = ws.scope.get("extensions", {}).get(CLOSE_NOW_EXTENSION)
    try:
        if close_now is not None:
            close_now(code, reason)
        else:
            await ws.close(code=code, reason=reason)
    except (WebSocketDisconnect, RuntimeError):
        pass


async def _close_at_expiry(ws: WebSocket, queue: Outbox, principal: Principal, pusher: asyncio.Task) -> None:
    """Close the session when its token would be refused over HTTP (exp + leeway): a socket never outlives
    the credentials it was opened with."""
    try:
        await asyncio.sleep(max(0.0, principal.refused_after - time.time()))
        queue.put_nowait({"type": "error", "status": 401, "detail": "token expired: reconnect with a fresh token"})
        queue.close_after(CLOSE_POLICY, "token expired")
        try:
            await asyncio.wait_for(queue.closed.wait(), 5.0)
        except TimeoutError:  # the client does not read: close without it
            await _close(ws, CLOSE_POLICY, "token expired", pusher)
    except asyncio.CancelledError:
        return


async def _authenticate(ws: WebSocket, rt: Any) -> Principal | None:
    timer = Timer()
    try:
        header = single_authorization(ws.scope.get("headers") or [])
        if header:
            token = bearer_from_header(header)
        else:
            try:
                first = await asyncio.wait_for(ws.receive(), AUTH_TIMEOUT_SECONDS)
            except TimeoutError as exc:
                raise AuthError(401, "no auth frame within 10 s") from exc
            if first["type"] == "websocket.disconnect":
                return None
            if first.get("text") is None:
                raise AuthError(401, 'first frame must be a JSON text frame {"type": "auth", "token": ...}')
            msg = _parse_json(first["text"])
            if msg is None:
                raise AuthError(401, 'first frame must be JSON {"type": "auth", "token": ...}')
            if not isinstance(msg, dict) or msg.get("type") != "auth" or not isinstance(msg.get("token"), str):
                raise AuthError(401, 'first frame must be {"type": "auth", "token": "<bearer token>"}')
            token = msg["token"]
        principal = rt.verifier.verify(token)
        _audit(rt, ws, principal, "WS connect", 101, timer)
        return principal
    except AuthError as exc:
        _audit(rt, ws, None, "WS connect", exc.status, timer)
        try:
            await ws.send_json({"type": "error", "status": exc.status, "detail": exc.detail})
            await ws.close(code=CLOSE_POLICY, reason=exc.detail[:120])
        except (WebSocketDisconnect, RuntimeError):
            pass
        return None
    except WebSocketDisconnect:
        return None


def _audit(
    rt: Any, ws: WebSocket, principal: Principal | None, action: str, status: int, timer: Timer, **fields: Any
) -> None:
    client = ws.client
    rt.audit.write(
        subject=principal.subject if principal else None,
        role=principal.role if principal else None,
        action=action,
        outcome=outcome_for(status),
        status=status,
        duration_ms=timer.ms,
        client=client.host if client else None,
        **fields,
    )


async def _send_error(ws: WebSocket, ref: Any, status: int, detail: Any) -> None:
    _send_error_now(ws.state.outbox, ref, status, detail)


def _send_error_now(queue: Outbox, ref: Any, status: int, detail: Any) -> None:
    queue.put_nowait({"type": "error", "ref": ref, "status": status, "detail": detail})


def _parse_json(raw: str) -> Any:
    """The frame's JSON value; None for text that is not JSON or nests deeper than the parser's recursion
    limit (a RecursionError, not a ValueError)."""
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return None


async def _handle(ws: WebSocket, rt: Any, principal: Principal, queue: Outbox, raw: str) -> None:
    from hcml.genomics.errors import InputError
    from realtime.service import NothingToAnnotate, RequestTooLarge, answer_inline, interpret_request, payload_text
    from realtime.submissions import (
        AUDIT_UNAVAILABLE,
        count_variants,
        lookup,
        public_status,
        queue_submission,
        record_realtime_result,
    )

    timer = Timer()
    size = len(raw.encode("utf-8"))
    if size > rt.settings.max_submission_bytes:
        await _send_error(ws, None, 413, f"frame over {rt.settings.max_submission_bytes} bytes")
        return
    if size > rt.settings.max_body_bytes and not any(r in ("clinician", "admin") for r in principal.roles):
        # only a 'submit' frame may be this large, and this role may not submit: refused before parsing it
        _audit(rt, ws, principal, "WS submit", 403, timer)
        await _send_error(
            ws,
            None,
            403,
            f"frames over {rt.settings.max_body_bytes} bytes are 'submit' frames, "
            f"which role {principal.role!r} may not send",
        )
        return
    try:
        msg = json.loads(raw)
    except ValueError as exc:
        await _send_error(ws, None, 400, f"frame is not JSON: {exc.msg} at position {exc.pos}")
        return
    except RecursionError:
        await _send_error(ws, None, 400, "frame is not JSON this service reads: nested too deeply")
        return
    if not isinstance(msg, dict):
        await _send_error(ws, None, 400, "frame must be a JSON object with a 'type'")
        return
    kind, ref = msg.get("type"), msg.get("ref")
    if not isinstance(ref, (str, int, type(None))) or (isinstance(ref, str) and len(ref) > 100):
        ref = None
    action = f"WS {kind}" if kind in ("annotate", "submit", "subscribe") else "WS unknown"

    if kind == "annotate":
        fields = {k: msg[k] for k in ("variants", "vcf", "sequence") if k in msg}
        try:
            request = AnnotateRequest(**fields)
            if len(raw.encode("utf-8")) > rt.settings.max_body_bytes:
                raise RequestTooLarge(f"frame over {rt.settings.max_body_bytes} bytes; use 'submit' for large VCFs")
            require_role(principal, ("clinician", "researcher", "admin"))
        except ValidationError as exc:
            errors = [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]
            _audit(rt, ws, principal, action, 422, timer)
            await _send_error(ws, ref, 422, errors)
            return
        except RequestTooLarge as exc:
            _audit(rt, ws, principal, action, 413, timer)
            await _send_error(ws, ref, 413, str(exc))
            return
        if not rt.state.ready:
            _audit(rt, ws, principal, action, 503, timer)
            await _send_error(ws, ref, 503, "reference bundle not loaded")
            return
        queue.put_nowait({"type": "progress", "ref": ref, "stage": "received"})
        loop = asyncio.get_running_loop()
        kwargs = dict(
            variants=request.variants,
            vcf=request.vcf,
            sequence=request.sequence,
            owner=principal.subject,
            max_variants=rt.settings.max_variants,
            max_sequence=rt.settings.max_sequence_length,
        )
        inline = answer_inline(rt.state, request.variants)

        def progress(stage: str, **counts: Any) -> None:
            frame = {"type": "progress", "ref": ref, "stage": stage, **counts}
            if inline:  # on the event loop itself: in order before the result
                queue.put_nowait(frame)
            else:
                loop.call_soon_threadsafe(queue.put_nowait, frame)

        try:
            if inline:  # a few variants, cheap (realtime.batching.InlinePolicy)
                result = interpret_request(rt.state, progress=progress, inline=True, **kwargs)
            else:
                result = await run_in_threadpool(interpret_request, rt.state, progress=progress, **kwargs)
        except (InputError, RequestTooLarge, NothingToAnnotate) as exc:
            status = 413 if isinstance(exc, RequestTooLarge) else 422
            _audit(rt, ws, principal, action, status, timer)
            payload: dict[str, Any] = {"type": "error", "ref": ref, "status": status, "detail": str(exc)}
            if isinstance(exc, NothingToAnnotate):
                payload["rejects"] = exc.rejects
            queue.put_nowait(payload)
            return
        count_variants(result)
        if not await record_realtime_result(
            rt, principal, result, payload_text(request.variants, request.vcf, request.sequence)
        ):
            _audit(rt, ws, principal, action, 503, timer)
            await _send_error(ws, ref, 503, AUDIT_UNAVAILABLE)
            return
        # progress frames were queued (call_soon_threadsafe) before the thread's completion: they go first
        queue.put_nowait({"type": "result", "ref": ref, **result})
        _audit(
            rt,
            ws,
            principal,
            action,
            200,
            timer,
            result_id=result["result_id"],
            n_variants=result["n_variants"],
            n_rejects=result["n_rejects"],
        )
        return

    if kind == "submit":
        try:
            require_role(principal, ("clinician", "admin"))
            body = SubmissionRequest(**{k: v for k, v in msg.items() if k not in ("type", "ref")})
        except AuthError as exc:
            _audit(rt, ws, principal, action, exc.status, timer)
            await _send_error(ws, ref, exc.status, exc.detail)
            return
        except ValidationError as exc:
            _audit(rt, ws, principal, action, 422, timer)
            await _send_error(ws, ref, 422, [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()])
            return
        accepted = await run_in_threadpool(queue_submission, rt, principal, body)
        if not isinstance(accepted, dict):  # a JSONResponse: 503 or 422
            detail = json.loads(accepted.body)["detail"]
            _audit(rt, ws, principal, action, accepted.status_code, timer)
            await _send_error(ws, ref, accepted.status_code, detail)
            return
        sid = accepted["submission_id"]
        rt.hub.subscribe(sid, queue)
        _audit(rt, ws, principal, action, 202, timer, submission_id=sid)
        queue.put_nowait({"type": "queued", "ref": ref, **accepted})
        return

    if kind == "subscribe":
        sid = msg.get("submission_id")
        record = lookup(rt, sid, principal) if isinstance(sid, str) else None
        if record is None:
            _audit(rt, ws, principal, action, 404, timer)
            await _send_error(ws, ref, 404, f"no submission {sid!r} visible to you")
            return
        rt.hub.subscribe(sid, queue)
        _audit(rt, ws, principal, action, 200, timer, submission_id=sid)
        status = public_status(record)
        queue.put_nowait(
            {"type": "result" if status["status"] in ("succeeded", "failed") else "status", "ref": ref, **status}
        )
        return

    _audit(rt, ws, principal, action, 400, timer)
    await _send_error(ws, ref, 400, "unknown frame type: use 'annotate', 'submit' or 'subscribe'")
