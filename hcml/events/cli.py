"""`hcml kafka`: create the topics, queue a submission, read results and dead letters.

Every command takes `--bootstrap` (default HCML_KAFKA_BOOTSTRAP). Start a local broker with
`scripts/kafka.sh up` (it prints the address).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from hcml.events import topics

TOPIC_CHOICES = {"raw": topics.RAW, "annotated": topics.ANNOTATED, "dlq": topics.DLQ, "labels": topics.LABELS}


def _bootstrap(value: str | None) -> str:
    from hcml.events.producer import bootstrap_from_env

    bootstrap = value or bootstrap_from_env()
    if not bootstrap:
        raise click.UsageError(
            "no Kafka bootstrap: pass --bootstrap HOST:PORT or set HCML_KAFKA_BOOTSTRAP "
            "(scripts/kafka.sh up starts a local broker and prints it)"
        )
    return bootstrap


bootstrap_option = click.option(
    "--bootstrap",
    envvar="HCML_KAFKA_BOOTSTRAP",
    default=None,
    help="Kafka bootstrap servers (default: $HCML_KAFKA_BOOTSTRAP).",
)


class _KafkaGroup(click.Group):
    """Inconsistent security settings and a refused login are one line (`Error: ...`, exit 1), no traceback."""

    def invoke(self, ctx: click.Context):
        from hcml.events.kafka_config import KafkaAuthenticationError, KafkaConfigError

        try:
            return super().invoke(ctx)
        except (KafkaConfigError, KafkaAuthenticationError) as exc:
            raise click.ClickException(str(exc)) from exc


@click.group(cls=_KafkaGroup)
def kafka() -> None:
    """Kafka event streaming: topics, submissions, results, dead letters."""


@kafka.command("topics")
@bootstrap_option
@click.option("--create/--no-create", default=True, show_default=True, help="Create missing topics first.")
def topics_cmd(bootstrap: str | None, create: bool) -> None:
    """Create the platform's topics (idempotent) and show their partitions and replication."""
    from hcml.events.admin import describe_topics, ensure_topics

    bootstrap = _bootstrap(bootstrap)
    outcome = ensure_topics(bootstrap) if create else {}
    for name, info in describe_topics(bootstrap).items():
        click.echo(
            f"{name}\tpartitions={info['partitions']}\treplication={info['replication_factor']}"
            f"\t{outcome.get(name, '')}"
        )


@kafka.command("produce")
@bootstrap_option
@click.argument("input_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--patient-id",
    envvar="HCML_PATIENT_ID",
    required=True,
    help="Patient identifier; only its keyed pseudonym is sent (env HCML_PATIENT_ID keeps it out of shell history).",
)
@click.option("--requester", required=True, help="Who asks (user id; a run tag for cost attribution).")
@click.option("--department", required=True)
@click.option("--project", required=True)
@click.option(
    "--kind", "input_kind", type=click.Choice(["vcf", "variants", "sequence"]), default="vcf", show_default=True
)
@click.option("--sample", default=None, help="VCF sample column to report on.")
@click.option("--submission-id", default=None, help="Default: a new UUID.")
def produce(
    bootstrap: str | None,
    input_file: Path,
    patient_id: str,
    requester: str,
    department: str,
    project: str,
    input_kind: str,
    sample: str | None,
    submission_id: str | None,
) -> None:
    """Queue INPUT_FILE as a submission on genetic-data-raw (inline if small, else stored and referenced)."""
    from hcml.events.messages import SOURCE_CLI, make_submission, submission_event
    from hcml.events.producer import EventProducer

    bootstrap = _bootstrap(bootstrap)
    submission = make_submission(
        submission_id=submission_id,
        patient_id=patient_id,
        requester=requester,
        department=department,
        project=project,
        input_kind=input_kind,
        payload=input_file.read_bytes(),
        sample=sample,
    )
    with EventProducer(bootstrap) as producer:
        delivered = producer.send(topics.RAW, submission_event(submission, SOURCE_CLI))
    where = "inline" if submission.payload is not None else submission.payload_uri
    click.echo(
        json.dumps(
            {
                "submission_id": submission.submission_id,
                "topic": delivered.topic,
                "partition": delivered.partition,
                "offset": delivered.offset,
                "payload": where,
            }
        )
    )


@kafka.command("tail")
@bootstrap_option
@click.option("--topic", type=click.Choice(sorted(TOPIC_CHOICES)), default="annotated", show_default=True)
@click.option(
    "--idle", type=float, default=5.0, show_default=True, help="Stop after this many seconds without a message."
)
@click.option("--max", "max_records", type=int, default=None, help="Stop after this many messages.")
def tail_cmd(bootstrap: str | None, topic: str, idle: float, max_records: int | None) -> None:
    """Print a topic's events from the beginning, one JSON object a line (dead letters with their reason)."""
    from hcml.events.consumer import tail
    from hcml.events.messages import InvalidMessage, from_kafka
    from hcml.events.producer import DLQ_ORIGIN, DLQ_REASON

    bootstrap = _bootstrap(bootstrap)
    for record in tail(
        bootstrap, TOPIC_CHOICES[topic], topics.GROUP_CLI_TAIL, idle_seconds=idle, max_records=max_records
    ):
        line: dict = {"kafka": record.coordinates}
        headers = dict(record.headers)
        if DLQ_REASON in headers:
            line["dlq_reason"] = headers[DLQ_REASON].decode("utf-8", "replace")
            line["dlq_origin"] = headers.get(DLQ_ORIGIN, b"").decode("utf-8", "replace")
            line["bytes"] = len(record.value or b"")
        try:
            event = from_kafka(record.key, record.value, record.headers)
            data = event.get_data()
            if isinstance(data, dict):
                data = {k: v for k, v in data.items() if k != "payload"}  # never print patient input
            line.update({"type": event.get_type(), "source": event.get_source(), "id": event.get_id(), "data": data})
        except InvalidMessage as exc:
            line.setdefault("error", exc.reason)
        click.echo(json.dumps(line, default=str))
        sys.stdout.flush()


@kafka.command("produce-labels")
@bootstrap_option
@click.argument("tsv", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--curated-by", required=True, help="Curator (user id) recorded with each label.")
def produce_labels(bootstrap: str | None, tsv: Path, curated_by: str) -> None:
    """Publish the rows of a ClinVar-shaped TSV as curated labels on clinvar-labels-curated."""
    from hcml.events.labels import labels_from_tsv
    from hcml.events.messages import InvalidMessage, label_event
    from hcml.events.producer import EventProducer

    bootstrap = _bootstrap(bootstrap)
    try:
        labels = labels_from_tsv(tsv, curated_by)
    except InvalidMessage as exc:
        raise click.ClickException(exc.reason) from exc
    with EventProducer(bootstrap) as producer:
        delivered = producer.send_many(topics.LABELS, [label_event(label) for label in labels])
    click.echo(json.dumps({"topic": topics.LABELS, "labels": len(delivered)}))
