"""The attack suite's fixtures: a real `hcml serve` process per module (tests.realtime's helpers), tokens of
any shape signed by that server's own development key, raw HTTP over a socket, and the server's memory."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.realtime.conftest import Server, server_token, start_server, stop_server

__all__ = ["Server", "server_token", "start_server", "stop_server"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, bundle_dir: Path) -> Iterator[Server]:
    """`hcml serve` with its default limits (a module needing other settings starts its own)."""
    data_dir = tmp_path_factory.mktemp("attacked-server")
    srv = start_server(data_dir, bundle_dir, data_dir / "server.log")
    try:
        yield srv
    finally:
        stop_server(srv)


def signed_token(server: Server, claims: dict, ttl_seconds: int = 3600) -> str:
    """A token with exactly `claims` (plus iss/aud/iat/exp, and `sub` unless given) signed by the server's own
    development key: trusted by the server whatever its claims say."""
    import jwt

    from realtime.auth import ALGORITHM, dev_private_key, public_jwk
    from realtime.settings import DEFAULT_AUDIENCE, DEV_ISSUER

    key = dev_private_key(server.data_dir / "realtime" / "dev-signing-key.pem")
    now = int(time.time())
    body = {"iss": DEV_ISSUER, "aud": DEFAULT_AUDIENCE, "sub": "attacker", "iat": now, "exp": now + ttl_seconds}
    body.update(claims)
    return jwt.encode(body, key, algorithm=ALGORITHM, headers={"kid": public_jwk(key)["kid"]})


def raw_http(server: Server, request: bytes, timeout: float = 30.0) -> bytes:
    """Send `request` as is over a new TCP connection; everything the server answers until it closes or
    `timeout` passes (a hang guard, not a performance limit)."""
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(request)
        return read_until_closed(sock, timeout)


def read_until_closed(sock: socket.socket, timeout: float) -> bytes:
    chunks, deadline = [], time.monotonic() + timeout
    sock.settimeout(timeout)
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        except ConnectionResetError:
            break
        if not chunk:
            break
        chunks.append(chunk)
        if b"\r\n\r\n" in b"".join(chunks) and b"connection: close" not in b"".join(chunks).lower():
            head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
            length = [int(line.split(b":")[1]) for line in head.lower().split(b"\r\n")
                      if line.startswith(b"content-length:")]
            if length and len(body) >= length[0]:
                break
    return b"".join(chunks)


def status_of(answer: bytes) -> int | None:
    first = answer.split(b"\r\n", 1)[0].split()
    return int(first[1]) if len(first) >= 2 and first[1].isdigit() else None


def rss_bytes(server: Server) -> int:
    """Resident memory of the server process now (Linux /proc)."""
    for line in Path(f"/proc/{server.process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")
