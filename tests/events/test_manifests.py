"""Strimzi KafkaTopic and KEDA ScaledObject manifests agree with the names the code uses.

The design this replaces scaled its consumers on a consumer group nobody consumed in, so KEDA never
saw lag: here every Kafka trigger of every ScaledObject in the repository is read and compared with
`hcml.events.topics`, and the group must be one the code really consumes in.
"""

from __future__ import annotations

import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from hcml.config import REPO_ROOT
from hcml.events import topics

SKIP_DIRS = {".venv", ".git", ".tools", "node_modules", "var", "schemas", "__pycache__", ".pytest_cache"}


def _yaml_documents(kind: str) -> list[tuple[Path, dict]]:
    found = []
    for path in REPO_ROOT.rglob("*.y*ml"):
        if SKIP_DIRS & set(path.relative_to(REPO_ROOT).parts):
            continue
        text = path.read_text(errors="replace")
        if f"kind: {kind}" not in text:
            continue
        for doc in yaml.safe_load_all(text):
            if isinstance(doc, dict) and doc.get("kind") == kind:
                found.append((path, doc))
    return found


def _crd_validator(crd_file: Path, kind: str) -> tuple[jsonschema.Draft7Validator, str, set[str]]:
    for crd in yaml.safe_load_all(crd_file.read_text()):
        if crd and crd["spec"]["names"]["kind"] == kind:
            version = next(v for v in crd["spec"]["versions"] if v.get("storage"))
            api_versions = {f"{crd['spec']['group']}/{v['name']}" for v in crd["spec"]["versions"] if v.get("served")}
            return jsonschema.Draft7Validator(version["schema"]["openAPIV3Schema"]), kind, api_versions
    raise AssertionError(f"no {kind} CRD in {crd_file}")


def test_strimzi_topics_are_valid_and_match_the_code():
    validator, _, api_versions = _crd_validator(REPO_ROOT / "deploy/schemas/strimzi/kafkatopic-crd.yaml", "KafkaTopic")
    docs = _yaml_documents("KafkaTopic")
    assert docs, "no KafkaTopic manifests found"
    declared = {}
    for path, doc in docs:
        errors = [e.message for e in validator.iter_errors(doc)]
        assert not errors, f"{path}: {errors}"
        assert doc["apiVersion"] in api_versions
        name = doc["spec"].get("topicName", doc["metadata"]["name"])
        declared[name] = doc["spec"]
    assert set(declared) == set(topics.TOPICS)
    for name, spec in topics.TOPICS.items():
        assert declared[name]["partitions"] == spec.partitions
        assert declared[name]["replicas"] == spec.replication_factor == 3
        config = {k: str(v) for k, v in declared[name]["config"].items()}
        assert config["min.insync.replicas"] == "2"
        for key, value in spec.config.items():
            assert config[key] == value, f"{name}: {key}"


def _python_sources() -> str:
    texts = []
    for path in REPO_ROOT.rglob("*.py"):
        rel = path.relative_to(REPO_ROOT)
        if SKIP_DIRS & set(rel.parts) or rel.parts[0] == "tests" or rel == Path("hcml/events/topics.py"):
            continue
        texts.append(path.read_text(errors="replace"))
    return "\n".join(texts)


def test_keda_scaled_objects_scale_on_consumer_groups_the_code_uses():
    validator, _, api_versions = _crd_validator(REPO_ROOT / "deploy/schemas/keda/keda.sh_scaledobjects.yaml",
                                                "ScaledObject")
    scaled = _yaml_documents("ScaledObject")
    assert scaled, "no KEDA ScaledObject in the repository (the results worker must have one)"
    group_constants = {value: name for name, value in vars(topics).items()
                       if name.startswith("GROUP_") and isinstance(value, str)}
    code = _python_sources()
    n_triggers = 0
    for path, doc in scaled:
        errors = [e.message for e in validator.iter_errors(doc)]
        assert not errors, f"{path}: {errors}"
        assert doc["apiVersion"] in api_versions
        for trigger in doc["spec"]["triggers"]:
            if trigger["type"] != "kafka":
                continue
            n_triggers += 1
            group, topic = trigger["metadata"]["consumerGroup"], trigger["metadata"]["topic"]
            assert group in group_constants, f"{path}: consumerGroup {group!r} is not in hcml.events.topics"
            assert topic in topics.GROUP_TOPICS[group], f"{path}: {group} does not read {topic!r}"
            constant = group_constants[group]
            # the code consumes in this group: the constant is used outside topics.py (not only declared)
            assert re.search(rf"\b{constant}\b", code), f"{constant} ({group}) is used by no consumer"
    assert n_triggers, "no Kafka trigger in the ScaledObjects"


def test_every_group_name_is_spelled_only_in_topics_py():
    code = _python_sources()
    for name, value in vars(topics).items():
        if name.startswith("GROUP_") and isinstance(value, str):
            assert f'"{value}"' not in code and f"'{value}'" not in code, f"{value!r} spelled outside topics.py"
    for value in (topics.RAW, topics.ANNOTATED, topics.DLQ, topics.LABELS):
        assert f'"{value}"' not in code, f"{value!r} spelled outside topics.py"


@pytest.mark.parametrize("group", sorted(topics.CONSUMER_GROUPS))
def test_group_topics_are_declared_topics(group):
    assert set(topics.GROUP_TOPICS[group]) <= set(topics.TOPICS)


def test_strimzi_kafka_cluster_matches_the_topics_and_the_fault_tested_settings():
    validator, _, api_versions = _crd_validator(REPO_ROOT / "deploy/schemas/strimzi/kafka-crd.yaml", "Kafka")
    (path, kafka), = _yaml_documents("Kafka")
    errors = [e.message for e in validator.iter_errors(kafka)]
    assert not errors, f"{path}: {errors}"
    assert kafka["apiVersion"] in api_versions
    config = kafka["spec"]["kafka"]["config"]
    # the settings the three-broker fault test runs with (scripts/kafka.sh cluster-up)
    assert config["default.replication.factor"] == 3 and config["min.insync.replicas"] == 2
    assert config["auto.create.topics.enable"] is False
    assert config["message.max.bytes"] == topics.MAX_MESSAGE_BYTES
    assert "topicOperator" in kafka["spec"]["entityOperator"]  # reconciles the KafkaTopic resources
    cluster = kafka["metadata"]["name"]
    for _, topic in _yaml_documents("KafkaTopic"):
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == cluster
        assert topic["metadata"]["namespace"] == kafka["metadata"]["namespace"]
    # the KEDA triggers point at this cluster's bootstrap service
    for path, scaled in _yaml_documents("ScaledObject"):
        for trigger in scaled["spec"]["triggers"]:
            if trigger["type"] == "kafka":
                assert trigger["metadata"]["bootstrapServers"].startswith(
                    f"{cluster}-kafka-bootstrap.{kafka['metadata']['namespace']}.svc:"), path
