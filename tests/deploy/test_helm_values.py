"""deploy/helm/values.yaml against the official Dagster chart's schema, and against the instance we run."""

from __future__ import annotations

import importlib.util

import pytest
import yaml

from hcml.config import REPO_ROOT
from tests.deploy.schemas import chart_defaults, errors_of, helm_merge, helm_validator

VALUES = REPO_ROOT / "deploy" / "helm" / "values.yaml"
INSTANCE = REPO_ROOT / "deploy" / "dagster" / "dagster.yaml"
RESTRICTED = {"runAsNonRoot": True, "allowPrivilegeEscalation": False,
              "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}


@pytest.fixture(scope="module")
def values() -> dict:
    return yaml.safe_load(VALUES.read_text())


@pytest.fixture(scope="module")
def merged(values) -> dict:
    return helm_merge(chart_defaults(), values)


@pytest.fixture(scope="module")
def validator():
    return helm_validator()


def test_values_validate_against_the_chart_schema(merged, validator):
    assert errors_of(validator, merged) == []


def test_schema_check_catches_mistakes(merged, validator):
    # the same validation rejects what Helm would reject (so the test above can fail)
    bad = helm_merge(merged, {"dagsterWebserver": {"service": {"port": "eighty"}}})
    assert any("dagsterWebserver/service/port" in e for e in errors_of(validator, bad))
    bad = helm_merge(merged, {"dagsterDaemon": {"securityContext": {"capabilities": {"drop": "ALL"}}}})
    assert any("capabilities" in e for e in errors_of(validator, bad))  # a Kubernetes type via the mapped $ref
    bad = helm_merge(merged, {"runLauncher": {"config": {"k8sRunLauncher": {"jobNamespaces": "x"}}}})
    assert errors_of(validator, bad)


def _walk(node, path=()):
    if isinstance(node, dict):
        for key, value in node.items():
            yield path + (key,), value
            yield from _walk(value, path + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, path + (i,))


def test_openshift_security_contexts(values):
    # no fixed UID/GID anywhere: restricted-v2 assigns one from the namespace's range
    fixed = [p for p, _ in _walk(values) if p[-1] in ("runAsUser", "runAsGroup", "fsGroup", "run_as_user")]
    assert fixed == []
    user_code = values["dagster-user-deployments"]["deployments"][0]
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    containers = {
        "webserver": values["dagsterWebserver"]["securityContext"],
        "daemon": values["dagsterDaemon"]["securityContext"],
        "user code": user_code["securityContext"],
        "run pod": launcher["securityContext"],
        "run/step pod container config": launcher["runK8sConfig"]["containerConfig"]["securityContext"],
    }
    for name, sc in containers.items():
        assert {k: sc.get(k) for k in RESTRICTED} == RESTRICTED, name
    pods = [values["dagsterWebserver"]["podSecurityContext"], values["dagsterDaemon"]["podSecurityContext"],
            user_code["podSecurityContext"], launcher["runK8sConfig"]["podSpecConfig"]["securityContext"]]
    for sc in pods:
        assert sc == {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}


def test_user_code_deployment(values):
    deployment = values["dagster-user-deployments"]["deployments"][0]
    assert deployment["dagsterApiGrpcArgs"] == ["-m", "hcml_dagster.definitions"]
    assert importlib.util.find_spec("hcml_dagster.definitions") is not None
    workspace = yaml.safe_load((REPO_ROOT / "workspace.yaml").read_text())
    assert workspace["load_from"][0]["python_module"]["module_name"] == "hcml_dagster.definitions"
    # the image's EXPOSE and CMD use the same port
    containerfile = (REPO_ROOT / "deploy" / "containers" / "Containerfile.code-location").read_text()
    assert f"EXPOSE {deployment['port']}" in containerfile
    assert deployment["image"]["tag"] not in ("latest", None, "")
    assert {"requests", "limits"} <= set(deployment["resources"])


def test_webserver_on_8080(values):
    assert values["dagsterWebserver"]["service"]["port"] == 8080
    assert values["dagsterWebserver"]["readinessProbe"]["httpGet"]["port"] == 8080


def test_helm_values_mirror_the_production_instance(values):
    instance = yaml.safe_load(INSTANCE.read_text())
    queued = values["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    assert queued["tagConcurrencyLimits"] == instance["run_coordinator"]["config"]["tag_concurrency_limits"]
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    prod_launcher = instance["run_launcher"]["config"]
    assert [s["name"] for s in launcher["envSecrets"]] == prod_launcher["env_secrets"]
    assert launcher["securityContext"] == prod_launcher["security_context"]
    assert launcher["resources"] == prod_launcher["run_k8s_config"]["container_config"]["resources"]
    blob = values["computeLogManager"]["config"]["azureBlobComputeLogManager"]
    prod_blob = instance["compute_logs"]["config"]
    assert blob["storageAccount"] == prod_blob["storage_account"]
    assert (blob["prefix"], blob["uploadInterval"]) == (prod_blob["prefix"], prod_blob["upload_interval"])
    pg = values["postgresql"]
    prod_pg = instance["storage"]["postgres"]["postgres_db"]
    assert pg["enabled"] is False and pg["postgresqlPassword"] == ""
    assert pg["postgresqlScheme"] == prod_pg["scheme"]
    assert pg["postgresqlParams"] == prod_pg["params"]


def test_every_env_reference_reaches_every_dagster_process(values):
    """The chart renders `{env: X}` into the instance that the webserver, daemon, code location and run
    pods all load: each of them must get X (from hcml-config, a Secret or its own env)."""
    refs = {v["env"] for _, v in _walk(values) if isinstance(v, dict) and set(v) == {"env"}}
    assert refs, "no env references found"
    config_map = yaml.safe_load((REPO_ROOT / "deploy" / "k8s" / "config.yaml").read_text())
    provided_by_map = {config_map["metadata"]["name"]: set(config_map["data"])}
    user_code = values["dagster-user-deployments"]["deployments"][0]
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    processes = {
        "webserver": values["dagsterWebserver"],
        "daemon": values["dagsterDaemon"],
        "user code": user_code,
        "run pods": launcher,
    }
    for name, spec in processes.items():
        got = {e["name"] for e in spec.get("env", []) if isinstance(e, dict)}
        for cm in spec.get("envConfigMaps", []):
            got |= provided_by_map.get(cm["name"], set())
        assert refs <= got, f"{name} lacks {sorted(refs - got)}"
