"""realtime/deploy/: validated against the vendored Knative and KEDA CRD schemas and Kubernetes' own schemas."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from hcml.config import REPO_ROOT

DEPLOY = REPO_ROOT / "realtime" / "deploy"
SCHEMAS = REPO_ROOT / "deploy" / "schemas"
K8S_VERSION = "1.30.0"


def _load(name: str) -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / name).read_text())


def _crd_schema(path: Path, version: str) -> dict[str, Any]:
    crd = yaml.safe_load(path.read_text())
    for v in crd["spec"]["versions"]:
        if v["name"] == version:
            return v["schema"]["openAPIV3Schema"]
    raise AssertionError(f"{path} has no version {version}")


def _unknown_fields(instance: Any, schema: dict[str, Any], path: str = "") -> list[str]:
    """Fields the structural schema does not declare (the API server would prune them silently)."""
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return []
    out: list[str] = []
    if isinstance(instance, dict):
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        for key, value in instance.items():
            if props is not None and key in props:
                out += _unknown_fields(value, props[key], f"{path}.{key}")
            elif isinstance(extra, dict):
                out += _unknown_fields(value, extra, f"{path}.{key}")
            elif props is not None and extra is not True:
                out.append(f"{path}.{key}")
    elif isinstance(instance, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(instance):
            out += _unknown_fields(item, schema["items"], f"{path}[{i}]")
    return out


def _validate_crd(manifest: dict[str, Any], schema: dict[str, Any]) -> None:
    jsonschema.validate(manifest, schema, cls=jsonschema.Draft7Validator)
    assert _unknown_fields(manifest, schema) == []


def test_unknown_field_check_can_fail():
    schema = _crd_schema(SCHEMAS / "keda" / "keda.sh_scaledobjects.yaml", "v1alpha1")
    bad = copy.deepcopy(_load("results-worker-scaledobject.yaml"))
    bad["spec"]["minReplicas"] = 0  # a typo of minReplicaCount
    assert ".spec.minReplicas" in _unknown_fields(bad, schema)
    bad = copy.deepcopy(_load("results-worker-scaledobject.yaml"))
    bad["spec"]["maxReplicaCount"] = "six"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


def test_knative_service_matches_the_published_schema():
    svc = _load("knative-service.yaml")
    assert svc["apiVersion"] == "serving.knative.dev/v1" and svc["kind"] == "Service"
    _validate_crd(svc, _crd_schema(SCHEMAS / "knative" / "serving.knative.dev_services.yaml", "v1"))


def test_knative_service_is_warm_probed_and_sized():
    svc = _load("knative-service.yaml")
    annotations = svc["spec"]["template"]["metadata"]["annotations"]
    assert int(annotations["autoscaling.knative.dev/min-scale"]) >= 1  # warm minimum for the clinical path
    assert int(annotations["autoscaling.knative.dev/target"]) > 0
    assert annotations["autoscaling.knative.dev/metric"] == "concurrency"
    spec = svc["spec"]["template"]["spec"]
    assert spec["containerConcurrency"] >= int(annotations["autoscaling.knative.dev/target"])
    (container,) = spec["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    assert "memory" in container["resources"]["limits"]
    assert container["command"][:2] == ["hcml", "serve"]


def _assert_openshift_restricted(pod_spec: dict[str, Any]) -> None:
    """OpenShift's restricted-v2 SCC / Kubernetes 'restricted' Pod Security Standard, no fixed UID."""
    pod_sc = pod_spec.get("securityContext", {})
    assert "runAsUser" not in pod_sc and "fsGroup" not in pod_sc  # OpenShift assigns an arbitrary UID
    for container in pod_spec["containers"]:
        sc = container["securityContext"]
        assert "runAsUser" not in sc
        assert sc["runAsNonRoot"] is True
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"]["drop"] == ["ALL"] and not sc["capabilities"].get("add")
        assert (sc.get("seccompProfile") or pod_sc.get("seccompProfile"))["type"] == "RuntimeDefault"
        assert sc.get("privileged", False) is False


def test_security_contexts_are_openshift_compatible():
    _assert_openshift_restricted(_load("knative-service.yaml")["spec"]["template"]["spec"])
    _assert_openshift_restricted(_load("results-worker.yaml")["spec"]["template"]["spec"])


def test_knative_pod_spec_is_a_valid_kubernetes_pod_spec():
    """Knative's schema leaves parts of the PodSpec open; Kubernetes' own schema checks them."""
    template = _load("knative-service.yaml")["spec"]["template"]
    spec = {k: v for k, v in template["spec"].items() if k not in ("containerConcurrency", "timeoutSeconds")}
    for container in spec["containers"]:  # Knative fills a probe's port with the serving port
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            if probe in container and "httpGet" in container[probe]:
                container[probe]["httpGet"].setdefault("port", container["ports"][0]["containerPort"])
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "hcml-realtime-check"}, "spec": spec}
    kubernetes_validate.validate(pod, K8S_VERSION, strict=True)


def test_worker_deployment_is_valid_kubernetes():
    kubernetes_validate.validate(_load("results-worker.yaml"), K8S_VERSION, strict=True)


def test_kubernetes_validation_can_fail():
    bad = copy.deepcopy(_load("results-worker.yaml"))
    bad["spec"]["template"]["spec"]["containers"][0]["securityContext"]["allowPrivilegeEscalaton"] = False
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, K8S_VERSION, strict=True)


def test_scaled_object_matches_schema_and_the_code_s_consumer_group():
    from hcml.events import topics

    from realtime.worker import worker_topics

    so = _load("results-worker-scaledobject.yaml")
    _validate_crd(so, _crd_schema(SCHEMAS / "keda" / "keda.sh_scaledobjects.yaml", "v1alpha1"))
    deployment = _load("results-worker.yaml")
    assert so["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    kafka = [t for t in so["spec"]["triggers"] if t["type"] == "kafka"]
    assert {t["metadata"]["consumerGroup"] for t in kafka} == {topics.GROUP_RESULTS_WORKER}
    assert sorted(t["metadata"]["topic"] for t in kafka) == sorted(worker_topics())
    assert topics.CONSUMER_GROUPS[topics.GROUP_RESULTS_WORKER] in worker_topics()
    # never more consumers than partitions
    assert so["spec"]["maxReplicaCount"] <= min(topics.TOPICS[t].partitions for t in worker_topics())
    assert deployment["spec"]["template"]["spec"]["containers"][0]["command"] == ["python", "-m", "realtime.worker"]
