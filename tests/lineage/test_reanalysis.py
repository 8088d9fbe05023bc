"""Impact queries and re-analysis on real materializations: the two real samples reported with the ClinVar
2016-05-20 release, then a second release (a few classifications of variants in the ClinVar sample edited, written
here) built into the bundle; the sensor re-runs the stale reports, the new report lists what changed, one CloudEvent
per changed report reaches the real Kafka broker, and `hcml lineage impact` finds each report by what built it.

Expectations come from the edit itself (which variants, old and new classification) and from hashlib over the
input files, never from the code under test."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil

import dagster as dg
import polars as pl
import pytest
from click.testing import CliRunner

from hcml.config import REPO_ROOT
from resources.jobs import SAMPLE_ASSET_KEYS, sample_run_config
from resources.partitions import samples_partitions
from tests.pipeline.conftest import CLINVAR_VCF, HG00096, local_resources, vcf_records

pytestmark = [pytest.mark.slow, pytest.mark.kafka]

SHIPPED = REPO_ROOT / "data" / "clinvar" / "clinvar_2016-05-20.lifted_GRCh38.tsv.gz"
NEW_RELEASE = "clinvar_2016-06-30.lifted_GRCh38.tsv.gz"
N_EDITED = 3
FLIP = {"pathogenic": "Benign", "likely pathogenic": "Benign", "benign": "Pathogenic", "likely benign": "Pathogenic"}


def _norm(term: str | None) -> str:
    return (term or "").strip().lower().replace(" ", "_")


def _edited_release(path) -> dict[str, tuple[str, str]]:
    """Write the second release: N_EDITED ClinVar rows at positions of the ClinVar sample, classification
    flipped. Returns {chrom-pos-ref-alt: (old, new)} for the sample's alleles at those rows."""
    sample = {f"21-{r[1]}-{r[3]}-{r[4]}" for r in vcf_records(CLINVAR_VCF)}
    table = pl.read_csv(SHIPPED, separator="\t", infer_schema=False, quote_char=None)
    key = pl.concat_str(pl.lit("21-"), "pos_grch38", pl.lit("-"), "ref", pl.lit("-"), "alt")
    in_sample = table.with_row_index("i").filter(
        (pl.col("chrom_grch38") == "21")
        & (pl.col("liftover_strand") == "+")
        & key.is_in(list(sample))
        & pl.col("clinical_significance").str.to_lowercase().is_in(list(FLIP))
    )
    picked = in_sample.with_columns(key.alias("key")).unique("key", keep="first", maintain_order=True).head(N_EDITED)
    assert picked.height == N_EDITED
    new = dict(zip(picked["i"].to_list(), [FLIP[s.lower()] for s in picked["clinical_significance"]]))
    edited = table.with_row_index("i").with_columns(
        pl.col("i").replace_strict(new, default=None).fill_null(pl.col("clinical_significance")).alias(
            "clinical_significance")
    ).drop("i")
    path.write_bytes(gzip.compress(edited.write_csv(separator="\t", quote_style="never").encode()))
    return {k: (before, after) for k, before, after in zip(picked["key"], picked["clinical_significance"], new.values())}


def _sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def world(tmp_path_factory, kafka_bootstrap):
    from hcml.events.pseudonym import pseudonymise
    from hcml_dagster.definitions import defs

    root = tmp_path_factory.mktemp("reanalysis")
    inputs = root / "inputs"
    inputs.mkdir()
    hg = shutil.copy(HG00096, inputs / HG00096.name)
    cv = shutil.copy(CLINVAR_VCF, inputs / CLINVAR_VCF.name)
    home = root / "dagster"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HCML_DATA_DIR", str(root / "var"))
        mp.setenv("DAGSTER_HOME", str(home))
        mp.setenv("HCML_PSEUDONYM_KEY", "lineage-test-key")
        mp.setenv("HCML_KAFKA_BOOTSTRAP", kafka_bootstrap)
        for name in ("HCML_AZURE_STORAGE_CONNECTION_STRING", "HCML_AZURE_STORAGE_ACCOUNT_URL",
                     "HCML_MLFLOW_TRACKING_URI", "HCML_CLINVAR", "HCML_REFERENCE_DATA"):
            mp.delenv(name, raising=False)
        resources = {**defs.resources, **local_resources(root, root / "bundle")}
        assets = list(defs.assets) + list(defs.asset_checks or [])
        patients = {"hg00096": pseudonymise("HG00096"), "clinvar": pseudonymise("patient-cv")}
        configs = {
            "hg00096": sample_run_config(hg.as_uri(), "HG00096", "sub-hg00096"),
            "clinvar": sample_run_config(cv.as_uri(), None, "sub-clinvar", patients["clinvar"]),
        }
        with dg.DagsterInstance.get() as instance:
            def materialize(selection, partition=None, run_config=None, tags=None):
                result = dg.materialize(assets, selection=selection, instance=instance, resources=resources,
                                        partition_key=partition, run_config=run_config, tags=tags)
                assert result.success
                return result

            materialize(["reference_bundle"])
            old_bundle = json.loads((root / "bundle" / "manifest.json").read_text())
            instance.add_dynamic_partitions(samples_partitions.name, list(configs))
            for key, config in configs.items():
                materialize(list(SAMPLE_ASSET_KEYS), key, config)
            old_reports = {k: json.loads((root / "store" / "reports" / k / "report.json").read_text()) for k in configs}

            release = root / NEW_RELEASE
            edited = _edited_release(release)
            mp.setenv("HCML_CLINVAR", str(release))
            materialize(["reference_bundle"])
            yield {
                "root": root, "instance": instance, "resources": resources, "materialize": materialize,
                "configs": configs, "patients": patients, "edited": edited, "release": release,
                "old_bundle": old_bundle, "old_reports": old_reports, "inputs": {"hg00096": hg, "clinvar": cv},
                "mp": mp, "kafka": kafka_bootstrap,
            }


