"""The request head: size and read-time limits before any application code runs (realtime/protocol.py),
no Host header reflected into a redirect, and no page that needs the internet (/docs)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .conftest import Server, raw_http, read_until_closed, start_server, status_of, stop_server

HEADER_TIMEOUT = 1.5  # seconds, for the slow-client server of this module


@pytest.fixture(scope="module")
def impatient_server(tmp_path_factory: pytest.TempPathFactory, bundle_dir: Path) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("impatient-server")
    srv = start_server(data_dir, bundle_dir, data_dir / "server.log",
                       HCML_REALTIME_HEADER_TIMEOUT_SECONDS=str(HEADER_TIMEOUT))
    try:
        yield srv
    finally:
        stop_server(srv)


def _connect(server: Server) -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=30)


def test_an_oversized_header_is_refused_before_it_is_read_whole(server):
    big = b"x" * (8 << 20)
    with _connect(server) as sock:
        sent = 0
        try:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: hcml\r\nX-Padding: ")
            for i in range(0, len(big), 65536):
                sock.sendall(big[i:i + 65536])
                sent += 65536
            sock.sendall(b"\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server closed the connection while we were still sending: what the limit is for
        answer = read_until_closed(sock, 30)
    assert status_of(answer) == 431 or (answer == b"" and sent < len(big)), answer[:200]
    assert httpx.get(f"{server.url}/healthz", timeout=30).status_code == 200  # the server is unharmed


def test_a_large_but_reasonable_header_still_works(server):
    answer = raw_http(server, b"GET /healthz HTTP/1.1\r\nHost: hcml\r\nConnection: close\r\nCookie: "
                      + b"c" * 16000 + b"\r\n\r\n")
    assert status_of(answer) == 200


def test_a_head_that_never_completes_is_answered_408_and_closed(impatient_server):
    with _connect(impatient_server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: hcml\r\nX-Slow: ")
        began = time.monotonic()
        for _ in range(3):  # a byte now and then does not keep it open: the deadline counts from the first byte
            time.sleep(HEADER_TIMEOUT / 3)
            try:
                sock.sendall(b"a")
            except (BrokenPipeError, ConnectionResetError):
                break
        answer = read_until_closed(sock, 30)
    assert status_of(answer) == 408, answer[:200]
    assert time.monotonic() - began < 25  # closed by the server, not by this test's 30 s guard


def test_a_connection_that_sends_nothing_is_closed(impatient_server):
    with _connect(impatient_server) as sock:
        began = time.monotonic()
        answer = read_until_closed(sock, 30)
    assert answer == b"" and time.monotonic() - began < 25  # closed by the server, not by the guard


def test_a_body_that_stalls_is_answered_408_and_closed(impatient_server):
    from .conftest import server_token

    token = server_token(impatient_server, "clinician")
    with _connect(impatient_server) as sock:
        sock.sendall((f"POST /v1/annotate HTTP/1.1\r\nHost: hcml\r\nAuthorization: Bearer {token}\r\n"
                      "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"variants\": [").encode())
        answer = read_until_closed(sock, 30)
    assert status_of(answer) == 408, answer[:200]


def test_keep_alive_requests_are_not_cut_by_the_read_deadline(impatient_server):
    """Two requests on one connection, the second after a pause longer than the head deadline."""
    with _connect(impatient_server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: hcml\r\n\r\n")
        assert status_of(read_until_closed(sock, 30)) == 200
        time.sleep(HEADER_TIMEOUT * 2)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: hcml\r\nConnection: close\r\n\r\n")
        assert status_of(read_until_closed(sock, 30)) == 200


def test_the_host_header_is_never_reflected_into_a_redirect(server):
    from .conftest import server_token

    token = server_token(server, "clinician")
    for path in ("/v1/whoami/", "/healthz/", "/readyz/", "/v1/results/abc/"):
        answer = raw_http(server, (f"GET {path} HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n"
                                   f"X-Forwarded-Host: evil.example\r\nAuthorization: Bearer {token}\r\n\r\n").encode())
        assert b"evil.example" not in answer, answer[:400]
        assert status_of(answer) == 404


def test_no_page_needs_the_internet(server):
    """Swagger UI's page loads its script and style from a CDN: the service does not serve it."""
    with httpx.Client(base_url=server.url, timeout=30) as http:
        assert http.get("/docs").status_code == 404
        assert http.get("/docs/oauth2-redirect").status_code == 404
        assert http.get("/openapi.json").json()["info"]["title"]  # the API description stays
        page = http.get("/")
    assert page.status_code == 200
    for marker in ("src=\"http", "href=\"http", "cdn.", "//unpkg", "jsdelivr"):
        assert marker not in page.text, marker
