"""The Kubernetes Jobs that dagster-k8s would create for a run and for a step, from our configuration.

The run launcher is built from deploy/dagster/dagster.yaml the way the Dagster instance builds it
(ConfigurableClassData.rehydrate, `env:` values resolved), only pointed at a kubeconfig file instead of the
in-cluster service account; the step pod merges the k8s_job_executor config and the asset's
`dagster-k8s/config` op tag exactly as dagster-k8s's step handler does. The resulting Job manifests are
validated with kubernetes-validate (strict) and checked against OpenShift's restricted-v2 rules.
"""

from __future__ import annotations

import kubernetes
import pytest
import yaml
from dagster._serdes.config_class import ConfigurableClassData

import dagster as dg
from dagster_k8s import K8sRunLauncher
from dagster_k8s.container_context import K8sContainerContext
from dagster_k8s.job import UserDefinedDagsterK8sConfig, construct_dagster_k8s_job, get_user_defined_k8s_config
from hcml.config import REPO_ROOT
from tests.deploy.schemas import validate_kubernetes_kind

DEPLOY = REPO_ROOT / "deploy"
IMAGE = "image-registry.openshift-image-registry.svc:5000/hcml/hcml-code-location:0.1.0"
KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:6443"}}]
users: [{name: u, user: {token: not-a-real-token}}]
contexts: [{name: x, context: {cluster: c, user: u, namespace: hcml}}]
current-context: x
"""


@pytest.fixture(scope="module")
def launcher(tmp_path_factory) -> K8sRunLauncher:
    config_map = yaml.safe_load((DEPLOY / "k8s" / "config.yaml").read_text())["data"]
    mp = pytest.MonkeyPatch()
    for key, value in config_map.items():  # the values hcml-config gives the daemon in the cluster
        mp.setenv(key, value)
    kubeconfig = tmp_path_factory.mktemp("kube") / "config"
    kubeconfig.write_text(KUBECONFIG)
    entry = yaml.safe_load((DEPLOY / "dagster" / "dagster.yaml").read_text())["run_launcher"]
    config = {**entry["config"], "load_incluster_config": False, "kubeconfig_file": str(kubeconfig)}
    try:
        yield ConfigurableClassData(entry["module"], entry["class"], yaml.safe_dump(config)).rehydrate(
            as_type=K8sRunLauncher)
    finally:
        mp.undo()


def _manifest(job: kubernetes.client.V1Job) -> dict:
    return kubernetes.client.ApiClient().sanitize_for_serialization(job)


def _assert_restricted(manifest: dict) -> None:
    pod = manifest["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    for container in pod["containers"] + pod.get("initContainers", []):
        sc = container["securityContext"]
        assert "runAsUser" not in sc and "runAsUser" not in pod["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"]["drop"] == ["ALL"]
        assert sc["runAsNonRoot"] is True


def _run(tags: dict | None = None) -> dg.DagsterRun:
    return dg.DagsterRun(job_name="sample_report_job", run_id="8f1c2d3e-0000-4000-8000-000000000001",
                         tags={"hcml/department": "genetics", **(tags or {})})


def test_run_worker_job(launcher):
    run = _run()
    context = K8sContainerContext.create_for_run(run, launcher, include_run_tags=True)
    job = construct_dagster_k8s_job(
        job_config=context.get_k8s_job_config(job_image=IMAGE, run_launcher=launcher),
        args=["dagster", "api", "execute_run", "{}"], job_name="dagster-run-8f1c2d3e", component="run_worker",
        user_defined_k8s_config=context.run_k8s_config, labels={"dagster/job": run.job_name})
    manifest = _manifest(job)
    assert validate_kubernetes_kind(manifest) == []
    _assert_restricted(manifest)
    container = manifest["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == IMAGE
    assert container["resources"]["requests"] == {"cpu": "250m", "memory": "512Mi"}
    secrets = {e["secretRef"]["name"] for e in container["envFrom"] if "secretRef" in e}
    assert {"hcml-kafka", "hcml-mlflow"} <= secrets
    # the pseudonym key from the same Secret and key as the realtime service's
    env = {e["name"]: e for e in container["env"]}
    assert env["HCML_PSEUDONYM_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "hcml-pseudonym", "key": "key"}
    assert env["HCML_AZURE_STORAGE_CREDENTIAL"]["valueFrom"]["secretKeyRef"]["optional"] is True
    assert {"configMapRef": {"name": "hcml-config"}} in container["envFrom"]
    assert manifest["spec"]["backoffLimit"] == 0
    assert manifest["metadata"].get("namespace", context.namespace) == "hcml"


@pytest.mark.parametrize("asset,cpu,memory", [("variant_annotations", "2", "2Gi"),
                                              ("pathogenicity_model", "2", "8Gi")])
def test_step_worker_job_takes_the_asset_resources(launcher, asset, cpu, memory):
    from hcml_dagster.definitions import defs

    executor = yaml.safe_load((DEPLOY / "dagster" / "k8s_job_executor.yaml").read_text())["execution"]["config"]
    executor_context = K8sContainerContext(
        env_secrets=executor.get("env_secrets"), namespace=executor.get("job_namespace"),
        security_context=executor.get("security_context"),
        run_k8s_config=UserDefinedDagsterK8sConfig.from_dict(executor.get("step_k8s_config", {})))
    # a graph-backed asset (variant_annotations, fanned out per chromosome) takes its pods' resources from the op
    # that does the work
    node_def = defs.resolve_assets_def(asset).node_def
    op_tags = next(op.tags for op in node_def.iterate_op_defs() if "dagster-k8s/config" in op.tags)
    # the step handler's merge order: run launcher -> executor -> op tag -> per-step override (none here)
    context = (K8sContainerContext.create_for_run(_run(), launcher, include_run_tags=False)
               .merge(executor_context)
               .merge(K8sContainerContext(run_k8s_config=get_user_defined_k8s_config(op_tags))))
    job = construct_dagster_k8s_job(
        job_config=context.get_k8s_job_config(job_image=IMAGE, run_launcher=launcher),
        args=["dagster", "api", "execute_step"], job_name=f"dagster-step-{asset.replace('_', '-')}",
        component="step_worker", user_defined_k8s_config=context.run_k8s_config,
        labels={"dagster/op": asset})
    manifest = _manifest(job)
    assert validate_kubernetes_kind(manifest) == []
    _assert_restricted(manifest)
    container = manifest["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["requests"] == {"cpu": cpu, "memory": memory}
    # the op tag's resources did not replace the run pod's env (deep merge): the step still has its secrets
    assert "HCML_PSEUDONYM_KEY" in {e["name"] for e in container["env"]}
