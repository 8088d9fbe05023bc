"""The Kafka sensors are part of the code location, and idle with a clear message when Kafka is unset."""

from __future__ import annotations

import dagster as dg

from sensors.kafka_realtime_lineage import REALTIME_RESULT_KEY


def test_kafka_sensors_and_resource_are_wired(monkeypatch, tmp_path):
    monkeypatch.delenv("HCML_KAFKA_BOOTSTRAP", raising=False)
    monkeypatch.setenv("HCML_DATA_DIR", str(tmp_path))
    from hcml_dagster.definitions import defs

    dg.Definitions.validate_loadable(defs)
    sensors = {s.name: s for s in defs.sensors}
    assert {"kafka_submissions", "kafka_run_results", "kafka_run_failures", "kafka_realtime_lineage",
            "kafka_curated_labels"} <= set(sensors)
    assert sensors["kafka_submissions"].job_name == "sample_report_job"
    assert "kafka" in defs.resources
    assert defs.resolve_asset_graph().has(REALTIME_RESULT_KEY)
    with dg.instance_for_test() as instance:
        for name in ("kafka_submissions", "kafka_realtime_lineage", "kafka_curated_labels"):
            with dg.build_sensor_context(instance=instance, sensor_name=name, resources=defs.resources) as context:
                result = sensors[name](context)
            assert isinstance(result, dg.SkipReason) and "HCML_KAFKA_BOOTSTRAP" in result.skip_message
