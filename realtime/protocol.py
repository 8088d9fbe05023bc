"""uvicorn's HTTP and WebSocket protocols with the limits uvicorn 0.54 lacks for `hcml serve`.

HTTP (httptools): a request head (request line + headers) over HCML_REALTIME_MAX_HEADER_BYTES is answered
431 and the connection closed; a head not complete HCML_REALTIME_HEADER_TIMEOUT_SECONDS after the
connection opened or after its first byte, or a body that stalls that long between two reads, is answered
408 and closed (a new connection that sends nothing at all is just closed). A request answered before its
body arrived (a refusal) ends the connection instead of reading the rest of the body: uvicorn would parse
and discard up to HCML_REALTIME_MAX_SUBMISSION_BYTES per refused request, as often as a client likes. Without them one client sending a 64 MiB header, or a header one byte a minute, holds memory or
a connection for as long as it likes.

WebSocket (websockets sans-I/O): frames are limited to HCML_REALTIME_WS_PREAUTH_BYTES until the application
authenticates the socket and raises the limit (scope extension `hcml.frame_limit`); a larger frame closes
the connection with 1009 before its payload is read. `hcml.close_now` writes a close frame without waiting
for the client to read what is already queued (a client that never reads would otherwise hold the close,
and the connection, forever) and drops the connection after uvicorn's close timeout.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from realtime.settings import protocol_limits

LINGER_SECONDS = 2.0  # how long an unwanted body is drained unparsed after its refusal
LINGER_BYTES = 1 << 20  # and at most this much of it


class GuardedHttpProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        limits = protocol_limits()
        self.max_head_bytes = limits.max_header_bytes
        self.read_timeout = limits.header_timeout_seconds
        self.reading_head = True
        self.head_bytes = 0
        self.read_timer: Any = None
        self.lingering = 0  # > 0: answered before the body came; bytes of it discarded since

    # ------------------------------------------------------------------------------------- timers
    def _arm(self) -> None:
        self._disarm()
        self.read_timer = self.loop.call_later(self.read_timeout, self._read_timed_out)

    def _disarm(self) -> None:
        if self.read_timer is not None:
            self.read_timer.cancel()
            self.read_timer = None

    def _read_timed_out(self) -> None:
        self.read_timer = None
        if self.transport.is_closing():
            return
        if (self.cycle is not None and self.cycle.response_started) or (self.reading_head and not self.head_bytes):
            self.transport.close()  # answered already, or nothing asked at all: just stop waiting
        else:
            self._refuse(408, "request not received in time")

    def _refuse(self, status: int, message: str) -> None:
        """Answer `status` and close, as uvicorn answers a malformed request (its own 400)."""
        self._disarm()
        body = message.encode("ascii")
        self.transport.write(
            b"".join(
                [
                    STATUS_LINE[status],
                    b"content-type: text/plain; charset=utf-8\r\n",
                    b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
                    b"connection: close\r\n\r\n",
                    body,
                ]
            )
        )
        self.transport.close()

    # ---------------------------------------------------------------------------- protocol hooks
    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._arm()  # a connection that never sends a request does not stay open

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.transport.is_closing():
            return
        if self.lingering:
            self.lingering += len(data)
            if self.lingering > LINGER_BYTES:
                self.transport.abort()
            return
        if self.reading_head:
            self.head_bytes += len(data)
        super().data_received(data)
        if self.parser is None or self.transport.is_closing():
            return
        if self.reading_head and self.head_bytes:
            # still inside one request's head after all of it: the head itself is over the limit
            if self.head_bytes > self.max_head_bytes:
                self._refuse(431, "request header fields too large")
            elif self.read_timer is None:
                self._arm()  # from the head's first byte (the keep-alive timer covers the idle time before)
        elif self.read_timer is not None and self.cycle is not None and self.cycle.more_body:
            self._arm()  # the body keeps arriving: the deadline moves

    def on_headers_complete(self) -> None:
        self.reading_head = False
        self.head_bytes = 0
        self._disarm()
        super().on_headers_complete()
        if self.cycle is not None and self.cycle.more_body and not self.parser.should_upgrade():
            self._arm()

    def on_message_complete(self) -> None:
        self._disarm()
        self.reading_head = True  # whatever arrives next starts the next request's head
        self.head_bytes = 0
        super().on_message_complete()

    def on_response_complete(self) -> None:
        if self.cycle is not None and self.cycle.more_body and not self.transport.is_closing():
            # Answered before the body arrived (a refusal: 401, 403, 413): the rest of the body is not parsed.
            # The answer is followed by FIN; what the client still sends is dropped unparsed for a moment so
            # that it can read the answer (closing at once could reset it away), then the connection goes.
            self.server_state.total_requests += 1
            self._disarm()
            self.lingering = 1
            if self.transport.can_write_eof():
                self.transport.write_eof()
            self.loop.call_later(LINGER_SECONDS, self.transport.abort)
            return
        super().on_response_complete()

    def handle_websocket_upgrade(self) -> None:
        self._disarm()
        super().handle_websocket_upgrade()


class GuardedWebSocketProtocol(WebSocketsSansIOProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.conn.max_message_size = protocol_limits().ws_preauth_bytes

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None:
            scope["extensions"]["hcml.frame_limit"] = self._raise_frame_limit
            scope["extensions"]["hcml.close_now"] = self._close_now

    def _raise_frame_limit(self, limit: int) -> None:
        self.conn.max_message_size = min(limit, self.config.ws_max_size)

    def _close_now(self, code: int, reason: str) -> None:
        if self.close_sent or self.transport.is_closing():
            return
        self.queue.put_nowait({"type": "websocket.disconnect", "code": code, "reason": reason})
        self.conn.send_close(code, reason)
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        if self.read_paused:
            self.read_paused = False
            self.transport.resume_reading()
        self.close_timer = self.loop.call_later(self.close_timeout, self.transport.abort)
