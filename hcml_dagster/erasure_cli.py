"""`hcml patient erase`: remove one patient from every store the platform keeps (docs/compliance.md).

Part of the Dagster layer (it deletes runs and partitions from the instance); the rules are in
`hcml.compliance.erasure`. `hcml.cli` imports it lazily.
"""

from __future__ import annotations

import json
import os

import click


@click.group()
def patient() -> None:
    """Patient-level compliance actions."""


@patient.command()
@click.option(
    "--patient-id",
    envvar="HCML_PATIENT_ID",
    required=True,
    help="the patient identifier (env HCML_PATIENT_ID keeps it out of shell history); only its pseudonym is printed",
)
@click.option(
    "--partition",
    "partitions",
    multiple=True,
    help="a sample partition of this patient not submitted through Kafka (e.g. a landing-folder sample)",
)
@click.option("--as-json", "as_json", is_flag=True)
def erase(patient_id: str, partitions: tuple[str, ...], as_json: bool) -> None:
    """Erase a patient: its submissions (found on the submissions topic by pseudonym) and the given
    partitions, their Dagster runs, event log and partitions, stored inputs, reports, Parquet and Blob
    objects; its data key is shredded (what stays on Kafka or in backups becomes unreadable); a PHI-free
    tombstone goes to the audit trail and to lineage."""
    import dagster as dg

    from hcml.compliance.erasure import erase_patient, patient_submissions
    from hcml.events.pseudonym import pseudonymise
    from hcml_dagster.compliance import erase_from_instance, record_tombstone
    from hcml_dagster.cost_cli import dagster_home

    pseudonym = pseudonymise(patient_id)
    submissions = patient_submissions(pseudonym, os.environ.get("HCML_KAFKA_BOOTSTRAP") or None)
    with dg.DagsterInstance.from_config(str(dagster_home())) as instance:
        counts, source_uris, run_ids = erase_from_instance(instance, set(partitions), submissions)
        report = erase_patient(
            patient_id,
            partitions=set(partitions),
            submissions=submissions,
            source_uris=source_uris,
            runs=run_ids,
            orchestrator=counts,
        )
        record_tombstone(instance, pseudonym, report.tombstone_seq, {**counts, "objects": report.objects_deleted})
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
    else:
        click.echo(
            f"patient {pseudonym[:12]}... erased: {report.submissions} submissions, {report.partitions} partitions, "
            f"{counts['runs']} runs, {report.objects_deleted} stored objects, {report.input_files_deleted} input files; "
            f"data key {'shredded' if report.key_shredded else 'not found'}; tombstone at audit seq {report.tombstone_seq}"
        )
