"""Realtime results on genetic-data-annotated become materializations of `realtime_clinical_result`,
one partition per submission; results published by Dagster runs are not recorded twice; a bad message
goes to the dead-letter topic."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import dagster as dg
import pytest

from hcml.events import topics
from hcml.events.consumer import dump_cursor, end_offsets, read_batch
from hcml.events.messages import SOURCE_DAGSTER, SOURCE_REALTIME, Result, result_event
from hcml.events.producer import DLQ_REASON, EventProducer
from sensors.kafka_realtime_lineage import REALTIME_RESULT_KEY, kafka_realtime_lineage
from sensors.kafka_resource import KafkaResource

pytestmark = pytest.mark.kafka


def _result(sid: str, status: str = "succeeded") -> Result:
    return Result(submission_id=sid, status=status, summary={"n_variants": 3, "input_kind": "variants"},
                  provenance={"bundle_sha256": "ab" * 32, "model": "hcml-pathogenicity 3"},
                  completed_at=datetime.now(timezone.utc))


def test_realtime_results_are_recorded_per_submission(kafka_env):
    bootstrap = kafka_env
    start, dlq_start = end_offsets(bootstrap, topics.ANNOTATED), end_offsets(bootstrap, topics.DLQ)
    with EventProducer(bootstrap) as producer:
        producer.send_many(topics.ANNOTATED, [
            result_event(_result("rt-1"), SOURCE_REALTIME, event_id="rt-1:result"),
            result_event(_result("rt-2", "failed"), SOURCE_REALTIME, event_id="rt-2:result"),
            result_event(_result("batch-1"), SOURCE_DAGSTER, event_id="run-x:result"),  # already in lineage
        ])
        producer.send_raw(topics.ANNOTATED, b"rt-3", b"{not json", [("ce_id", b"1"), ("ce_source", b"/hcml/realtime"),
                                                                   ("ce_type", b"org.hcml.result.v1"),
                                                                   ("ce_specversion", b"1.0"),
                                                                   ("content-type", b"application/json")])
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance, cursor=dump_cursor(start),
                                          sensor_name="kafka_realtime_lineage",
                                          resources={"kafka": KafkaResource(bootstrap=bootstrap)})
        result = kafka_realtime_lineage(context)
        events = result.asset_events
        assert sorted(e.partition for e in events) == ["rt-1", "rt-2"]
        assert all(e.asset_key == REALTIME_RESULT_KEY for e in events)
        by_partition = {e.partition: e for e in events}
        assert by_partition["rt-2"].metadata["status"].value == "failed"
        assert by_partition["rt-1"].metadata["provenance"].value["model"] == "hcml-pathogenicity 3"
        (add,) = result.dynamic_partitions_requests
        assert add.partitions_def_name == "realtime_submissions" and sorted(add.partition_keys) == ["rt-1", "rt-2"]
        assert sum(int(v) for v in json.loads(result.cursor).values()) - sum(start.values()) == 4

        # what the daemon does with the result: the lineage now has one materialization per submission
        instance.add_dynamic_partitions("realtime_submissions", list(add.partition_keys))
        for event in events:
            instance.report_runless_asset_event(event)
        recorded = instance.get_latest_materialization_event(REALTIME_RESULT_KEY)
        assert recorded is not None
        assert set(instance.get_materialized_partitions(REALTIME_RESULT_KEY)) == {"rt-1", "rt-2"}

        # the next tick from the returned cursor records nothing again
        again = kafka_realtime_lineage(dg.build_sensor_context(
            instance=instance, cursor=result.cursor, resources={"kafka": KafkaResource(bootstrap=bootstrap)}))
        assert not getattr(again, "asset_events", None)

    (dead,) = read_batch(bootstrap, topics.DLQ, "test-lineage-dlq", dlq_start, max_seconds=15).records
    assert dead.value == b"{not json" and dead.key == b"rt-3"
    assert dict(dead.headers)[DLQ_REASON]
