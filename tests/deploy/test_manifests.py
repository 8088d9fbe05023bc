"""Every Kubernetes manifest in the repository, validated by kind, and cross-checked with the code.

Manifests are found wherever they are (deploy/, realtime/deploy/, deploy/kafka/ ...): any tracked YAML
document with `apiVersion` and `kind`. Built-in kinds go through kubernetes-validate (strict); Knative
Service, KEDA ScaledObject and Strimzi KafkaTopic/Kafka through their CRDs' openAPIV3Schema vendored in
deploy/schemas/. A kind with no schema is an error, not a skip. Names are then compared with the code:
topics and consumer groups with `hcml.events.topics`, HCML_* variables with what the code reads and
docs/configuration.md, ports with the images.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from hcml.config import REPO_ROOT
from tests.deploy.schemas import (
    is_custom_kind,
    validate_custom_resource,
    validate_kubernetes_kind,
)

EXCLUDED_DIRS = ("deploy/schemas/",)  # the upstream CRDs themselves


def _yaml_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.yaml", "*.yml"],
                         cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout.split()
    return sorted(REPO_ROOT / p for p in out if not p.startswith(EXCLUDED_DIRS) and (REPO_ROOT / p).exists())


def _manifests() -> list[tuple[str, int, dict]]:
    found = []
    for path in _yaml_files():
        try:
            docs = list(yaml.safe_load_all(path.read_text()))
        except yaml.YAMLError:
            continue  # not ours to judge here (e.g. Helm templates); the file's owner tests it
        for i, doc in enumerate(docs):
            if isinstance(doc, dict) and "apiVersion" in doc and "kind" in doc:
                found.append((str(path.relative_to(REPO_ROOT)), i, doc))
    return found


MANIFESTS = _manifests()


def _id(m) -> str:
    return f"{m[0]}#{m[1]}:{m[2]['kind']}/{m[2].get('metadata', {}).get('name', '?')}"


def test_manifests_are_found_in_every_area():
    files = {m[0] for m in MANIFESTS}
    assert any(f.startswith("deploy/k8s/") for f in files)
    kinds = {m[2]["kind"] for m in MANIFESTS}
    assert {"Namespace", "ConfigMap", "CronJob", "NetworkPolicy"} <= kinds


# kinds whose CRD is not among the vendored schemas (deploy/schemas is a read-only upstream copy): named
# here one by one, with who checks them instead, so that any other unknown kind still fails
NOT_VENDORED = {
    ("kafka.strimzi.io", "KafkaNodePool"): "Strimzi's KafkaNodePool CRD is not vendored; "
                                           "tests/events/test_manifests.py checks the pool against the Kafka",
}


@pytest.mark.parametrize("manifest", MANIFESTS, ids=_id)
def test_manifest_validates_against_its_schema(manifest):
    _, _, doc = manifest
    reason = NOT_VENDORED.get((doc["apiVersion"].rpartition("/")[0], doc["kind"]))
    if reason:
        pytest.skip(reason)
    errors = validate_custom_resource(doc) if is_custom_kind(doc) else validate_kubernetes_kind(doc)
    assert errors == []


def test_validation_rejects_what_the_api_server_would():
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
                  "spec": {"selector": {"matchLabels": {"a": "b"}},
                           "template": {"metadata": {"labels": {"a": "b"}},
                                        "spec": {"containers": [{"name": "c", "image": "i", "portz": []}]}}}}
    assert validate_kubernetes_kind(deployment)  # unknown field (strict)
    topic = {"apiVersion": "kafka.strimzi.io/v1", "kind": "KafkaTopic", "metadata": {"name": "t"},
             "spec": {"partitions": "six"}}
    assert validate_custom_resource(topic)
    scaled = {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "metadata": {"name": "s"},
              "spec": {"triggers": [{"type": "kafka", "metadata": {}}]}}  # no scaleTargetRef
    assert validate_custom_resource(scaled)
    ksvc = {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "metadata": {"name": "k"},
            "spec": {"template": {"spec": {"containerConcurrency": "many"}}}}
    assert validate_custom_resource(ksvc)
    assert validate_kubernetes_kind({"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": "g"}})


def _pod_specs(doc: dict) -> list[dict]:
    spec = doc.get("spec", {})
    kind = doc["kind"]
    if kind == "CronJob":
        return [spec["jobTemplate"]["spec"]["template"]["spec"]]
    if kind in ("Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"):
        return [spec["template"]["spec"]]
    if kind == "Service" and doc["apiVersion"].startswith("serving.knative.dev"):
        return [spec["template"]["spec"]]
    if kind == "Pod":
        return [spec]
    return []


def _containers(doc: dict) -> list[dict]:
    return [c for pod in _pod_specs(doc) for c in pod.get("containers", []) + pod.get("initContainers", [])]


@pytest.mark.parametrize("manifest", [m for m in MANIFESTS if _pod_specs(m[2])], ids=_id)
def test_workloads_are_openshift_restricted(manifest):
    _, _, doc = manifest
    for pod in _pod_specs(doc):
        assert pod.get("securityContext", {}).get("runAsNonRoot") is True
        assert "runAsUser" not in pod.get("securityContext", {})
    for container in _containers(doc):
        sc = container.get("securityContext", {})
        assert "runAsUser" not in sc, container["name"]
        assert sc.get("allowPrivilegeEscalation") is False, container["name"]
        assert sc.get("capabilities", {}).get("drop") == ["ALL"], container["name"]
        seccomp = sc.get("seccompProfile") or pod.get("securityContext", {}).get("seccompProfile")
        assert seccomp == {"type": "RuntimeDefault"}, container["name"]
        assert container.get("resources", {}).get("limits"), f"{container['name']}: no resource limits"
        image = container["image"]
        assert not image.endswith(":latest") and (":" in image.rsplit("/", 1)[-1] or "@sha256:" in image), image


# ------------------------------------------------------------------------------------------------
# names cross-checked with the code
# ------------------------------------------------------------------------------------------------

def _of_kind(kind: str, api_prefix: str = "") -> list[dict]:
    return [m[2] for m in MANIFESTS if m[2]["kind"] == kind and m[2]["apiVersion"].startswith(api_prefix)]


def test_kafka_topics_match_the_code():
    from hcml.events import topics

    declared = _of_kind("KafkaTopic", "kafka.strimzi.io")
    if not declared:
        pytest.skip("no KafkaTopic manifests yet (deploy/kafka/)")
    by_name = {d.get("spec", {}).get("topicName", d["metadata"]["name"]): d for d in declared}
    assert set(by_name) == set(topics.TOPICS)
    for name, spec in topics.TOPICS.items():
        assert by_name[name]["spec"]["partitions"] == spec.partitions, name
        assert by_name[name]["spec"]["replicas"] == spec.replication_factor, name


def test_keda_kafka_triggers_use_the_code_consumer_groups():
    from hcml.events import topics

    group_topics = getattr(topics, "GROUP_TOPICS", {g: (t,) for g, t in topics.CONSUMER_GROUPS.items()})
    triggers = [t for so in _of_kind("ScaledObject", "keda.sh") for t in so["spec"]["triggers"] if t["type"] == "kafka"]
    if not triggers:
        pytest.skip("no KEDA Kafka triggers yet")
    for trigger in triggers:
        meta = trigger["metadata"]
        assert meta["consumerGroup"] in group_topics, meta["consumerGroup"]
        assert meta["topic"] in group_topics[meta["consumerGroup"]], (meta["consumerGroup"], meta["topic"])


def _strimzi_clusters() -> set[str]:
    clusters = {d["metadata"]["labels"]["strimzi.io/cluster"] for d in _of_kind("KafkaTopic", "kafka.strimzi.io")
                if "strimzi.io/cluster" in d["metadata"].get("labels", {})}
    return clusters | {d["metadata"]["name"] for d in _of_kind("Kafka", "kafka.strimzi.io")}


def _env_values(name: str) -> list[tuple[str, str]]:
    """(file, value) of every literal value given to env var `name` in manifests, ConfigMaps and Helm values."""
    found = []
    for file, _, doc in MANIFESTS:
        if doc["kind"] == "ConfigMap" and name in (doc.get("data") or {}):
            found.append((file, str(doc["data"][name])))
        for container in _containers(doc):
            for env in container.get("env", []):
                if env["name"] == name and "value" in env:
                    found.append((file, str(env["value"])))
        for trigger in doc.get("spec", {}).get("triggers", []) if doc["kind"] == "ScaledObject" else []:
            if name == "HCML_KAFKA_BOOTSTRAP" and "bootstrapServers" in trigger.get("metadata", {}):
                found.append((file, trigger["metadata"]["bootstrapServers"]))
    values = yaml.safe_load((REPO_ROOT / "deploy/helm/values.yaml").read_text())
    for deployment in values["dagster-user-deployments"]["deployments"]:
        for env in deployment.get("env", []):
            if env["name"] == name and "value" in env:
                found.append(("deploy/helm/values.yaml", str(env["value"])))
    return found


def test_kafka_bootstrap_addresses_name_the_strimzi_cluster():
    # Strimzi names the bootstrap Service `<cluster>-kafka-bootstrap`; anything else resolves to nothing
    clusters = _strimzi_clusters()
    if not clusters:
        pytest.skip("no Strimzi cluster declared yet (deploy/kafka/)")
    for file, value in _env_values("HCML_KAFKA_BOOTSTRAP"):
        for server in value.split(","):
            host = server.rsplit(":", 1)[0]
            assert any(host.split(".")[0] == f"{c}-kafka-bootstrap" for c in clusters), (file, server, clusters)


# a variable name as a complete string literal (os.environ.get("HCML_X"), dg.EnvVar("HCML_X"), envvar=...,
# settings helpers like _float("HCML_X", 30.0)); names only in comments or docstrings do not count
SHARED_ADDRESSES = ("HCML_KAFKA_BOOTSTRAP", "HCML_MLFLOW_TRACKING_URI", "HCML_AZURE_STORAGE_ACCOUNT_URL",
                    "HCML_PROMETHEUS_PUSHGATEWAY", "HCML_OIDC_ISSUER", "HCML_OIDC_JWKS_URL")


@pytest.mark.parametrize("name", SHARED_ADDRESSES)
def test_shared_service_addresses_agree_across_manifests(name):
    values = _env_values(name)
    assert len({v for _, v in values}) <= 1, values


_IN_CLUSTER = re.compile(r"^(?:https?://)?([a-z0-9-]+)\.([a-z0-9-]+)\.svc(?:\.cluster\.local)?(?::(\d+))?")


def test_in_namespace_addresses_point_at_declared_services():
    """http://mlflow.hcml.svc:5000 and the like: a Service of that name and port is declared here.
    Services the Dagster chart creates (hcml-dagster-*) and other namespaces' are out of scope."""
    services = {}
    for _, _, doc in MANIFESTS:
        if doc["kind"] == "Service" and doc["apiVersion"] == "v1":
            services[(doc["metadata"]["name"], doc["metadata"].get("namespace"))] = {
                p["port"] for p in doc["spec"]["ports"]}
    checked = 0
    for name in {n for n in _variables_set_by_manifests()} | set(SHARED_ADDRESSES):
        for file, value in _env_values(name):
            for server in value.split(","):
                m = _IN_CLUSTER.match(server.strip())
                if not m or m.group(2) != "hcml" or m.group(1).startswith("hcml-dagster"):
                    continue
                key = (m.group(1), m.group(2))
                assert key in services, (file, name, server)
                port = int(m.group(3) or (443 if server.startswith("https") else 80))
                assert port in services[key], (file, name, server, services[key])
                checked += 1
    assert checked, "no in-namespace service address found to check"


