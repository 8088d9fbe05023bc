"""Record the realtime service's results (read from `genetic-data-annotated`) in Dagster's lineage.

The fast path answers clinicians without Dagster; this sensor makes each of those results an
`AssetMaterialization` of the external asset `realtime_clinical_result`, one dynamic partition per
submission (`realtime_submissions`), with the result's summary, report URI, provenance and the Kafka
coordinates as metadata. So every clinical result, fast path or batch, is in the asset lineage.
Results that Dagster runs published themselves (source `/hcml/dagster`) are already there and skipped;
messages that are not valid result events go to the dead-letter topic. Same cursor discipline as the
submissions sensor: assigned at the cursor's offsets, bounded, always closed, cursor returned with the result.
"""

from __future__ import annotations

import json

import dagster as dg

from hcml.events import topics
from hcml.events.consumer import advance, commit_positions, dump_cursor, parse_cursor, read_batch
from hcml.events.messages import SOURCE_REALTIME, InvalidMessage, Record, from_kafka, parse_result
from hcml.events.producer import dead_letter_invalid
from sensors.kafka_resource import KAFKA_DISABLED, KafkaResource

realtime_submissions = dg.DynamicPartitionsDefinition(name="realtime_submissions")

REALTIME_RESULT_KEY = dg.AssetKey("realtime_clinical_result")

realtime_clinical_result = dg.AssetSpec(
    key=REALTIME_RESULT_KEY,
    description="Results the realtime service answered in-process (one partition per submission), "
    "recorded from genetic-data-annotated by the kafka_realtime_lineage sensor.",
    group_name="clinical",
    kinds={"kafka"},
    owners=["team:platform"],
    tags={"hcml/phi": "pseudonymised", "hcml/path": "realtime"},
    partitions_def=realtime_submissions,
    deps=["submissions_topic", "reference_bundle", "champion_model", "bundled_model"],
    code_version="1",
)


def materialization_for(record: Record) -> dg.AssetMaterialization | str | None:
    """The materialization of one realtime result, a dead-letter reason, or None (not ours to record)."""
    try:
        event = from_kafka(record.key, record.value, record.headers)
        if event.get_source() != SOURCE_REALTIME:
            return None
        result = parse_result(event)
    except InvalidMessage as exc:
        return exc.reason
    metadata: dict = {
        "submission_id": result.submission_id,
        "status": result.status,
        "event_id": event.get_id(),
        "kafka": record.coordinates,
        "completed_at": result.completed_at.isoformat(),
        "summary": dg.MetadataValue.json(json.loads(json.dumps(result.summary, default=str))),
        "provenance": dg.MetadataValue.json(json.loads(json.dumps(result.provenance, default=str))),
    }
    if result.report_uri:
        metadata["report_uri"] = result.report_uri
    if result.error:
        metadata["error"] = result.error
    return dg.AssetMaterialization(
        asset_key=REALTIME_RESULT_KEY,
        partition=result.submission_id,
        metadata=metadata,
        description=f"realtime result {result.status}",
    )


@dg.sensor(
    name="kafka_realtime_lineage",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Realtime results on genetic-data-annotated -> materializations of realtime_clinical_result.",
)
def kafka_realtime_lineage(context: dg.SensorEvaluationContext, kafka: KafkaResource):
    bootstrap = kafka.bootstrap_servers()
    if not bootstrap:
        return dg.SkipReason(KAFKA_DISABLED)
    offsets = parse_cursor(context.cursor)
    group = topics.GROUP_REALTIME_LINEAGE_SENSOR
    batch = read_batch(
        bootstrap,
        topics.ANNOTATED,
        group,
        offsets,
        max_records=kafka.max_records_per_tick,
        max_seconds=kafka.max_seconds_per_tick,
    )
    if not batch.records:
        return dg.SensorResult(skip_reason="no new results", cursor=context.cursor)
    kept, dead = dead_letter_invalid(bootstrap, batch.records, materialization_for, group)
    for record, reason in dead:
        context.log.warning(f"{record.coordinates} sent to the dead-letter topic: {reason}")
    events = [event for _, event in kept if event is not None]
    new_offsets = advance(offsets, batch.records)
    commit_positions(bootstrap, topics.ANNOTATED, group, new_offsets)
    keys = sorted({e.partition for e in events})
    context.log.info(f"{len(events)} realtime result(s) recorded, {len(dead)} dead-lettered")
    return dg.SensorResult(
        asset_events=events,
        dynamic_partitions_requests=[realtime_submissions.build_add_request(keys)] if keys else [],
        cursor=dump_cursor(new_offsets),
    )
