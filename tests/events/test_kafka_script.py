"""scripts/kafka.sh: cached install, a broker that answers, and a clean stop (no stray java process)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from hcml.config import REPO_ROOT

pytestmark = pytest.mark.kafka
SCRIPT = str(REPO_ROOT / "scripts" / "kafka.sh")


def _sh(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", SCRIPT, *args], capture_output=True, text=True, timeout=300)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie waiting for its reaper is not a running broker
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


def test_install_is_cached():
    assert _sh("install").returncode == 0  # resolves the jars with Maven unless already there
    proc = _sh("install")
    assert proc.returncode == 0, proc.stderr
    assert "already in" in proc.stderr  # the second run only checks the cache
    libs = REPO_ROOT / ".tools" / "kafka" / os.environ.get("HCML_KAFKA_VERSION", "4.1.1") / "libs"
    jars = {p.name for p in libs.glob("*.jar")}
    assert any(j.startswith("kafka_2.13-4.") for j in jars) and any(j.startswith("kafka-clients-") for j in jars)


def test_up_answers_and_down_leaves_nothing_running():
    directory = Path(tempfile.mkdtemp(prefix="hcml-kafka-script-"))
    try:
        up = _sh("up", str(directory))
        assert up.returncode == 0, up.stderr
        bootstrap = up.stdout.strip().splitlines()[-1]
        host, port = bootstrap.split(":")
        assert host == "127.0.0.1"
        metadata = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=15)
        assert len(metadata.brokers) == 1  # a real broker answered the metadata request
        pid = int((directory / "pid").read_text())
        assert _alive(pid)
        assert "running" in _sh("status", str(directory)).stdout
        down = _sh("down", str(directory))
        assert down.returncode == 0, down.stderr
        assert not _alive(pid)
        with pytest.raises(OSError):
            socket.create_connection((host, int(port)), timeout=2).close()
        assert "stopped" in _sh("status", str(directory)).stdout
    finally:
        _sh("down", str(directory))
        shutil.rmtree(directory, ignore_errors=True)