def _evaluate(world, sensor_name: str, **env):
    from hcml_dagster.definitions import defs

    for k, v in env.items():
        world["mp"].setenv(k, v)
    sensor = defs.resolve_sensor_def(sensor_name)
    with dg.build_sensor_context(instance=world["instance"], resources=world["resources"],
                                 cursor=env.get("_cursor")) as context:
        return sensor(context)


def _reanalyse(world):
    """The sensor in each mode; with `on`, its run requests executed (module-scoped: once)."""
    if "reanalysed" in world:
        return world["reanalysed"]
    estimate = _evaluate(world, "reanalysis_sensor", HCML_REANALYSIS="estimate")
    off = _evaluate(world, "reanalysis_sensor", HCML_REANALYSIS="off")
    over = _evaluate(world, "reanalysis_sensor", HCML_REANALYSIS="on", HCML_REANALYSIS_MAX_COST="0")
    on = _evaluate(world, "reanalysis_sensor", HCML_REANALYSIS="on", HCML_REANALYSIS_MAX_COST="1000000")
    for request in on.run_requests:
        world["materialize"](list(SAMPLE_ASSET_KEYS), request.partition_key, request.run_config, request.tags)
    new_reports = {k: json.loads((world["root"] / "store" / "reports" / k / "report.json").read_text())
                   for k in world["configs"]}
    world["reanalysed"] = {"estimate": estimate, "off": off, "over": over, "on": on, "reports": new_reports}
    return world["reanalysed"]


def test_stale_reports_rerun_only_when_on_and_within_the_cost_limit(world):
    r = _reanalyse(world)
    assert "2 stale report(s); estimated cost" in r["estimate"].skip_message
    assert "nothing launched" in r["estimate"].skip_message
    assert "off" in r["off"].skip_message
    assert "exceeds HCML_REANALYSIS_MAX_COST=0.0" in r["over"].skip_message  # the last runs cost more than 0
    by_partition = {req.partition_key: req for req in r["on"].run_requests}
    assert set(by_partition) == set(world["configs"])
    for key, req in by_partition.items():  # the same input pointers as the first run, and the patient's pseudonym
        expected = world["configs"][key]["ops"]["sample_variants"]["config"]
        assert req.run_config["ops"]["sample_variants"]["config"] == {
            **expected, "patient_pseudonym": world["patients"][key]}
    # after re-analysis every current report uses the new release: nothing is stale any more
    again = _evaluate(world, "reanalysis_sensor", HCML_REANALYSIS="on", HCML_REANALYSIS_MAX_COST="1000000")
    assert "every current report uses the current ClinVar release" in again.skip_message


def test_new_report_lists_the_edited_classifications(world):
    from hcml.clinical_report import render_html, schema_errors

    r = _reanalyse(world)
    edited = world["edited"]
    report = r["reports"]["clinvar"]
    assert not schema_errors(report)
    changes = report["changes_since_previous"]
    assert changes["previous_report"]["content_sha256"] == world["old_reports"]["clinvar"]["integrity"]["content_sha256"]
    assert changes["clinvar_release"] == "ClinVar 2016-06-30" and changes["previous_report"]["clinvar_release"] == (
        "ClinVar 2016-05-20")
    significance = {v["variant"]: c for v in changes["variants"] for c in v["changes"]
                    if c["field"] == "clinvar_release_significance"}
    assert set(significance) == set(edited)
    for key, (before, after) in edited.items():
        assert _norm(before) in significance[key]["before"].split(",")
        assert _norm(after) in significance[key]["after"].split(",")
    # only edited variants may change at all (same model: no score band moves)
    assert {v["variant"] for v in changes["variants"]} <= set(edited)
    assert all(c["field"] != "score_band" for v in changes["variants"] for c in v["changes"])
    hg = r["reports"]["hg00096"]["changes_since_previous"]
    hg_keys = {f"{c[0].removeprefix('chr')}-{c[1]}-{c[3]}-{c[4]}" for c in vcf_records(HG00096)}
    assert not (hg_keys & set(edited)) and hg["n_changed"] == 0 and hg["variants"] == []
    page = render_html(report)
    assert "Changed since the previous report" in page and all(k in page for k in edited)


