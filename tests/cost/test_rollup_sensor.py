"""The cost rollup sensor: which partitions it asks for, and that Dagster accepts its run requests."""

from __future__ import annotations

from datetime import datetime, timezone

import dagster as dg


def test_cost_rollup_requests() -> None:
    from assets.costs import cost_rollup_requests

    mid_month = cost_rollup_requests(datetime(2026, 11, 26, 3, tzinfo=timezone.utc))
    assert mid_month == [
        ("analysis_costs", "2026-11-25", "analysis_costs:2026-11-25"),
        ("chargeback_report", "2026-11-01", "chargeback_report:2026-11-01:2026-11-26"),
    ]
    new_year = cost_rollup_requests(datetime(2027, 1, 1, 0, 30, tzinfo=timezone.utc))
    assert ("analysis_costs", "2026-12-31", "analysis_costs:2026-12-31") in new_year
    assert ("chargeback_report", "2026-12-01", "chargeback_report:2026-12-01:final") in new_year


def test_sensors_yield_partitioned_requests_for_the_cost_assets() -> None:
    from assets.costs import COST_SENSORS
    from hcml_dagster.definitions import defs

    dg.Definitions.validate_loadable(defs)  # each sensor's target resolves to a job
    assert {s.name for s in COST_SENSORS} <= {s.name for s in defs.sensors}
    with dg.instance_for_test() as instance:
        requests = [r for sensor in COST_SENSORS for r in sensor(dg.build_sensor_context(instance=instance))]
    today = datetime.now(timezone.utc).date()
    assert {(r.asset_selection[0].to_user_string(), r.partition_key) for r in requests} >= {
        ("chargeback_report", today.replace(day=1).isoformat()),
    }
    assert all(r.tags["hcml/department"] == "platform" for r in requests)
