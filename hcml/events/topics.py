"""Every Kafka topic and consumer-group name of the platform, and the topics' settings.

Nothing else spells these names: producers, consumers, the Dagster sensors, the Strimzi `KafkaTopic`
manifests (deploy/kafka/) and the KEDA `ScaledObject`s are checked against this module by the tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Topics
RAW = "genetic-data-raw"  # submissions (CloudEvents `org.hcml.submission.v1`)
ANNOTATED = "genetic-data-annotated"  # results of the realtime path and of Dagster runs (`org.hcml.result.v1`)
DLQ = "genetic-data-dlq"  # malformed/invalid messages: original bytes + headers + the reason
LABELS = "clinvar-labels-curated"  # newly curated pathogenicity labels (ML retraining)
REPORTS_CHANGED = "clinical-reports-changed"  # a re-analysis changed a report (`org.hcml.report.changed.v1`)

# Consumer groups: one per consumer of the platform. The Dagster sensors keep their position in the
# sensor cursor (the source of truth) and also commit it to their group, so lag is visible to
# Prometheus / KEDA under these names.
GROUP_SUBMISSIONS_SENSOR = "hcml-dagster-submissions"  # sensors/kafka_submissions.py on RAW
GROUP_REALTIME_LINEAGE_SENSOR = "hcml-dagster-realtime-lineage"  # sensors/kafka_realtime_lineage.py on ANNOTATED
GROUP_LABELS_SENSOR = "hcml-dagster-labels"  # sensors/labels.py on LABELS (ML)
GROUP_RESULTS_WORKER = "hcml-results-worker"  # realtime results worker on RAW (KEDA-scaled)
GROUP_WEBSOCKET_FANOUT = "hcml-realtime-websocket"  # realtime WebSocket fan-out on ANNOTATED
GROUP_CLI_TAIL = "hcml-cli-tail"  # `hcml kafka tail` (never commits)

# consumer group -> the (main) topic it reads
CONSUMER_GROUPS: dict[str, str] = {
    GROUP_SUBMISSIONS_SENSOR: RAW,
    GROUP_REALTIME_LINEAGE_SENSOR: ANNOTATED,
    GROUP_LABELS_SENSOR: LABELS,
    GROUP_RESULTS_WORKER: RAW,
    GROUP_WEBSOCKET_FANOUT: ANNOTATED,
    GROUP_CLI_TAIL: ANNOTATED,
}

# consumer group -> every topic it reads (the results worker follows submissions and their results)
GROUP_TOPICS: dict[str, tuple[str, ...]] = {
    **{group: (topic,) for group, topic in CONSUMER_GROUPS.items()},
    GROUP_RESULTS_WORKER: (RAW, ANNOTATED),
}

MAX_MESSAGE_BYTES = 1_048_576  # nothing over 1 MiB on Kafka: larger payloads go to the object store


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    replication_factor: int  # production value; a smaller cluster gets min(this, number of brokers)
    config: dict[str, str] = field(default_factory=dict)


_COMMON = {"max.message.bytes": str(MAX_MESSAGE_BYTES), "cleanup.policy": "delete"}
_DAY_MS = 24 * 3600 * 1000

TOPICS: dict[str, TopicSpec] = {
    RAW: TopicSpec(RAW, 6, 3, {**_COMMON, "retention.ms": str(7 * _DAY_MS)}),
    ANNOTATED: TopicSpec(ANNOTATED, 6, 3, {**_COMMON, "retention.ms": str(30 * _DAY_MS)}),
    DLQ: TopicSpec(DLQ, 1, 3, {**_COMMON, "retention.ms": str(90 * _DAY_MS)}),
    LABELS: TopicSpec(LABELS, 1, 3, {**_COMMON, "retention.ms": "-1"}),
    REPORTS_CHANGED: TopicSpec(REPORTS_CHANGED, 3, 3, {**_COMMON, "retention.ms": str(90 * _DAY_MS)}),
}
