"""The cohort assets with `dg.materialize`: per-site stats of a small SYNTHETIC cohort (real 1000 Genomes
frequencies) against counts read from the VCF text; the report's figures as metadata; one sample's partition
taken from the cohort VCF equal to the same partition read by `read_vcf`."""

from __future__ import annotations

import dagster as dg
import polars as pl

from tests.cohort.test_cohort_report import SIZES, _synth, _text_counts
from tests.cohort.test_cohort_stats import joint_vcf
from tests.pipeline.conftest import local_resources


def test_site_stats_and_report(tmp_path, bundle, bundle_dir, data_dir):
    from assets.cohort import cohort_report, cohort_site_stats

    vcf, panel = _synth().write_cohort(bundle, 300, tmp_path / "c.vcf.gz", seed=9, sizes=SIZES)
    config = {"cohort_uri": vcf.as_uri(), "panel_uri": str(panel)}
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [cohort_site_stats, cohort_report],
            instance=instance,
            resources=local_resources(tmp_path, bundle_dir),
            run_config={"ops": {"cohort_site_stats": {"config": config}}},
        )
    assert result.success
    stats = pl.read_parquet(tmp_path / "store" / "assets" / "cohort_site_stats.parquet")
    counts = _text_counts(vcf, panel)
    got = {(p, r, a): (ac, an) for p, r, a, ac, an in stats.select("pos", "ref", "alt", "allele_count", "allele_number").rows()}
    assert got == {k: v[:2] for k, v in counts.items()}
    meta = {k: v.value for k, v in result.asset_materializations_for_node("cohort_site_stats")[0].metadata.items()}
    assert meta["samples"] == sum(SIZES.values()) and meta["n_input"] == meta["n_annotated"] == 300
    report = {k: v.value for k, v in result.asset_materializations_for_node("cohort_report")[0].metadata.items()}
    assert "data:image/svg+xml;base64," in report["allele_frequency_spectrum"]
    assert report["populations_vs_known"].count("data:image/svg+xml") == len(SIZES)
    assert (tmp_path / "store" / "cohort" / "report.html").read_text().startswith("<!DOCTYPE html>")


def test_sample_partition_from_the_cohort(tmp_path, bundle_dir, data_dir, monkeypatch):
    """sample_variants of one sample: htslib reading its column only == the project's reader of every column."""
    from assets.samples import sample_variants
    from resources.jobs import sample_run_config
    from resources.partitions import samples_partitions

    vcf = tmp_path / "joint.vcf"
    joint_vcf(vcf)
    frames = {}
    for threshold in ("2", "1000"):
        monkeypatch.setenv("HCML_COHORT_MIN_SAMPLES", threshold)
        with dg.instance_for_test() as instance:
            instance.add_dynamic_partitions(samples_partitions.name, ["hg"])
            result = dg.materialize(
                [sample_variants], instance=instance, resources=local_resources(tmp_path / threshold, bundle_dir),
                partition_key="hg", run_config=sample_run_config(vcf.as_uri(), "CLINVAR"),
            )
        assert result.success and all(c.passed for c in result.get_asset_check_evaluations())
        frames[threshold] = pl.read_parquet(tmp_path / threshold / "store" / "assets" / "sample_variants" / "hg.parquet")
    assert frames["2"].height == 27 and frames["2"].equals(frames["1000"])
