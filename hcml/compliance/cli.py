"""`hcml audit ...`: check the hash-chained audit trails (docs/compliance.md)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from hcml.config import data_dir


def _default_files() -> list[Path]:
    from hcml.compliance.trail import pipeline_log

    realtime_log = Path(os.environ.get("HCML_AUDIT_LOG") or data_dir() / "realtime" / "audit.jsonl")
    return [p for p in (realtime_log, pipeline_log()) if p.is_file()]


@click.group()
def audit() -> None:
    """Tamper-evident audit trails: verify the hash chains and their anchors."""


@audit.command()
@click.option(
    "--file",
    "files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="a JSON-lines trail (default: the realtime audit log and the pipeline trail under the data dir)",
)
@click.option(
    "--outbox",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="the realtime outbox root (default $HCML_REALTIME_OUTBOX_DIR or $HCML_DATA_DIR/realtime/outbox)",
)
@click.option(
    "--kafka/--no-kafka", default=None, help="read the chained events back from Kafka (default: when configured)"
)
@click.option("--as-json", "as_json", is_flag=True, help="print the report as JSON")
def verify(files: tuple[Path, ...], outbox: Path | None, kafka: bool | None, as_json: bool) -> None:
    """Check every audit stream: an edited, inserted, deleted or reordered record is named by its place
    (record index, seq, ce_id, file line or topic[partition]@offset). Exit status 1 when any check fails."""
    from hcml.compliance.verify import verify_audit

    bootstrap = os.environ.get("HCML_KAFKA_BOOTSTRAP") or None
    if kafka and not bootstrap:
        raise click.UsageError("--kafka needs HCML_KAFKA_BOOTSTRAP")
    outbox = outbox or Path(os.environ.get("HCML_REALTIME_OUTBOX_DIR") or data_dir() / "realtime" / "outbox")
    result = verify_audit(
        list(files) or _default_files(), outbox_root=outbox, kafka_bootstrap=bootstrap if kafka is not False else None
    )
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2))
    else:
        click.echo(f"sources: {'; '.join(result.sources)}")
        for stream in result.streams:
            state = "ok" if stream.ok else f"{len(stream.problems)} problem(s)"
            click.echo(f"{stream.stream}: {stream.records} records, {stream.anchors} anchors: {state}")
            for problem in stream.problems:
                click.echo(f"  {problem.kind}: {problem.message}")
        for line in result.damaged:
            click.echo(f"damaged: {line}")
        click.echo("audit chain verifies" if result.ok else "AUDIT CHAIN BROKEN")
    raise SystemExit(0 if result.ok else 1)


@audit.command()
def anchor() -> None:
    """Anchor the pipeline trail now (its head hash and count into the object store)."""
    from hcml.compliance.trail import anchor_pipeline

    anchor_pipeline()
    click.echo("anchored")