def test_one_event_per_changed_report_on_kafka(world):
    from confluent_kafka import Consumer, TopicPartition

    from hcml.events import topics
    from hcml.events.messages import from_kafka, parse_report_changed

    _reanalyse(world)
    result = _evaluate(world, "report_changes_sensor")
    assert "1 changed report(s) announced of 4 new report(s)" in result.skip_message
    consumer = Consumer({"bootstrap.servers": world["kafka"], "group.id": "lineage-test", "enable.auto.commit": False})
    try:
        parts = consumer.list_topics(topics.REPORTS_CHANGED, timeout=10).topics[topics.REPORTS_CHANGED].partitions
        consumer.assign([TopicPartition(topics.REPORTS_CHANGED, p, 0) for p in parts])
        events, idle = [], 0
        while idle < 5:
            msg = consumer.poll(1.0)
            if msg is None:
                idle += 1
                continue
            assert not msg.error(), msg.error()
            events.append(from_kafka(msg.key(), msg.value(), msg.headers()))
    finally:
        consumer.close()
    assert len(events) == 1
    attributes = events[0].get_attributes()
    assert attributes["type"] == "org.hcml.report.changed.v1" and attributes["specversion"] == "1.0"
    changed = parse_report_changed(events[0])
    assert changed.partition == "clinvar" and changed.patient_pseudonym == world["patients"]["clinvar"]
    assert {c["variant"] for c in changed.changes} >= set(world["edited"])
    assert changed.clinvar_release == "ClinVar 2016-06-30"
    assert "patient-cv" not in json.dumps(changed.model_dump(mode="json"))


def _impact(*args: str) -> list[dict]:
    from hcml.cli import main

    result = CliRunner().invoke(main, ["lineage", "impact", *args, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_impact_queries_find_reports_by_what_built_them(world):
    _reanalyse(world)
    old = _impact("--clinvar-release", "2016-05-20")
    new = _impact("--clinvar-release", "ClinVar 2016-06-30")
    assert sorted(r["partition"] for r in old) == ["clinvar", "hg00096"] and not any(r["current"] for r in old)
    assert sorted(r["partition"] for r in new) == ["clinvar", "hg00096"] and all(r["current"] for r in new)
    assert {r["partition"] for r in _impact("--clinvar-release", _sha256(world["release"])[:16])} == {
        "clinvar", "hg00096"}
    by_input = _impact("--input", _sha256(world["inputs"]["hg00096"]))
    assert [r["partition"] for r in by_input] == ["hg00096", "hg00096"]
    assert {r["patient"] for r in by_input} == {world["patients"]["hg00096"]}
    assert {r["patient"] for r in _impact("--input", _sha256(world["inputs"]["clinvar"]))} == {
        world["patients"]["clinvar"]}
    assert len(_impact("--input", _sha256(REPO_ROOT / "data" / "reference" / "ensembl84_chr21_region.gtf.gz"))) == 4
    assert len(_impact("--bundle", world["old_bundle"]["bundle_sha256"])) == 2
    model = world["old_reports"]["clinvar"]["provenance"]["model"]["version"]
    assert len(_impact("--model-version", str(model))) == 4
    assert _impact("--model-version", "no-such-version") == []


def test_impact_table_and_bad_queries(world):
    from hcml.cli import main

    _reanalyse(world)
    table = CliRunner().invoke(main, ["lineage", "impact", "--clinvar-release", "2016-05-20"])
    assert table.exit_code == 0 and "2 report(s)" in table.output and "hg00096" in table.output
    assert "HG00096" not in table.output  # the sample name is never shown, only its pseudonym
    both = CliRunner().invoke(main, ["lineage", "impact", "--bundle", "abc12345", "--input", "abc12345"])
    assert both.exit_code != 0 and "exactly one" in both.output
    short = CliRunner().invoke(main, ["lineage", "impact", "--input", "abc"])
    assert short.exit_code != 0 and "--input" in short.output


def test_a_new_champion_makes_every_current_report_stale(world):
    """Last in the module: a promotion recorded in the event log (as `champion_model` records it) makes the current
    reports, scored by the bundled model, stale; their re-runs get new run keys (one per evidence version)."""
    r = _reanalyse(world)
    world["instance"].report_runless_asset_event(
        dg.AssetMaterialization("champion_model", metadata={"model_version": "999"}))
    again = _evaluate(world, "reanalysis_sensor", HCML_REANALYSIS="on", HCML_REANALYSIS_MAX_COST="1000000")
    assert {req.partition_key for req in again.run_requests} == set(world["configs"])
    assert all("champion 999" in req.tags["hcml/reanalysis"] for req in again.run_requests)
    assert not {req.run_key for req in again.run_requests} & {req.run_key for req in r["on"].run_requests}
