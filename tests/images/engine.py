"""podman, as the image tests and bench/image_start.py drive it: the project's containers.conf, the images that
scripts/images.sh builds, and containers started the way OpenShift starts them (an arbitrary UID in group 0,
a read-only root filesystem, tmpfs where the manifests mount emptyDirs)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from hcml.config import REPO_ROOT

CONTAINERS_CONF = REPO_ROOT / "deploy" / "containers" / "containers.conf"
IMAGES_SCRIPT = REPO_ROOT / "scripts" / "images.sh"
OPENSHIFT_USER = "1000770000:0"  # a UID from a namespace's range, always in group 0


def env() -> dict[str, str]:
    return {**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF)}


def podman(*args: str, check: bool = True, timeout: float = 300, input: str | None = None) -> subprocess.CompletedProcess:
    out = subprocess.run(["podman", *args], env=env(), capture_output=True, text=True, timeout=timeout, input=input)
    if check and out.returncode != 0:
        raise RuntimeError(f"podman {' '.join(args)}: exit {out.returncode}\n{out.stderr[-3000:]}")
    return out


def image_tag() -> str:
    version = subprocess.run(["sed", "-n", 's/^version = "\\(.*\\)"/\\1/p', str(REPO_ROOT / "pyproject.toml")],
                             capture_output=True, text=True, check=True).stdout.split()[0]
    return os.environ.get("HCML_IMAGE_TAG", version)


def image(name: str) -> str:
    """`realtime` -> localhost/hcml-realtime:<version>, as scripts/images.sh tags it."""
    return f"localhost/hcml-{name}:{image_tag()}"


def why_podman_cannot_run() -> str | None:
    """None when podman can start a container here, else the reason (the tests skip with it)."""
    if shutil.which("podman") is None:
        return "podman is not installed (scripts/images.sh install)"
    try:
        info = podman("info", "--format", "{{.Host.OCIRuntime.Name}}", timeout=60, check=False)
    except subprocess.TimeoutExpired:
        return "podman info timed out"
    if info.returncode != 0:
        return f"podman cannot run here: {info.stderr.strip()[-500:]}"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Container:
    """A container started detached; `stop()` removes it and returns its logs."""

    name: str
    started: float = 0.0
    _logs: str | None = field(default=None, repr=False)

    def logs(self) -> str:
        if self._logs is not None:
            return self._logs
        out = podman("logs", self.name, check=False)
        return out.stdout + out.stderr

    def exec(self, *argv: str, timeout: float = 300, user: str = OPENSHIFT_USER) -> subprocess.CompletedProcess:
        return podman("exec", "--user", user, self.name, *argv, check=False, timeout=timeout)

    def running(self) -> bool:
        out = podman("inspect", "--format", "{{.State.Running}}", self.name, check=False)
        return out.stdout.strip() == "true"

    def stop(self) -> str:
        self._logs = self.logs()
        podman("rm", "-f", "-t", "5", self.name, check=False)
        return self._logs


def run_openshift(image_ref: str, argv: list[str] | None = None, *, tmpfs: list[str], environment: dict[str, str]
                  | None = None, network: str = "host", entrypoint: list[str] | None = None) -> Container:
    """Detached, as the restricted SCC runs a pod: arbitrary UID in group 0, read-only root, no capabilities,
    no privilege escalation, tmpfs (the emptyDirs) only where given."""
    name = f"hcml-test-{uuid.uuid4().hex[:10]}"
    args = ["run", "-d", "--name", name, "--user", OPENSHIFT_USER, "--read-only", "--read-only-tmpfs=false",
            "--cap-drop", "ALL", "--security-opt", "no-new-privileges", f"--network={network}"]
    for path in tmpfs:
        args += ["--tmpfs", f"{path}:rw,nosuid,nodev,mode=1777"]
    for key, value in (environment or {}).items():
        args += ["-e", f"{key}={value}"]
    if entrypoint is not None:
        args += ["--entrypoint", json.dumps(entrypoint)]
    import time

    started = time.perf_counter()
    podman(*args, image_ref, *(argv or []))
    return Container(name=name, started=started)


def image_size(image_ref: str) -> int:
    return int(podman("image", "inspect", "--format", "{{.Size}}", image_ref).stdout.strip())


def image_config(image_ref: str) -> dict:
    return json.loads(podman("image", "inspect", image_ref).stdout)[0]["Config"]


def images_out() -> Path:
    return Path(os.environ.get("HCML_IMAGES_OUT", REPO_ROOT / "var" / "images"))
