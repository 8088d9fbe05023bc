"""Curated labels from `clinvar-labels-curated` into the ML labels directory (Kafka -> retraining).

Per tick (every 60 s): read a bounded batch from the cursor's offsets, write the labels as a ClinVar-shaped
TSV into `hcml.ml.data.labels_dir()` (one file per partition and offset range), dead-letter invalid
messages, and return the advanced cursor. The ML sensor `clinvar_labels_sensor` sees the new file and
retrains; its blocking check decides whether the new model becomes the champion.
"""

from __future__ import annotations

import dagster as dg

from hcml.events.consumer import dump_cursor, parse_cursor
from hcml.events.labels import poll_labels
from sensors.kafka_resource import KAFKA_DISABLED, KafkaResource


@dg.sensor(
    name="kafka_curated_labels",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Curated labels on clinvar-labels-curated -> TSV files in HCML_LABELS_DIR (retraining input).",
)
def kafka_curated_labels(context: dg.SensorEvaluationContext, kafka: KafkaResource):
    from hcml.ml.data import labels_dir

    bootstrap = kafka.bootstrap_servers()
    if not bootstrap:
        return dg.SkipReason(KAFKA_DISABLED)
    poll = poll_labels(bootstrap, parse_cursor(context.cursor), labels_dir(), max_seconds=kafka.max_seconds_per_tick)
    for record, reason in poll.dead_lettered:
        context.log.warning(f"{record.coordinates} sent to the dead-letter topic: {reason}")
    cursor = dump_cursor(poll.offsets) if poll.offsets else context.cursor
    if poll.files:
        context.log.info(f"{poll.n_labels} curated label(s) written to {', '.join(p.name for p in poll.files)}")
        return dg.SensorResult(cursor=cursor)
    return dg.SensorResult(skip_reason="no new curated labels", cursor=cursor)
