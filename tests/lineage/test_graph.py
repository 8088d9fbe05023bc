"""The asset graph starts at the raw inputs: every asset reaches an observed source, every asset has a
code version, and each source's data version is its content's fingerprint (recomputed here with hashlib)."""

import gzip
import hashlib
import shutil

import dagster as dg
import pytest

from hcml.config import REPO_ROOT

# the raw inputs the platform reads (the design: docs/lineage.md); written here, not taken from the code
RAW_INPUTS = {
    "ensembl_gene_models", "genome_fasta", "population_variants", "clinvar_release", "curated_labels",
    "bundled_model", "vcf_landing", "submissions_topic", "acmg_config", "rate_card", "department_budgets",
}
REPORT_INPUTS = RAW_INPUTS - {"rate_card", "department_budgets"}
MODEL_INPUTS = {"clinvar_release", "curated_labels"}


@pytest.fixture(scope="module")
def graph():
    from hcml_dagster.definitions import defs

    return defs.resolve_asset_graph()


def _ancestors(graph, key: dg.AssetKey) -> set[str]:
    seen, todo = set(), [key]
    while todo:
        for parent in graph.get(todo.pop()).parent_keys:
            if parent.to_user_string() not in seen:
                seen.add(parent.to_user_string())
                todo.append(parent)
    return seen


def test_every_asset_reaches_an_observed_source_and_has_a_code_version(graph):
    keys = graph.get_all_asset_keys()
    sources = {k.to_user_string() for k in keys if graph.get(k).is_observable and not graph.get(k).is_materializable}
    assert sources == RAW_INPUTS
    for key in keys:
        node, name = graph.get(key), key.to_user_string()
        if name in sources:
            assert not node.parent_keys, f"{name}: a raw input has no upstream"
            continue
        assert node.code_version, f"{name} has no code_version"
        roots = {a for a in _ancestors(graph, key) if not graph.get(dg.AssetKey(a)).parent_keys}
        assert roots and roots <= sources, f"{name}: upstream roots {roots - sources} are not observed sources"


def test_reports_and_model_reach_every_input_they_read(graph):
    assert _ancestors(graph, dg.AssetKey("clinical_report")) >= REPORT_INPUTS | {"reference_bundle", "champion_model"}
    assert _ancestors(graph, dg.AssetKey("champion_model")) >= MODEL_INPUTS
    assert _ancestors(graph, dg.AssetKey("realtime_clinical_result")) >= {"submissions_topic", "clinvar_release"}


def _observe(instance) -> dict[str, str]:
    from hcml_dagster.definitions import defs

    assert defs.resolve_job_def("observe_sources_job").execute_in_process(instance=instance).success
    return {name: instance.get_latest_data_version_record(dg.AssetKey(name)).asset_observation.tags[
        "dagster/data_version"] for name in RAW_INPUTS}


def _sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_data_versions_are_content_hashes_and_change_with_the_content(tmp_path, monkeypatch):
    """A copied reference folder with one ClinVar row edited, a landing folder that receives a VCF."""
    ref = tmp_path / "reference-data"
    for sub in ("reference", "population", "clinvar"):
        shutil.copytree(REPO_ROOT / "data" / sub, ref / sub)
    landing = tmp_path / "landing"
    landing.mkdir()
    monkeypatch.setenv("HCML_REFERENCE_DATA", str(ref))
    monkeypatch.setenv("HCML_LANDING_DIR", str(landing))
    monkeypatch.delenv("HCML_KAFKA_BOOTSTRAP", raising=False)
    clinvar = ref / "clinvar" / "clinvar_2016-05-20.lifted_GRCh38.tsv.gz"
    with dg.instance_for_test() as instance:
        before = _observe(instance)
        assert before["clinvar_release"] == _sha256(clinvar)
        assert before["genome_fasta"] == _sha256(ref / "reference" / "chr21_full_length_Nmasked.GRCh38.fa.gz")
        assert before["submissions_topic"] == "kafka-disabled"

        lines = gzip.decompress(clinvar.read_bytes()).decode().splitlines(keepends=True)
        lines.append(lines[1])  # one row repeated: a new release in content, same name
        clinvar.write_bytes(gzip.compress("".join(lines).encode()))
        shutil.copy(REPO_ROOT / "data" / "samples" / "HG00096_chr21_region.vcf", landing / "p1.vcf")
        after = _observe(instance)
    changed = {name for name in RAW_INPUTS if before[name] != after[name]}
    assert changed == {"clinvar_release", "vcf_landing"}
    assert after["clinvar_release"] == _sha256(clinvar)


def test_a_new_clinvar_release_requests_the_bundle_rebuild(tmp_path, monkeypatch):
    """Declarative automation: after the bundle is built, observing a changed ClinVar file requests
    `reference_bundle` again (and nothing else is requested automatically)."""
    from hcml_dagster.definitions import defs

    release = tmp_path / "clinvar_2016-06-30.lifted_GRCh38.tsv.gz"
    shutil.copy(REPO_ROOT / "data" / "clinvar" / "clinvar_2016-05-20.lifted_GRCh38.tsv.gz", release)
    monkeypatch.setenv("HCML_CLINVAR", str(release))
    monkeypatch.delenv("HCML_KAFKA_BOOTSTRAP", raising=False)
    with dg.instance_for_test() as instance:
        _observe(instance)
        instance.report_runless_asset_event(dg.AssetMaterialization("reference_bundle"))  # built before
        quiet = dg.evaluate_automation_conditions(defs=defs, instance=instance)
        assert quiet.total_requested == 0
        release.write_bytes(release.read_bytes() + b"\n")  # the new release lands under the same path
        _observe(instance)
        result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=quiet.cursor)
    assert result.total_requested == 1
    assert result.get_requested_partitions(dg.AssetKey("reference_bundle")) == {None}
