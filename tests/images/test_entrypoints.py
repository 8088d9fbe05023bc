"""The images start with the entrypoints the manifests give them: the Knative service's command + args, the
Helm chart's code-location command line, and each image's own CMD (what runs when a manifest sets none)."""

from __future__ import annotations

import json
import time

from . import engine
from .test_dagster_image import grpc_command

READYZ_PROBE = ("import sys, urllib.request\n"
                "try:\n"
                "    sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:{port}/readyz', timeout=2).status == 200"
                " else 1)\n"
                "except Exception:\n"
                "    sys.exit(1)\n")


def test_realtime_cmd_is_the_knative_command(realtime_image, knative_container):
    config = engine.image_config(realtime_image)
    assert config["Cmd"] == knative_container["command"] + knative_container["args"]
    assert config["User"] == "1001"  # numeric: any UID the namespace assigns replaces it


def test_code_location_cmd_is_the_helm_command(dagster_image, code_location):
    assert engine.image_config(dagster_image)["Cmd"] == grpc_command(code_location)


def test_knative_command_and_args_serve_readyz(realtime_image, knative_container):
    """command + args exactly as written (port 8080), in the pod's own network namespace, with the manifest's
    emptyDirs and its data/bundle locations; probed from inside the pod like the kubelet's readinessProbe."""
    port = knative_container["ports"][0]["containerPort"]
    env = {e["name"]: e["value"] for e in knative_container["env"]
           if "value" in e and e["name"] in ("HCML_DATA_DIR", "HCML_BUNDLE_DIR", "HCML_AUDIT_LOG", "HCML_LOG_FORMAT")}
    container = engine.run_openshift(realtime_image, entrypoint=knative_container["command"][:1],
                                     argv=knative_container["command"][1:] + knative_container["args"],
                                     tmpfs=[m["mountPath"] for m in knative_container["volumeMounts"]],
                                     environment=env, network="none")
    try:
        deadline = time.monotonic() + 180
        ok = False
        while time.monotonic() < deadline and container.running():
            if container.exec("python", "-c", READYZ_PROBE.format(port=port), timeout=60).returncode == 0:
                ok = True
                break
            time.sleep(0.5)
        assert ok, f"/readyz on :{port} never answered 200; logs:\n{container.logs()[-5000:]}"
    finally:
        container.stop()


def test_realtime_image_default_cmd_starts(realtime_image):
    """No command in the manifest: the image's own CMD (hcml serve on 8080) with only the emptyDirs."""
    container = engine.run_openshift(realtime_image, tmpfs=["/var/lib/hcml", "/tmp"], network="none")
    try:
        deadline = time.monotonic() + 180
        ok = False
        while time.monotonic() < deadline and container.running():
            if container.exec("python", "-c", READYZ_PROBE.format(port=8080), timeout=60).returncode == 0:
                ok = True
                break
            time.sleep(0.5)
        assert ok, container.logs()[-5000:]
    finally:
        container.stop()


def test_results_worker_module_is_in_the_realtime_image(realtime_image):
    """realtime/deploy/results-worker.yaml runs `python -m realtime.worker` from the same image."""
    import yaml

    from hcml.config import REPO_ROOT

    worker = yaml.safe_load((REPO_ROOT / "realtime" / "deploy" / "results-worker.yaml").read_text())
    command = worker["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command[:2] == ["python", "-m"]
    probe = f"import importlib.util, json; print(json.dumps(importlib.util.find_spec({command[2]!r}) is not None))"
    out = engine.podman("run", "--rm", "--user", engine.OPENSHIFT_USER, "--read-only", "--network=none",
                        realtime_image, "python", "-c", probe)
    assert json.loads(out.stdout) is True
