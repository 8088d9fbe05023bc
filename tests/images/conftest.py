"""Fixtures of the image tests: the images built by scripts/images.sh (layers reused when nothing changed) and
the manifests that say how the cluster runs them. Skipped, with the reason, only where podman cannot run."""

from __future__ import annotations

import subprocess
import time

import httpx
import pytest
import yaml

from hcml.config import REPO_ROOT

from . import engine

REASON = engine.why_podman_cannot_run()


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/images" not in str(item.fspath):
            continue
        if REASON is not None:
            item.add_marker(pytest.mark.skip(reason=f"image tests need podman: {REASON}"))
        else:  # the first test of a session may build an image from nothing (debootstrap, pip): no 900 s cap
            item.add_marker(pytest.mark.timeout(3600))


def build(name: str) -> str:
    """scripts/images.sh build NAME (every unchanged step comes from the layer cache) -> the image reference."""
    out = subprocess.run([str(engine.IMAGES_SCRIPT), "build", name], capture_output=True, text=True, timeout=3600)
    assert out.returncode == 0, f"scripts/images.sh build {name} failed:\n{out.stderr[-5000:]}"
    return engine.image(name)


@pytest.fixture(scope="session")
def realtime_image() -> str:
    return build("realtime")


@pytest.fixture(scope="session")
def dagster_image() -> str:
    return build("dagster")


@pytest.fixture(scope="session")
def knative_container() -> dict:
    service = yaml.safe_load((REPO_ROOT / "realtime" / "deploy" / "knative-service.yaml").read_text())
    return service["spec"]["template"]["spec"]["containers"][0]


@pytest.fixture(scope="session")
def helm_values() -> dict:
    return yaml.safe_load((REPO_ROOT / "deploy" / "helm" / "values.yaml").read_text())


@pytest.fixture(scope="session")
def code_location(helm_values) -> dict:
    return helm_values["dagster-user-deployments"]["deployments"][0]


def wait_for_http(url: str, container: engine.Container, deadline_s: float = 180) -> httpx.Response:
    """Poll until the URL answers 200; fails with the container's logs if it exits or never does."""
    end = time.monotonic() + deadline_s
    last: object = None
    while time.monotonic() < end:
        try:
            r = httpx.get(url, timeout=2)
            if r.status_code == 200:
                return r
            last = r.status_code
        except httpx.HTTPError as exc:
            last = exc
        if not container.running():
            break
        time.sleep(0.05)
    pytest.fail(f"{url} never answered 200 (last: {last!r}); container logs:\n{container.logs()[-5000:]}")


@pytest.fixture(scope="session")
def realtime_server(realtime_image, knative_container):
    """The Knative service's command and emptyDirs, as 1000770000:0 with a read-only root; on a free host port
    (the manifest's 8080 is checked with its own network namespace in test_entrypoints)."""
    port = engine.free_port()
    argv = knative_container["command"] + ["--host", "127.0.0.1", "--port", str(port)]
    tmpfs = [m["mountPath"] for m in knative_container["volumeMounts"]]
    container = engine.run_openshift(realtime_image, entrypoint=argv[:1], argv=argv[1:], tmpfs=tmpfs,
                                     environment={"HCML_DATA_DIR": "/var/lib/hcml"})
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(url + "/readyz", container)
        container.url = url  # type: ignore[attr-defined]
        yield container
    finally:
        container.stop()
