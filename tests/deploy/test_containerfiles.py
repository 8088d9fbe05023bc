"""Static checks of the Containerfiles (no container engine on this machine): pinned base, OpenShift's
arbitrary UIDs (numeric non-root USER, group-0 writable HOME and data, nothing under /root), and a CMD
that runs a command and module that exist, on the port the manifests use."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hcml.config import REPO_ROOT

CONTAINERS = REPO_ROOT / "deploy" / "containers"
FILES = sorted(CONTAINERS.glob("Containerfile.*"))


def instructions(path: Path) -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", path.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            op, _, rest = line.partition(" ")
            out.append((op.upper(), rest.strip()))
    return out


def final_stage(path: Path) -> list[tuple[str, str]]:
    ins = instructions(path)
    last_from = max(i for i, (op, _) in enumerate(ins) if op == "FROM")
    return ins[last_from:]


def env_of(stage: list[tuple[str, str]]) -> dict[str, str]:
    env = {}
    for op, rest in stage:
        if op == "ENV":
            for token in shlex.split(rest):
                key, _, value = token.partition("=")
                env[key] = value
    return env


def test_both_images_exist():
    assert {p.name for p in FILES} >= {"Containerfile.code-location", "Containerfile.realtime"}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_base_image_is_pinned_and_matches_python(path):
    ins = instructions(path)
    args = dict(rest.split("=", 1) for op, rest in ins if op == "ARG" and "=" in rest)
    stages = set()
    for op, rest in ins:
        if op != "FROM":
            continue
        image, _, alias = rest.partition(" AS ")
        image = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], image.strip())
        if image in stages:
            continue
        stages.add(alias.strip())
        digest = re.search(r"@sha256:[0-9a-f]{64}$", image)
        tag = image.rsplit("/", 1)[-1].partition(":")[2]
        assert digest or re.fullmatch(r"\d+\.\d+\.\d+(-[a-z0-9.-]+)?", tag), f"{image}: not an exact tag or digest"
        # the interpreter the project pins (requires-python 3.11)
        assert "python:3.11." in image, image


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_runs_as_arbitrary_uid(path):
    text = path.read_text()
    stage = final_stage(path)
    users = [rest for op, rest in stage if op == "USER"]
    assert users and re.fullmatch(r"[1-9]\d*(:0)?", users[-1]), users  # numeric, non-root
    assert "/root" not in re.sub(r"(?m)#.*$", "", text)
    env = env_of(stage)
    assert env["HOME"].startswith("/opt/"), env["HOME"]
    venv_bin = env["PATH"].split(":")[0]
    assert venv_bin.startswith("/opt/") and venv_bin.endswith("/venv/bin")
    # HOME and the data directory are group 0 and group-writable (g=u) in the final stage
    runs = " ".join(rest for op, rest in stage if op == "RUN")
    writable = [env["HOME"], env["HCML_DATA_DIR"]] + ([env["DAGSTER_HOME"]] if "DAGSTER_HOME" in env else [])
    for directory in writable:
        assert re.search(rf"chgrp (-R )?0 [^&]*{re.escape(directory)}", runs), directory
        assert re.search(rf"chmod (-R )?g=u [^&]*{re.escape(directory)}", runs), directory
    # nothing after USER switches back to root
    assert [op for op, _ in stage].index("USER") > max(i for i, (op, _) in enumerate(stage) if op == "RUN")


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_copied_sources_exist(path):
    for op, rest in instructions(path):
        if op == "COPY" and "--from" not in rest:
            *sources, _dest = shlex.split(rest)
            for source in sources:
                assert (REPO_ROOT / source).exists(), f"{path.name}: COPY {source}: not in the repository"


def cmd_of(path: Path) -> list[str]:
    cmd = [rest for op, rest in final_stage(path) if op == "CMD"][-1]
    return json.loads(cmd)  # exec form: signals reach the process, no shell


def exposed(path: Path) -> int:
    return int([rest for op, rest in final_stage(path) if op == "EXPOSE"][-1])


def test_code_location_cmd_serves_the_definitions():
    path = CONTAINERS / "Containerfile.code-location"
    cmd = cmd_of(path)
    assert cmd[:3] == ["dagster", "api", "grpc"]
    assert cmd[cmd.index("-m") + 1] == "hcml_dagster.definitions"
    assert int(cmd[cmd.index("-p") + 1]) == exposed(path) == 3030
    # the same command line is accepted by the pinned dagster CLI and loads our Definitions
    help_text = subprocess.run([str(Path(sys.executable).parent / "dagster"), "api", "grpc", "--help"],
                               capture_output=True, text=True, timeout=120).stdout
    for option in ("--module-name", "--port", "--host"):
        assert option in help_text
    from hcml_dagster.definitions import defs

    assert defs.resolve_job_def("sample_report_job") is not None


def test_realtime_cmd_is_the_serve_command_the_knative_service_runs():
    path = CONTAINERS / "Containerfile.realtime"
    cmd = cmd_of(path)
    assert cmd[:2] == ["hcml", "serve"]
    from hcml.cli import main

    ctx = main.make_context("hcml", list(cmd[1:]))  # parses the options exactly as the CLI would
    serve = main.get_command(ctx, "serve")
    sub = serve.make_context("serve", list(cmd[2:]))
    assert sub.params["port"] == exposed(path) == 8080 and sub.params["host"] == "0.0.0.0"
    service_file = REPO_ROOT / "realtime" / "deploy" / "knative-service.yaml"
    if not service_file.exists():
        pytest.skip("realtime/deploy/knative-service.yaml not written yet")
    service = yaml.safe_load(service_file.read_text())
    container = service["spec"]["template"]["spec"]["containers"][0]
    assert container["ports"][0]["containerPort"] == exposed(path)
    env = {e["name"]: e.get("value") for e in container.get("env", [])}
    image_env = env_of(final_stage(path))
    # the service points at the bundle baked into the image
    assert env.get("HCML_BUNDLE_DIR", image_env["HCML_BUNDLE_DIR"]) == image_env["HCML_BUNDLE_DIR"]
    runs = " ".join(rest for op, rest in instructions(path) if op == "RUN")
    assert f"reference build --out {image_env['HCML_BUNDLE_DIR']}" in runs