_ENV_READ = re.compile(r"""["'](HCML_[A-Z0-9_]+)["']""")


def _variables_read_by_code() -> set[str]:
    names = set()
    for top in ("hcml", "hcml_dagster", "assets", "sensors", "resources", "realtime"):
        for path in (REPO_ROOT / top).rglob("*.py"):
            names |= set(_ENV_READ.findall(path.read_text()))
    # the service scripts (Kafka, Azurite, PostgreSQL ...) read theirs as shell variables
    for path in (REPO_ROOT / "scripts").glob("*.sh"):
        names |= set(re.findall(r"\$\{?(HCML_[A-Z0-9_]+)", path.read_text()))
    # the production instance reads its own variables through `env:` references
    names |= set(re.findall(r"\{env: (HCML_[A-Z0-9_]+)\}", (REPO_ROOT / "deploy/dagster/dagster.yaml").read_text()))
    return names


def _documented_variables() -> set[str]:
    names = set()
    for line in (REPO_ROOT / "docs/configuration.md").read_text().splitlines():
        if line.startswith("|"):
            names |= set(re.findall(r"`([A-Z][A-Z0-9_]+)`", line.split("|")[1]))  # the first column
    return names


def _variables_set_by_manifests() -> dict[str, str]:
    names: dict[str, str] = {}
    for file, _, doc in MANIFESTS:
        if doc["kind"] == "ConfigMap":
            names.update({k: file for k in (doc.get("data") or {}) if k.startswith("HCML_")})
        for container in _containers(doc):
            names.update({e["name"]: file for e in container.get("env", []) if e["name"].startswith("HCML_")})
    values = yaml.safe_load((REPO_ROOT / "deploy/helm/values.yaml").read_text())
    for deployment in values["dagster-user-deployments"]["deployments"]:
        names.update({e["name"]: "deploy/helm/values.yaml" for e in deployment.get("env", [])
                      if e["name"].startswith("HCML_")})
    return names


