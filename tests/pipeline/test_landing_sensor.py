"""The landing sensor: a multi-sample VCF becomes one partition and one run per sample, exactly once."""

import dagster as dg

from resources.partitions import samples_partitions
from sensors.landing import landing_vcf_sensor
from tests.pipeline.conftest import CLINVAR_VCF, HG00096, two_sample_vcf


def test_landing_files_become_partitions_and_runs(tmp_path, monkeypatch):
    landing = tmp_path / "landing"
    landing.mkdir()
    monkeypatch.setenv("HCML_LANDING_DIR", str(landing))
    monkeypatch.setenv("HCML_LANDING_SETTLE_SECONDS", "0")
    (landing / "family1.vcf").write_bytes(two_sample_vcf())
    (landing / "clinvar.vcf").write_bytes(CLINVAR_VCF.read_bytes())
    (landing / "notes.txt").write_text("not a VCF")
    (landing / ".partial.vcf").write_text("being copied")

    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance)
        result = landing_vcf_sensor(context)
        assert isinstance(result, dg.SensorResult)
        runs = {r.partition_key: r for r in result.run_requests}
        assert set(runs) == {"family1.HG00096", "family1.SECOND", "clinvar"}
        assert runs["family1.SECOND"].run_config == {
            "ops": {"sample_variants": {"config": {"source_uri": (landing / "family1.vcf").as_uri(), "sample": "SECOND"}}}
        }
        assert "sample" not in runs["clinvar"].run_config["ops"]["sample_variants"]["config"]
        assert len({r.run_key for r in result.run_requests}) == 3
        (request,) = result.dynamic_partitions_requests
        assert sorted(request.partition_keys) == sorted(runs)
        assert request.partitions_def_name == samples_partitions.name

        # the next tick, with the cursor, has nothing new
        again = landing_vcf_sensor(dg.build_sensor_context(instance=instance, cursor=result.cursor))
        assert isinstance(again, dg.SkipReason)

        # new content under the same name runs again (same partition, new run key)
        (landing / "clinvar.vcf").write_text(CLINVAR_VCF.read_text().replace("CV98242", "CV98242b"))
        third = landing_vcf_sensor(dg.build_sensor_context(instance=instance, cursor=result.cursor))
        assert [r.partition_key for r in third.run_requests] == ["clinvar"]
        assert third.run_requests[0].run_key != runs["clinvar"].run_key
