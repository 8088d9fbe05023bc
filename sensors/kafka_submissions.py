"""Kafka sensor on `genetic-data-raw`: each queued VCF submission becomes a `sample_report_job` run.

Per tick: a consumer is created, assigned at the offsets of the sensor cursor (JSON partition -> next
offset), reads a bounded batch and is closed (`hcml.events.submissions.poll_submissions`). Each valid
submission gets a dynamic partition of `samples` and a RunRequest with `run_key` `topic:partition:offset`
(a replayed tick asks for the same keys and Dagster runs nothing twice), run config from
`sample_run_config` (a pointer to the stored input) and tags saying whom the run is for. Invalid
messages went to `genetic-data-dlq`. The cursor is returned with the result, so it only advances with it.
"""

from __future__ import annotations

import dagster as dg

from hcml.events.consumer import dump_cursor, parse_cursor
from hcml.events.submissions import Accepted, poll_submissions
from hcml.observability import run_tags_from_attributes
from resources import StorageResource, tags
from resources.jobs import sample_partition_key, sample_report_job, sample_run_config
from resources.partitions import samples_partitions
from sensors.kafka_resource import KAFKA_DISABLED, KafkaResource

KAFKA_OFFSET_TAG = "hcml/kafka_offset"


def run_request_for(item: Accepted) -> dg.RunRequest:
    sub = item.submission
    partition_key = sample_partition_key(item.source_uri, sub.sample, sub.submission_id)
    run_tags = {
        tags.DEPARTMENT: sub.department,
        tags.PROJECT: sub.project,
        tags.USER: sub.requester,
        tags.ANALYSIS: sub.analysis,
        tags.SUBMISSION_ID: sub.submission_id,
        tags.SOURCE_URI: item.source_uri,
        KAFKA_OFFSET_TAG: item.run_key,
        **run_tags_from_attributes(item.event.get_attributes()),
    }
    return dg.RunRequest(
        run_key=item.run_key,
        partition_key=partition_key,
        run_config=sample_run_config(
            item.source_uri,
            sample=sub.sample,
            submission_id=sub.submission_id,
            patient_pseudonym=sub.patient_pseudonym,
        ),
        tags=run_tags,
    )


@dg.sensor(
    name="kafka_submissions",
    job=sample_report_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Queued VCF submissions on genetic-data-raw -> one sample_report_job run per submission.",
)
def kafka_submissions(context: dg.SensorEvaluationContext, kafka: KafkaResource, storage: StorageResource):
    bootstrap = kafka.bootstrap_servers()
    if not bootstrap:
        return dg.SkipReason(KAFKA_DISABLED)
    offsets = parse_cursor(context.cursor)
    poll = poll_submissions(
        bootstrap,
        offsets,
        max_records=kafka.max_records_per_tick,
        max_seconds=kafka.max_seconds_per_tick,
        store=storage.open(),
    )
    for record, reason in poll.dead_lettered:
        context.log.warning(f"{record.coordinates} sent to the dead-letter topic: {reason}")
    requests = [run_request_for(item) for item in poll.accepted]
    new_partitions = sorted({r.partition_key for r in requests})
    cursor = dump_cursor(poll.offsets) if poll.offsets else context.cursor
    if not requests:
        handled = len(poll.dead_lettered) + len(poll.skipped)
        return dg.SensorResult(skip_reason=f"no new submissions ({handled} other message(s) handled)", cursor=cursor)
    context.log.info(f"{len(requests)} submission(s) -> runs; {len(poll.dead_lettered)} dead-lettered")
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[samples_partitions.build_add_request(new_partitions)],
        cursor=cursor,
    )