def test_every_variable_a_manifest_sets_is_read_by_the_code():
    read = _variables_read_by_code()
    unused = {name: file for name, file in _variables_set_by_manifests().items() if name not in read}
    assert unused == {}, "manifests set variables nothing reads (typo or stale)"


def test_every_variable_the_code_reads_is_documented():
    missing = sorted(_variables_read_by_code() - _documented_variables())
    assert missing == [], "add these to docs/configuration.md"


def test_every_documented_variable_is_read():
    stale = sorted(v for v in _documented_variables() - _variables_read_by_code() if v.startswith("HCML_"))
    assert stale == [], "docs/configuration.md lists variables nothing reads"


def test_prometheus_scrape_ports_are_container_ports():
    for file, _, doc in MANIFESTS:
        for pod_meta in ([doc.get("spec", {}).get("template", {}).get("metadata", {})]
                         if doc["kind"] in ("Deployment", "Service") else []):
            port = (pod_meta.get("annotations") or {}).get("prometheus.io/port")
            if port is None:
                continue
            ports = {p["containerPort"] for c in _containers(doc) for p in c.get("ports", [])}
            assert int(port) in ports, (file, port, ports)


# ------------------------------------------------------------------------------------------------
# Secrets: every Secret (and key) anything refers to is one the runbook tells operators to create
# ------------------------------------------------------------------------------------------------

