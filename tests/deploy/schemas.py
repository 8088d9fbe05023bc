"""Offline schema validation for the deployment manifests (shared by the tests in tests/deploy/).

The Dagster chart's schema refers to Kubernetes types by remote URL (yannh/kubernetes-json-schema
v1.19.0 `_definitions.json`); here that document is mapped to the Kubernetes definitions that
`kubernetes-validate` ships (the oldest it has, v1.25), so every `$ref` resolves without a network.
CRDs (Knative, KEDA, Strimzi) are validated against their published `openAPIV3Schema`.
"""

from __future__ import annotations

import copy
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from hcml.config import REPO_ROOT

SCHEMAS = REPO_ROOT / "deploy" / "schemas"
K8S_SCHEMA_VERSION = "1.25.0"  # the oldest kubernetes-validate ships; the chart asks for v1.19.0
_YANNH = "https://raw.githubusercontent.com/yannh/kubernetes-json-schema/master/v1.19.0/_definitions.json"


@lru_cache
def _k8s_definitions() -> dict:
    root = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema" / f"v{K8S_SCHEMA_VERSION}-local"
    doc = json.loads((root / "_definitions.json").read_text())
    # the chart's refs say `#/definitions/<name>`; the shipped document keys them under `$defs`
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$defs": doc["$defs"],
            "definitions": doc["$defs"]}


def _retrieve(uri: str) -> Resource:
    if uri == _YANNH:
        return Resource.from_contents(_k8s_definitions(), default_specification=DRAFT202012)
    raise LookupError(f"no offline copy of {uri}")


def helm_validator() -> jsonschema.protocols.Validator:
    schema = json.loads((SCHEMAS / "dagster-helm" / "values.schema.json").read_text())
    registry = Registry(retrieve=_retrieve)
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    return cls(schema, registry=registry)


def helm_merge(defaults: Any, overrides: Any) -> Any:
    """Helm's values coalescing: maps merge recursively, anything else replaces, null deletes."""
    if isinstance(defaults, dict) and isinstance(overrides, dict):
        out = copy.deepcopy(defaults)
        for key, value in overrides.items():
            if value is None:
                out.pop(key, None)
            elif key in out:
                out[key] = helm_merge(out[key], value)
            else:
                out[key] = copy.deepcopy(value)
        return out
    return copy.deepcopy(overrides)


def chart_defaults() -> dict:
    return yaml.safe_load((SCHEMAS / "dagster-helm" / "values.yaml").read_text())


def errors_of(validator: jsonschema.protocols.Validator, instance: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path)))]


# CRD kinds validated against the vendored CRDs: (apiVersion group, kind) -> CRD file
CRD_FILES = {
    ("serving.knative.dev", "Service"): SCHEMAS / "knative" / "serving.knative.dev_services.yaml",
    ("keda.sh", "ScaledObject"): SCHEMAS / "keda" / "keda.sh_scaledobjects.yaml",
    ("kafka.strimzi.io", "KafkaTopic"): SCHEMAS / "strimzi" / "kafkatopic-crd.yaml",
    ("kafka.strimzi.io", "Kafka"): SCHEMAS / "strimzi" / "kafka-crd.yaml",
}


@lru_cache
def crd_schema(group: str, kind: str, version: str) -> dict:
    docs = [d for d in yaml.safe_load_all(CRD_FILES[(group, kind)].read_text()) if d]
    for crd in docs:
        if crd.get("kind") != "CustomResourceDefinition" or crd["spec"]["names"]["kind"] != kind:
            continue
        for v in crd["spec"]["versions"]:
            if v["name"] == version:
                return v["schema"]["openAPIV3Schema"]
        raise KeyError(f"{kind}: the CRD has no version {version} "
                       f"(it has {[v['name'] for v in crd['spec']['versions']]})")
    raise KeyError(f"no CRD for {group}/{kind}")


def _openapi_to_jsonschema(node: Any) -> Any:
    """OpenAPI v3 structural schema -> JSON Schema: `nullable`, `x-kubernetes-int-or-string`."""
    if isinstance(node, list):
        return [_openapi_to_jsonschema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _openapi_to_jsonschema(v) for k, v in node.items()
           if not k.startswith("x-kubernetes-") or k == "x-kubernetes-int-or-string"}
    if out.pop("x-kubernetes-int-or-string", False):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if out.pop("nullable", False) and "type" in out:
        out["type"] = [out["type"], "null"] if isinstance(out["type"], str) else [*out["type"], "null"]
    return out


def validate_custom_resource(doc: dict) -> list[str]:
    group, _, version = doc["apiVersion"].rpartition("/")
    schema = _openapi_to_jsonschema(crd_schema(group, doc["kind"], version))
    validator = jsonschema.Draft7Validator(schema)
    return errors_of(validator, doc)


def is_custom_kind(doc: dict) -> bool:
    group = doc.get("apiVersion", "").rpartition("/")[0]
    return (group, doc.get("kind")) in CRD_FILES


def validate_kubernetes_kind(doc: dict) -> list[str]:
    """Built-in Kubernetes kinds with kubernetes-validate (strict: unknown fields are errors)."""
    try:
        kubernetes_validate.validate(doc, K8S_VALIDATE_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return [f"{'/'.join(map(str, exc.path))}: {exc.message}"]
    except kubernetes_validate.SchemaNotFoundError as exc:
        return [f"no Kubernetes schema for {doc.get('apiVersion')}/{doc.get('kind')}: {exc}"]
    return []


K8S_VALIDATE_VERSION = "1.30.0"
