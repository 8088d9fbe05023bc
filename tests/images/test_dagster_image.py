"""The hcml-dagster image run as OpenShift runs it (UID 1000770000 in group 0, read-only root, tmpfs for the
writable directories): the code location's gRPC server, started with the Helm values' command line, answers
`dagster api grpc-health-check`; `dagster definitions validate` passes inside it; the webserver and daemon
commands the chart runs exist in it; torch does not (training has its own image)."""

from __future__ import annotations

import json
import time

import pytest

from . import engine

# the image's writable directories: HOME, DAGSTER_HOME and the data directory (group-0 writable, g=u)
WRITABLE = ["/opt/hcml/home", "/opt/dagster/dagster_home", "/opt/hcml/var", "/tmp"]


def run_once(image: str, *argv: str, timeout: float = 600):
    args = ["run", "--rm", "--user", engine.OPENSHIFT_USER, "--read-only", "--read-only-tmpfs=false",
            "--cap-drop", "ALL", "--network=none"]
    for path in WRITABLE:
        args += ["--tmpfs", f"{path}:rw,mode=1777"]
    return engine.podman(*args, image, *argv, check=False, timeout=timeout)


def grpc_command(code_location: dict) -> list[str]:
    """What the Dagster chart's user-deployment runs: `dagster api grpc -h 0.0.0.0 -p PORT` + dagsterApiGrpcArgs."""
    return ["dagster", "api", "grpc", "-h", "0.0.0.0", "-p", str(code_location["port"]),
            *code_location["dagsterApiGrpcArgs"]]


def test_grpc_server_from_the_helm_values_answers_the_health_check(dagster_image, code_location):
    env = {e["name"]: e["value"] for e in code_location["env"] if "value" in e}
    # its own network namespace: the chart's port (3030) is used as written, whatever runs on this host
    container = engine.run_openshift(dagster_image, entrypoint=grpc_command(code_location)[:1],
                                     argv=grpc_command(code_location)[1:], tmpfs=WRITABLE, environment=env,
                                     network="none")
    try:
        deadline = time.monotonic() + 300
        check = None
        while time.monotonic() < deadline and container.running():
            check = container.exec("dagster", "api", "grpc-health-check", "-p", str(code_location["port"]),
                                   timeout=120)
            if check.returncode == 0:
                break
            time.sleep(1)
        assert check is not None and check.returncode == 0, (
            f"health check: {check and check.stdout + check.stderr}\nserver logs:\n{container.logs()[-5000:]}")
        assert container.running()
    finally:
        container.stop()


def test_definitions_validate_inside_the_image(dagster_image, code_location):
    module = code_location["dagsterApiGrpcArgs"][code_location["dagsterApiGrpcArgs"].index("-m") + 1]
    out = run_once(dagster_image, "dagster", "definitions", "validate", "-m", module)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-5000:]
    assert "Validation successful" in out.stdout + out.stderr


@pytest.mark.parametrize("command", [["dagster-webserver", "--help"], ["dagster-daemon", "run", "--help"]],
                         ids=["webserver", "daemon"])
def test_chart_commands_exist(dagster_image, command):
    out = run_once(dagster_image, *command, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]


def test_training_lives_in_its_own_image(dagster_image):
    probe = ("import importlib.util, json; print(json.dumps({m: importlib.util.find_spec(m) is not None for m in"
             " ('dagster', 'dagster_k8s', 'mlflow', 'sklearn', 'torch')}))")
    out = run_once(dagster_image, "python", "-c", probe)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"dagster": True, "dagster_k8s": True, "mlflow": True, "sklearn": True,
                                      "torch": False}
