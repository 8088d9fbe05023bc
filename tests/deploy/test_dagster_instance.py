"""The production dagster.yaml and the per-step executor config validate against Dagster's own schemas."""

from __future__ import annotations

import importlib
import re
import shutil
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._config import validate_config
from dagster._core.instance.config import dagster_instance_config

from hcml.config import REPO_ROOT

DEPLOY = REPO_ROOT / "deploy" / "dagster"
PRODUCTION = DEPLOY / "dagster.yaml"


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def _render_local():
    spec = importlib.util.spec_from_file_location("render_local", DEPLOY / "render_local.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_production_instance_passes_dagster_schema(tmp_path):
    shutil.copy(PRODUCTION, tmp_path / "dagster.yaml")
    config, custom_class = dagster_instance_config(str(tmp_path))
    assert custom_class is None
    assert set(config) >= {"storage", "run_launcher", "run_coordinator", "compute_logs"}


@pytest.mark.parametrize("section", ["run_launcher", "run_coordinator", "compute_logs"])
def test_each_configurable_class_accepts_its_config(section):
    entry = _load(PRODUCTION)[section]
    cls = getattr(importlib.import_module(entry["module"]), entry["class"])
    result = validate_config(cls.config_type(), entry["config"])
    assert result.success, [e.message for e in result.errors]


def test_production_choices():
    config = _load(PRODUCTION)
    assert list(config["storage"]) == ["postgres"]
    assert config["run_launcher"]["class"] == "K8sRunLauncher"
    assert config["compute_logs"]["class"] == "AzureBlobComputeLogManager"
    limits = config["run_coordinator"]["config"]["tag_concurrency_limits"]
    assert {"key": "hcml/department", "value": {"applyLimitPerUniqueValue": True}, "limit": 4} in limits
    # the department tag is the one the run tags module defines
    from resources import tags

    assert limits[0]["key"] == tags.DEPARTMENT
    # run pods: OpenShift restricted-v2 compatible, no fixed UID anywhere
    sc = config["run_launcher"]["config"]["security_context"]
    assert sc == {"runAsNonRoot": True, "allowPrivilegeEscalation": False,
                  "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}
    assert "runAsUser" not in PRODUCTION.read_text() and "run_as_user" not in PRODUCTION.read_text()


def test_no_literal_secrets_in_production_instance():
    text = PRODUCTION.read_text()
    storage = _load(PRODUCTION)["storage"]["postgres"]["postgres_db"]
    for key in ("hostname", "port", "username", "password", "db_name"):
        assert set(storage[key]) == {"env"}, key
    # no literal credential: every password/secret/key-ish field is an env reference or a Secret's name
    for match in re.finditer(r"(?im)^\s*([a-z_]*(password|secret|access_key|sas_token)[a-z_]*)\s*:\s*(.*)$", text):
        assert match.group(3).startswith("{env:") or match.group(1) == "env_secrets", match.group(0)


def test_local_rendering_changes_only_launcher_logs_and_tls(tmp_path):
    module = _render_local()
    out = module.render(tmp_path)
    local, production = _load(out), _load(PRODUCTION)
    assert "run_launcher" not in local
    assert local["compute_logs"]["class"] == "LocalComputeLogManager"
    assert local["storage"]["postgres"]["postgres_db"]["params"] == {"sslmode": "prefer"}
    for key in set(production) - {"run_launcher", "compute_logs", "storage"}:
        assert local[key] == production[key], key
    config, _ = dagster_instance_config(str(tmp_path))
    assert config["run_coordinator"] == production["run_coordinator"]


def test_k8s_job_executor_run_config_is_valid_for_the_per_step_jobs():
    from hcml_dagster.definitions import defs
    from resources.jobs import sample_run_config

    executor = _load(DEPLOY / "k8s_job_executor.yaml")
    sample_job = defs.resolve_job_def("sample_report_job_per_step")
    training_job = defs.resolve_job_def("ml_training_job_per_step")
    assert sample_job.executor_def.name == training_job.executor_def.name == "k8s"
    # the executor block with a real run's config, through Dagster's own validation
    run_config = {**sample_run_config("azure://hcml/submissions/s1/input.vcf", submission_id="s1"), **executor}
    assert dg.validate_run_config(sample_job, run_config)
    # per-step overrides name ops that exist in those jobs
    ops = set(sample_job.graph.node_dict) | set(training_job.graph.node_dict)
    # ops inside graph-backed assets (variant_annotations: annotate_chromosome, one step per chromosome)
    ops |= {op.name for job in (sample_job, training_job) for op in job.graph.iterate_op_defs()}
    assert set(executor["execution"]["config"]["per_step_k8s_config"]) <= ops
    bad = {**run_config, "execution": {"config": {"per_step_k8s_config": {"x": {"container_config": 3}}}}}
    with pytest.raises(dg.DagsterInvalidConfigError):
        dg.validate_run_config(sample_job, bad)


def _quantity(value: str) -> float:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "m": 1e-3, "": 1}
    number, unit = re.fullmatch(r"([\d.]+)([A-Za-z]*)", str(value)).groups()
    return float(number) * units[unit]


def test_asset_k8s_resource_tags_are_valid_and_larger_than_the_run_default():
    from dagster_k8s.job import get_user_defined_k8s_config

    from hcml_dagster.definitions import defs

    default = _load(PRODUCTION)["run_launcher"]["config"]["run_k8s_config"]["container_config"]["resources"]
    tagged = {}
    for asset in defs.resolve_all_asset_specs():
        node = defs.resolve_assets_def(asset.key)
        if not node.is_executable or node.node_def is None:
            continue  # external assets (e.g. realtime results) have no op
        tagged_ops = [op.tags for op in node.node_def.iterate_op_defs() if "dagster-k8s/config" in op.tags]
        tags = tagged_ops[0] if tagged_ops else {}  # a graph-backed asset: the op that does the work
        if "dagster-k8s/config" in tags:
            config = get_user_defined_k8s_config(tags)  # what the executor applies (raises if malformed)
            tagged[asset.key.to_user_string()] = config.container_config["resources"]
    assert "pathogenicity_model" in tagged  # training wants memory (docs/deployment.md)
    memory = _quantity(tagged["pathogenicity_model"]["requests"]["memory"])
    assert memory > _quantity(default["requests"]["memory"])
    for name, resources in tagged.items():
        for kind in ("cpu", "memory"):
            assert _quantity(resources["requests"][kind]) <= _quantity(resources["limits"][kind]), name
    if "variant_annotations" in tagged:  # annotation is CPU-bound
        assert _quantity(tagged["variant_annotations"]["requests"]["cpu"]) > _quantity(default["requests"]["cpu"])
