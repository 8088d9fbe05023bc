"""Fixtures of the realtime service tests: the app over the real bundle, tokens, and a real uvicorn server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from hcml.config import REPO_ROOT

# Variables the service reads; cleared so the developer's environment cannot change a test's outcome.
SERVICE_VARS = (
    "HCML_OIDC_ISSUER", "HCML_OIDC_JWKS_URL", "HCML_OIDC_AUDIENCE", "HCML_KAFKA_BOOTSTRAP",
    "HCML_MLFLOW_TRACKING_URI", "HCML_MODEL_DIR", "HCML_AUDIT_LOG", "HCML_AZURE_STORAGE_CONNECTION_STRING",
    "HCML_AZURE_STORAGE_ACCOUNT_URL", "HCML_REALTIME_MAX_BODY_BYTES", "HCML_REALTIME_MAX_SUBMISSION_BYTES",
    "HCML_REALTIME_MAX_VARIANTS", "HCML_REALTIME_MAX_SEQUENCE", "HCML_REALTIME_OUTBOX_DIR",
    "HCML_REALTIME_OUTBOX_MAX_BYTES", "HCML_REALTIME_OUTBOX_FSYNC",
    "HCML_REALTIME_MODEL_POLL_SECONDS", "HCML_REALTIME_RESULTS_CACHE", "HCML_REALTIME_RETRY_AFTER",
)


def service_env(data_dir: Path, bundle_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SERVICE_VARS}
    env.update(HCML_DATA_DIR=str(data_dir), HCML_BUNDLE_DIR=str(bundle_dir), HCML_PSEUDONYM_KEY="realtime-test-key")
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def rt_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("realtime-data")


@pytest.fixture(scope="module")
def rt_env(rt_data_dir: Path, bundle_dir: Path) -> Iterator[dict[str, str]]:
    """The process environment of the service for one test module (restored afterwards)."""
    env = service_env(rt_data_dir, bundle_dir)
    with pytest.MonkeyPatch.context() as mp:
        for k in SERVICE_VARS:
            mp.delenv(k, raising=False)
        for k in ("HCML_DATA_DIR", "HCML_BUNDLE_DIR", "HCML_PSEUDONYM_KEY"):
            mp.setenv(k, env[k])
        yield env


@pytest.fixture(scope="module")
def client(rt_env: dict[str, str]):
    """The ASGI app in-process (lifespan run: bundle + model loaded), through Starlette's TestClient."""
    from fastapi.testclient import TestClient

    from realtime.app import create_app

    with TestClient(create_app()) as c:
        yield c


@pytest.fixture(scope="module")
def tokens(rt_env: dict[str, str]) -> dict[str, str]:
    from realtime.auth import mint_dev_token
    from realtime.settings import load_settings

    settings = load_settings()
    return {role: mint_dev_token(settings, role, subject=f"test-{role}") for role in ("clinician", "researcher", "admin")}


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log_path: Path
    data_dir: Path

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_server(data_dir: Path, bundle_dir: Path, log_path: Path, **extra_env: str) -> Server:
    """`hcml serve` in a subprocess on a free port; waits until /readyz answers 200."""
    port = free_port()
    env = service_env(data_dir, bundle_dir, **extra_env)
    log = open(log_path, "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "hcml.cli", "serve", "--port", str(port), "--access-log"],
        cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120  # start-up guard, not a performance assertion
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"hcml serve exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1.0).status_code == 200:
                return Server(url, proc, log_path, data_dir)
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    stop_server(Server(url, proc, log_path, data_dir))
    raise RuntimeError(f"hcml serve did not become ready:\n{log_path.read_text()[-3000:]}")


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(timeout=10)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, bundle_dir: Path) -> Iterator[Server]:
    """A real `hcml serve` process (uvicorn) over the real bundle, stopped after the module."""
    data_dir = tmp_path_factory.mktemp("realtime-server")
    srv = start_server(data_dir, bundle_dir, data_dir / "server.log")
    try:
        yield srv
    finally:
        stop_server(srv)


def server_token(server: Server, role: str) -> str:
    """A dev token for the server's data dir (its own development key)."""
    env = service_env(server.data_dir, Path("/nonexistent"))
    out = subprocess.run([sys.executable, "-m", "hcml.cli", "dev-token", "--role", role], cwd=REPO_ROOT, env=env,
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()