def _secret_refs() -> dict[str, set[str]]:
    """Secret name -> keys referenced (empty set: the whole Secret, envFrom)."""
    refs: dict[str, set[str]] = {}

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("secretKeyRef", "secret_key_ref") and isinstance(value, dict):
                    refs.setdefault(value["name"], set()).add(value["key"])
                elif key in ("secretRef",) and isinstance(value, dict):
                    refs.setdefault(value["name"], set())
                elif key in ("envSecrets", "env_secrets") and isinstance(value, list):
                    for item in value:
                        refs.setdefault(item["name"] if isinstance(item, dict) else item, set())
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    for _, _, doc in MANIFESTS:
        walk(doc)
    values = yaml.safe_load((REPO_ROOT / "deploy/helm/values.yaml").read_text())
    walk(values)
    refs.setdefault(values["global"]["postgresqlSecretName"], set()).add("postgresql-password")
    for name in ("deploy/dagster/dagster.yaml", "deploy/dagster/k8s_job_executor.yaml"):
        walk(yaml.safe_load((REPO_ROOT / name).read_text()))
    config = yaml.safe_load((REPO_ROOT / "deploy/k8s/config.yaml").read_text())["data"]
    refs.setdefault(config["DAGSTER_K8S_PG_PASSWORD_SECRET"], set()).add("postgresql-password")
    return refs


def _documented_secrets() -> dict[str, set[str]]:
    text = (REPO_ROOT / "docs/runbook.md").read_text()
    section = text[text.index("| Secret | keys |"):]
    documented = {}
    for line in section.splitlines()[2:]:
        line = line.strip()
        if not line.startswith("|"):
            break
        cells = line.strip("|").split("|")
        name = re.findall(r"`([^`]+)`", cells[0])[0]
        documented[name] = set(re.findall(r"`([^`]+)`", cells[1]))
    return documented


def test_every_secret_and_key_referred_to_is_in_the_runbook():
    refs, documented = _secret_refs(), _documented_secrets()
    assert refs and documented
    undocumented = {name: keys for name, keys in refs.items() if name not in documented}
    assert undocumented == {}, "Secrets nobody is told to create"
    missing_keys = {name: keys - documented[name] for name, keys in refs.items() if keys - documented[name]}
    assert missing_keys == {}, "keys the runbook does not list"
