"""Image sizes and the realtime image's cold start: `podman start` of a created container -> first 200 on /readyz.

Targets: hcml-realtime < 600 MB, cold start < 2 s. Runs the image as OpenShift does (UID 1000770000:0, read-only
root, the Knative service's emptyDirs as tmpfs), host networking on a free port; the images come from
`scripts/images.sh build`.

    .venv/bin/python bench/image_start.py [--runs 5] [--compare-host]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hcml.config import REPO_ROOT  # noqa: E402
from tests.images import engine  # noqa: E402


def service_cpu_seconds(name: str) -> float:
    """User + system CPU seconds of the container's main process (every thread, and its reaped children) so far,
    from /proc on the host: the service's own start-up work, which unlike wall time does not depend on the load."""
    pid = engine.podman("inspect", "--format", "{{.State.Pid}}", name).stdout.strip()
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime, cutime, cstime = (int(f) for f in fields[11:15])
    return (utime + stime + cutime + cstime) / os.sysconf("SC_CLK_TCK")


def cold_start(image: str, container_spec: dict) -> tuple[float, float, float]:
    """(seconds from `podman start` to the first 200 on /readyz, seconds `podman start` itself took, CPU seconds
    the service used up to that 200)."""
    port = engine.free_port()
    name = f"hcml-bench-{os.getpid()}-{port}"
    args = [
        "create",
        "--name",
        name,
        "--user",
        engine.OPENSHIFT_USER,
        "--read-only",
        "--read-only-tmpfs=false",
        "--cap-drop",
        "ALL",
        "--network=host",
        "--entrypoint",
        json.dumps(container_spec["command"][:1]),
    ]
    for mount in container_spec["volumeMounts"]:
        args += ["--tmpfs", f"{mount['mountPath']}:rw,mode=1777"]
    engine.podman(*args, image, *container_spec["command"][1:], "--host", "127.0.0.1", "--port", str(port))
    try:
        t0 = time.perf_counter()
        engine.podman("start", name)
        started = time.perf_counter() - t0
        url = f"http://127.0.0.1:{port}/readyz"
        deadline = t0 + 120
        while time.perf_counter() < deadline:
            try:
                if httpx.get(url, timeout=1).status_code == 200:
                    return time.perf_counter() - t0, started, service_cpu_seconds(name)
            except httpx.HTTPError:
                pass
            time.sleep(0.005)
        raise RuntimeError(f"{url} never answered 200:\n{engine.podman('logs', name, check=False).stderr[-3000:]}")
    finally:
        engine.podman("rm", "-f", "-t", "2", name, check=False)


def host_start(tmp: Path) -> float:
    """The same `hcml serve` as a process of this checkout (same bundle source, same load): the container's
    share of the cold start is the difference."""
    port = engine.free_port()
    env = {**os.environ, "HCML_DATA_DIR": str(tmp), "HCML_BUNDLE_DIR": str(tmp / "bundle")}
    env.pop("HCML_MLFLOW_TRACKING_URI", None)
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "hcml.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while time.perf_counter() < t0 + 120:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    return time.perf_counter() - t0
            except httpx.HTTPError:
                pass
            time.sleep(0.005)
        raise RuntimeError("the host process never answered /readyz")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--compare-host", action="store_true", help="also time `hcml serve` run from this checkout")
    args = parser.parse_args()
    reason = engine.why_podman_cannot_run()
    if reason:
        sys.exit(f"podman cannot run here: {reason}")
    for name in ("realtime", "dagster", "train"):
        image = engine.image(name)
        if engine.podman("image", "exists", image, check=False).returncode != 0:
            print(f"{image:40s} not built (scripts/images.sh build {name})")
            continue
        size = engine.image_size(image)
        target = "  (target < 600 MB)" if name == "realtime" else ""
        print(f"{image:40s} {size / 1e6:8.1f} MB{target}")
    service = yaml.safe_load((REPO_ROOT / "realtime" / "deploy" / "knative-service.yaml").read_text())
    spec = service["spec"]["template"]["spec"]["containers"][0]
    image = engine.image("realtime")
    cold_start(image, spec)  # the first start after a build pays the overlay's page cache; not counted
    print(f"  load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    runs = [cold_start(image, spec) for _ in range(args.runs)]
    total = [r[0] for r in runs]
    print(
        f"realtime cold start (podman start -> first 200 on /readyz), {args.runs} runs: "
        f"median {statistics.median(total):.2f} s, min {min(total):.2f} s, max {max(total):.2f} s  (target < 2 s)"
    )
    print(f"  of which `podman start` itself: median {statistics.median(r[1] for r in runs):.2f} s")
    cpu = [r[2] for r in runs]
    print(
        f"  the service's own CPU (user + system, start -> ready): median {statistics.median(cpu):.2f} s, "
        f"min {min(cpu):.2f} s, max {max(cpu):.2f} s"
    )
    if args.compare_host:
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(
                [sys.executable, "-m", "hcml.cli", "reference", "build", "--out", f"{tmp}/bundle"],
                cwd=REPO_ROOT,
                check=True,
                capture_output=True,
            )
            host = [host_start(Path(tmp)) for _ in range(args.runs)]
        print(f"the same `hcml serve` as a host process: median {statistics.median(host):.2f} s, min {min(host):.2f} s")
    load = os.getloadavg()[0]
    print(f"  load average at the end: {load:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
