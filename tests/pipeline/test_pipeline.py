"""The whole per-sample chain on the real bundled samples, with `dg.materialize` on a test instance.

Expectations come from the inputs themselves (the VCF genotypes and ClinVar labels), from the Sequence
Ontology severity order, and from the provenance hashes recomputed by `hcml provenance verify`.
"""

import json
import shutil

import dagster as dg
import polars as pl
import pytest
from click.testing import CliRunner

from hcml.provenance_cli import provenance as provenance_cli
from resources.jobs import SAMPLE_ASSET_KEYS, sample_run_config
from resources.partitions import samples_partitions
from tests.pipeline.conftest import CLINVAR_VCF, HG00096, local_resources, vcf_records


def _assets():
    from hcml_dagster.definitions import defs

    return list(defs.assets) + list(defs.asset_checks or [])


def _resources(local: dict) -> dict:
    """The code location's resources (others' too, e.g. mlflow), with storage and bundle made local."""
    from hcml_dagster.definitions import defs

    return {**defs.resources, **local}


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory, bundle_dir):
    """Both real samples through the chain, plus the cohort, in a local store; inputs copied to tmp."""
    root = tmp_path_factory.mktemp("pipeline")
    inputs = root / "inputs"
    inputs.mkdir()
    hg = shutil.copy(HG00096, inputs / HG00096.name)
    cv = shutil.copy(CLINVAR_VCF, inputs / CLINVAR_VCF.name)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HCML_DATA_DIR", str(root / "var"))
        for name in ("HCML_AZURE_STORAGE_CONNECTION_STRING", "HCML_AZURE_STORAGE_ACCOUNT_URL",
                     "HCML_MLFLOW_TRACKING_URI"):
            mp.delenv(name, raising=False)
        resources = _resources(local_resources(root, bundle_dir))
        with dg.instance_for_test() as instance:
            instance.add_dynamic_partitions(samples_partitions.name, ["hg00096", "clinvar"])
            results = {}
            for key, path, sample in (("hg00096", hg, "HG00096"), ("clinvar", cv, None)):
                results[key] = dg.materialize(
                    _assets(), selection=list(SAMPLE_ASSET_KEYS), instance=instance, resources=resources,
                    partition_key=key, run_config=sample_run_config(path.as_uri(), sample, f"sub-{key}"),
                )
            results["cohort"] = dg.materialize(_assets(), selection=["cohort_allele_stats"], instance=instance,
                                               resources=resources)
            yield {"root": root, "results": results, "store": root / "store", "inputs": {"hg00096": hg, "clinvar": cv}}


def _report(pipeline, key):
    return json.loads((pipeline["store"] / "reports" / key / "report.json").read_text())


def _meta(result, asset):
    return {k: v.value for k, v in result.asset_materializations_for_node(asset)[0].metadata.items()}


def test_every_check_passes(pipeline):
    for key in ("hg00096", "clinvar"):
        evaluations = pipeline["results"][key].get_asset_check_evaluations()
        assert {e.check_name for e in evaluations} == {
            "ref_alleles_match_genome", "input_records_accounted", "every_variant_annotated",
            "every_variant_has_most_severe_consequence", "report_schema_valid", "report_variants_classified"}
        assert all(e.passed for e in evaluations), [(e.check_name, e.metadata) for e in evaluations]


def test_materializations_carry_metadata(pipeline):
    result = pipeline["results"]["clinvar"]
    for asset in ("sample_variants", "variant_annotations", "variant_features", "variant_predictions"):
        meta = _meta(result, asset)
        assert meta["dagster/row_count"] > 0 and len(meta["content_sha256"]) == 64
        assert meta["uri"].startswith("file://") and meta["dagster/column_schema"].columns
        assert meta["hcml/cpu_seconds"] >= 0 and meta["hcml/peak_memory_bytes"] > 0
    report = _meta(result, "clinical_report")
    assert report["submission_id"] == "sub-clinvar"
    assert report["report_uri"].endswith("reports/clinvar/report.json")
    assert report["report_html_uri"].endswith("reports/clinvar/report.html")
    assert report["provenance_sha256"] == _report(pipeline, "clinvar")["integrity"]["provenance_sha256"]


