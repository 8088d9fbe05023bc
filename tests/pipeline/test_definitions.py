"""The code location loads, and the graph's lineage is what the design says (so it cannot silently break)."""

import os
import subprocess
import sys

import dagster as dg
import pytest

from hcml.config import REPO_ROOT

# asset -> its upstream assets (the design: docs/pipeline.md)
EXPECTED_PARENTS = {
    "reference_bundle": set(),
    "sample_variants": {"reference_bundle"},
    "variant_annotations": {"sample_variants"},
    "variant_features": {"sample_variants", "variant_annotations"},
    "variant_predictions": {"variant_features"},
    "clinical_report": {"variant_predictions"},
    "cohort_allele_stats": {"variant_features"},
    "cohort_site_stats": {"reference_bundle"},
    "cohort_report": {"cohort_site_stats"},
}
PER_SAMPLE = {"sample_variants", "variant_annotations", "variant_features", "variant_predictions", "clinical_report"}
BLOCKING_CHECKS = {
    ("sample_variants", "ref_alleles_match_genome"),
    ("sample_variants", "input_records_accounted"),
    ("variant_annotations", "every_variant_annotated"),
    ("variant_annotations", "every_variant_has_most_severe_consequence"),
    ("clinical_report", "report_schema_valid"),
}


@pytest.fixture(scope="module")
def defs():
    from hcml_dagster.definitions import defs

    dg.Definitions.validate_loadable(defs)
    return defs


def test_lineage(defs):
    graph = defs.resolve_asset_graph()
    for asset, parents in EXPECTED_PARENTS.items():
        node = graph.get(dg.AssetKey(asset))
        assert {k.to_user_string() for k in node.parent_keys} >= parents, asset
        # no other upstream among the pipeline's own assets (others may add e.g. a model dependency)
        assert {k.to_user_string() for k in node.parent_keys} & set(EXPECTED_PARENTS) == parents, asset


def test_predictions_follow_the_champion_model(defs):
    parents = defs.resolve_asset_graph().get(dg.AssetKey("variant_predictions")).parent_keys
    assert dg.AssetKey("champion_model") in parents


def test_partitions_and_job(defs):
    graph = defs.resolve_asset_graph()
    for asset in PER_SAMPLE:
        assert graph.get(dg.AssetKey(asset)).partitions_def.name == "samples"
    for asset in set(EXPECTED_PARENTS) - PER_SAMPLE:
        assert graph.get(dg.AssetKey(asset)).partitions_def is None
    job = defs.resolve_job_def("sample_report_job")
    selected = {k.to_user_string() for k in job.asset_layer.executable_asset_keys}
    assert selected == PER_SAMPLE


def test_every_asset_is_described(defs):
    graph = defs.resolve_asset_graph()
    for asset in EXPECTED_PARENTS:
        node = graph.get(dg.AssetKey(asset))
        spec = node.to_asset_spec() if hasattr(node, "to_asset_spec") else node
        assert node.kinds, asset
        assert node.group_name and node.group_name != "default", asset
        assert node.owners, asset
        assert node.code_version, asset
        assert node.description and len(node.description) > 40, asset
        phi = node.tags.get("hcml/phi")
        assert phi == ("true" if asset in PER_SAMPLE else "false"), (asset, spec)


def test_blocking_checks(defs):
    graph = defs.resolve_asset_graph()
    found = set()
    for key in graph.asset_check_keys:
        spec = graph.get_check_spec(key) if hasattr(graph, "get_check_spec") else None
        found.add((key.asset_key.to_user_string(), key.name))
        if (key.asset_key.to_user_string(), key.name) in BLOCKING_CHECKS and spec is not None:
            assert spec.blocking, key
    assert BLOCKING_CHECKS <= found


@pytest.mark.slow
def test_dagster_cli_validates_the_workspace(tmp_path):
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "HCML_DATA_DIR": str(tmp_path / "data")}
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    proc = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "dagster"), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "hcml" in proc.stdout + proc.stderr
