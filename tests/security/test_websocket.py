"""The WebSocket before and after authentication: small frames until the token is checked, the documented
error frame and close code for what cannot be read (never a traceback), and a session that ends with its
token. Close codes are those of realtime/ws.py's docstring."""

from __future__ import annotations

import base64
import json
import os
import time

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from .conftest import server_token, signed_token

CLOSE_POLICY, CLOSE_TOO_BIG = 1008, 1009
DEEP = "[" * 100_000 + "]" * 100_000  # valid JSON, far deeper than Python's parser recurses
DEEP_SMALL = "[" * 8000 + "]" * 8000  # the same under the pre-authentication frame limit (16 KiB)


def _url(server) -> str:
    return server.url.replace("http", "ws") + "/v1/ws"


def _closed_with(ws) -> int:
    with pytest.raises(ConnectionClosed) as closed:
        for _ in range(10):
            ws.recv(timeout=30)
    return closed.value.rcvd.code if closed.value.rcvd else None


def _ready(ws, token: str) -> None:
    ws.send(json.dumps({"type": "auth", "token": token}))
    assert json.loads(ws.recv(timeout=30))["type"] == "ready"


def test_a_large_frame_before_authentication_is_refused_unread(server):
    noise = base64.b64encode(os.urandom(3 << 20)).decode()  # 4 MiB of incompressible text
    with connect(_url(server), max_size=None) as ws:
        try:
            ws.send(json.dumps({"type": "auth", "token": noise}))
        except ConnectionClosed:
            pass
        assert _closed_with(ws) == CLOSE_TOO_BIG
    assert "Traceback" not in server.logs()


def test_after_authentication_larger_frames_are_read(server):
    padding = "x" * (64 << 10)  # over the pre-authentication limit, under the annotate frame limit
    with connect(_url(server), max_size=None) as ws:
        _ready(ws, server_token(server, "clinician"))
        ws.send(json.dumps({"type": "annotate", "ref": "big", "variants": ["21-25891796-C-T"], "pad": padding}))
        frame = json.loads(ws.recv(timeout=60))
        assert frame["ref"] == "big" and frame["type"] in ("progress", "result", "error")


@pytest.mark.parametrize("first", [DEEP_SMALL, '{"type": "auth", "token": ' + DEEP_SMALL + "}"])
def test_deeply_nested_json_as_the_first_frame_gets_the_error_frame_and_policy_close(server, first):
    with connect(_url(server), max_size=None) as ws:
        ws.send(first)
        frame = json.loads(ws.recv(timeout=30))
        assert frame["type"] == "error" and frame["status"] == 401, frame
        assert _closed_with(ws) == CLOSE_POLICY
    assert "RecursionError" not in server.logs() and "Traceback" not in server.logs()


def test_deeply_nested_json_after_authentication_is_an_error_frame_and_the_socket_stays(server):
    with connect(_url(server), max_size=None) as ws:
        _ready(ws, server_token(server, "clinician"))
        ws.send(DEEP)
        frame = json.loads(ws.recv(timeout=30))
        assert frame["type"] == "error" and frame["status"] == 400, frame
        ws.send(json.dumps({"type": "annotate", "ref": "after", "variants": ["21-25891796-C-T"]}))
        while (frame := json.loads(ws.recv(timeout=60)))["type"] != "result":
            pass
        assert frame["ref"] == "after"
    assert "RecursionError" not in server.logs() and "Traceback" not in server.logs()


def test_a_binary_first_frame_gets_the_error_frame_and_policy_close(server):
    token = server_token(server, "clinician")
    with connect(_url(server)) as ws:
        ws.send(json.dumps({"type": "auth", "token": token}).encode())  # right content, binary frame
        frame = json.loads(ws.recv(timeout=30))
        assert frame["type"] == "error" and frame["status"] == 401 and "text frame" in frame["detail"]
        assert _closed_with(ws) == CLOSE_POLICY
    with connect(_url(server)) as ws:
        _ready(ws, token)
        ws.send(b"\x00\xff binary")
        frame = json.loads(ws.recv(timeout=30))
        assert frame["type"] == "error" and frame["status"] == 400
        ws.send(json.dumps({"type": "subscribe", "ref": "open", "submission_id": "x"}))
        assert json.loads(ws.recv(timeout=30))["ref"] == "open"  # still open
    assert "KeyError" not in server.logs() and "Traceback" not in server.logs()


def test_a_session_ends_when_its_token_expires(server):
    """A token already past `exp` but inside the 30 s leeway: accepted now, refused ~3 s later over HTTP;
    the socket opened with it must not outlive it."""
    from realtime.auth import LEEWAY_SECONDS

    token = signed_token(server, {"roles": ["clinician"], "sub": "short-lived"}, ttl_seconds=3 - LEEWAY_SECONDS)
    with connect(_url(server)) as ws:
        _ready(ws, token)
        began = time.monotonic()
        frames = []
        with pytest.raises(ConnectionClosed) as closed:
            while time.monotonic() - began < 30:  # hang guard: the close is due ~3 s in
                try:
                    ws.send(json.dumps({"type": "subscribe", "ref": "ping", "submission_id": "none"}))
                except ConnectionClosed:
                    pass  # closed meanwhile: what it sent before is still to be read
                frames.append(json.loads(ws.recv(timeout=30)))
                time.sleep(0.2)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == CLOSE_POLICY
    assert frames[-1]["status"] == 401 and "expired" in frames[-1]["detail"], frames[-3:]
    assert any(f.get("ref") == "ping" for f in frames)  # it was answering before


def test_a_session_opened_with_a_header_token_also_ends_with_it(server):
    from realtime.auth import LEEWAY_SECONDS

    token = signed_token(server, {"roles": ["clinician"]}, ttl_seconds=2 - LEEWAY_SECONDS)
    with connect(_url(server), additional_headers={"Authorization": f"Bearer {token}"}) as ws:
        assert json.loads(ws.recv(timeout=30))["type"] == "ready"
        frame = json.loads(ws.recv(timeout=30))  # nothing sent: the server closes on its own
        assert frame["status"] == 401
        assert _closed_with(ws) == CLOSE_POLICY