def test_hg00096_report_has_exactly_the_carried_variants(pipeline):
    carried = {(int(r[1]), r[3], r[4]) for r in vcf_records(HG00096) if r[9] not in ("0|0", "0/0")}
    report = _report(pipeline, "hg00096")
    assert {(v["pos"], v["ref"], v["alt"]) for v in report["variants"]} == carried
    assert report["sample"] == "HG00096" and report["summary"]["n_input"] == len(vcf_records(HG00096))
    zyg = {(v["pos"]): v["zygosity"] for v in report["variants"]}
    for r in vcf_records(HG00096):
        if r[9] in ("1|1", "1/1"):
            assert zyg[int(r[1])] == "homozygous"
        elif r[9] in ("0|1", "1|0", "0/1"):
            assert zyg[int(r[1])] == "heterozygous"


def test_clinvar_report_ranks_and_labels(pipeline):
    from hcml.genomics.consequences import SEVERITY_RANK

    report = _report(pipeline, "clinvar")
    records = vcf_records(CLINVAR_VCF)
    assert report["summary"]["n_reported"] == len(records) == len(report["variants"])
    # ranked: consequence severity never increases down the list
    ranks = [SEVERITY_RANK[v["consequence"]] for v in report["variants"]]
    assert ranks == sorted(ranks)
    # every variant the input VCF labels Pathogenic is reported with a pathogenic ClinVar significance
    labelled = {(int(r[1]), r[3], r[4]) for r in records if "CLNSIG=Pathogenic" in r[7]}
    by_allele = {(v["pos"], v["ref"], v["alt"]): v for v in report["variants"]}
    for allele in labelled:
        assert "pathogenic" in (by_allele[allele]["clinvar_significance"] or ""), allele
    # within one severity, pathogenic ClinVar variants come before the ones without that label
    missense = [v for v in report["variants"] if v["consequence"] == "missense_variant"]
    flags = ["pathogenic" in (v["clinvar_significance"] or "").split(",") for v in missense]
    assert flags == sorted(flags, reverse=True)
    assert all(0.0 <= v["pathogenicity_score"] <= 1.0 for v in report["variants"])
    assert {v["gene"] for v in report["variants"]} == {"APP"}
    assert all(v["hgvsc"].startswith("ENST") and v["hgvsp"] for v in missense)


def test_html_report_is_self_contained_and_readable(pipeline):
    page = (pipeline["store"] / "reports" / "clinvar" / "report.html").read_text()
    report = _report(pipeline, "clinvar")
    assert page.startswith("<!DOCTYPE html>") and "<link" not in page and "src=" not in page
    assert page.count("<tr class=") == len(report["variants"])
    for v in report["variants"][:5]:
        assert v["hgvsc"] in page
    assert report["integrity"]["content_sha256"] in page


def test_provenance_chain_holds_then_breaks_when_the_input_changes(pipeline, tmp_path):
    runner = CliRunner()
    report_path = pipeline["store"] / "reports" / "hg00096" / "report.json"
    ok = runner.invoke(provenance_cli, ["verify", str(report_path)])
    assert ok.exit_code == 0, ok.output
    assert "chain holds" in ok.output and "[ok  ] input" in ok.output
    html = runner.invoke(provenance_cli, ["verify", str(report_path.with_suffix(".html"))])
    assert html.exit_code == 0, html.output

    # a tampered report: a score changed after the fact
    report = json.loads(report_path.read_text())
    report["variants"][0]["pathogenicity_score"] = 0.0
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(report))
    bad = runner.invoke(provenance_cli, ["verify", str(tampered)])
    assert bad.exit_code == 1 and "[FAIL] report:content" in bad.output

    # the input edited after the report was made (one genotype changed)
    source = pipeline["inputs"]["hg00096"]
    original = source.read_text()
    try:
        source.write_text(original.replace("0|0", "0|1", 1))
        broken = runner.invoke(provenance_cli, ["verify", "--json", str(report_path)])
        assert broken.exit_code == 1
        checks = {c["name"]: c["status"] for c in json.loads(broken.output)["checks"]}
        assert checks["input"] == "failed" and checks["report:content"] == "ok"
    finally:
        source.write_text(original)


def test_every_reported_variant_is_classified_with_its_evidence(pipeline, tmp_path):
    """The report carries each variant's ACMG/AMP class, points and evidence lines, the HTML its legend, the
    provenance the classification's version and config sha256 (checked by `hcml provenance verify`); the
    blocking check's rule fails a report with one variant left unclassified."""
    from hcml import clinical_report as cr

    report = _report(pipeline, "clinvar")
    for v in report["variants"]:
        assert v["acmg_class"] in cr.ACMG_CLASSES and isinstance(v["acmg_points"], int)
        assert [x.split(":")[0] for x in v["acmg_evidence"]] == [c for c in v["acmg_criteria"].split(", ") if c]
    counts = report["summary"]["by_acmg_class"]
    assert sum(counts.values()) == len(report["variants"])
    classification = report["provenance"]["classification"]
    assert len(classification["config_sha256"]) == 64 and "PS3" in classification["not_evaluated"]
    page = (pipeline["store"] / "reports" / "clinvar" / "report.html").read_text()
    assert "ACMG/AMP classification: legend" in page and "Tavtigian" in page
    verified = CliRunner().invoke(provenance_cli, ["verify", "--json",
                                                   str(pipeline["store"] / "reports" / "clinvar" / "report.json")])
    checks = {c["name"]: c["status"] for c in json.loads(verified.output)["checks"]}
    assert checks["classification:config"] == "ok"

    assert cr.unclassified_variants(report) == []
    report["variants"][3]["acmg_class"] = None
    assert cr.unclassified_variants(report) == [f"rank 4: {report['variants'][3]['variant_id']}:{report['variants'][3]['pos']}"]
    del report["variants"][5]["acmg_class"]
    assert any(e.startswith("variants/5") and "acmg_class" in e for e in cr.schema_errors(report))


def test_a_changed_acmg_config_is_a_new_data_version(tmp_path, monkeypatch):
    """The report depends on the observable `acmg_config`, whose data version is the configuration's sha256:
    a changed HCML_ACMG_CONFIG makes the reports classified with the old one stale."""
    from dagster._core.definitions.observe import observe  # not re-exported by `dagster` in 1.13

    from assets.reports import acmg_config

    def observed() -> str:
        with dg.instance_for_test() as instance:
            result = observe([acmg_config], instance=instance)
            return result.asset_observations_for_node("acmg_config")[0].tags["dagster/data_version"]

    monkeypatch.delenv("HCML_ACMG_CONFIG", raising=False)
    default = observed()
    f = tmp_path / "acmg.yaml"
    f.write_text("genes:\n  APP:\n    bs1_af: 0.001\n")
    monkeypatch.setenv("HCML_ACMG_CONFIG", str(f))
    changed = observed()
    assert default != changed and len(changed) == 64


def test_cohort_allele_stats(pipeline):
    stats = pl.read_parquet(pipeline["store"] / "assets" / "cohort_allele_stats.parquet")
    # independent count: HG00096's carried alleles (1|1 -> 2, 0|1 -> 1) and one allele per ClinVar record
    expected = {}
    for r in vcf_records(HG00096):
        dose = sum(a == "1" for a in r[9].replace("/", "|").split("|"))
        if dose:
            expected[(int(r[1]), r[3], r[4])] = expected.get((int(r[1]), r[3], r[4]), 0) + dose
    for r in vcf_records(CLINVAR_VCF):
        expected[(int(r[1]), r[3], r[4])] = expected.get((int(r[1]), r[3], r[4]), 0) + 1
    got = {(p, r, a): ac for p, r, a, ac in stats.select("pos", "ref", "alt", "allele_count").iter_rows()}
    assert got == expected
    assert set(stats["allele_number"]) == {4}  # two diploid samples
    meta = _meta(pipeline["results"]["cohort"], "cohort_allele_stats")
    assert meta["samples"] == 2
    burden = pl.read_parquet(pipeline["store"] / "cohort" / "gene_burden.parquet")
    app = burden.filter(pl.col("gene_symbol") == "APP").row(0, named=True)
    assert app["damaging_carriers"] >= 1 and app["variants"] >= len(vcf_records(CLINVAR_VCF))


def test_each_report_has_a_chained_pipeline_audit_record(pipeline):
    """One `report_issued` record per report in the hash-chained pipeline trail, carrying the report's own
    content hash and the partition only as its pseudonym; the trail verifies."""
    from hcml.compliance.verify import verify_audit
    from hcml.events.pseudonym import pseudonymise

    trail = pipeline["root"] / "var" / "audit" / "pipeline.jsonl"
    records = [json.loads(line) for line in trail.read_text().splitlines()]
    issued = {r["partition_pseudonym"]: r for r in records if r["event"] == "report_issued"}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HCML_DATA_DIR", str(pipeline["root"] / "var"))
        for key in ("hg00096", "clinvar"):
            assert issued[pseudonymise(key)]["content_sha256"] == _report(pipeline, key)["integrity"]["content_sha256"]
        assert verify_audit([trail]).ok
    assert "hg00096" not in trail.read_text() and "HG00096" not in trail.read_text()
