"""The orchestrator's side of erasure and retention: Dagster partitions, runs and event log; the scheduled
retention job. The rules live in `hcml.compliance` (erasure, retention); this module is thin."""

import shutil
from pathlib import Path

import dagster as dg

from hcml.compliance.retention import enforce_retention
from resources import tags
from resources.partitions import samples_partitions


def erase_from_instance(
    instance: dg.DagsterInstance, partitions: set[str], submissions: set[str]
) -> tuple[dict, set, set]:
    """Delete the runs of these partitions/submissions (run record, config, tags, event log with the
    materializations, compute logs) and the dynamic partitions; (counts, the input URIs the runs read, the
    run ids: their step outputs in the store go with the patient's objects)."""
    run_ids: set[str] = set()
    for key in partitions:
        run_ids |= {
            r.dagster_run.run_id for r in instance.get_run_records(dg.RunsFilter(tags={"dagster/partition": key}))
        }
    for sid in submissions:
        run_ids |= {
            r.dagster_run.run_id for r in instance.get_run_records(dg.RunsFilter(tags={tags.SUBMISSION_ID: sid}))
        }
    source_uris: set[str] = set()
    for run_id in run_ids:
        run = instance.get_run_by_id(run_id)
        if run is not None and run.tags.get(tags.SOURCE_URI):
            source_uris.add(run.tags[tags.SOURCE_URI])
        source = ((run.run_config or {}).get("ops", {}).get("sample_variants", {}) or {}) if run else {}
        if isinstance(source, dict) and source.get("config", {}).get("source_uri"):
            source_uris.add(source["config"]["source_uri"])
        instance.delete_run(run_id)
        logs = Path(instance.storage_directory()) / run_id
        if logs.is_dir():
            shutil.rmtree(logs, ignore_errors=True)  # the local compute logs (stdout/stderr of its steps)
    existing = set(instance.get_dynamic_partitions(samples_partitions.name))
    erased_partitions = sorted((partitions | submissions) & existing)
    for key in erased_partitions:
        instance.delete_dynamic_partition(samples_partitions.name, key)
    _refresh_asset_rows(instance, run_ids)
    _compact_sqlite(instance)
    return {"runs": len(run_ids), "dynamic_partitions": len(erased_partitions)}, source_uris, run_ids


def _refresh_asset_rows(instance: dg.DagsterInstance, deleted_runs: set[str]) -> None:
    """Deleting a run leaves a copy of its last materialization (metadata included: the sample name) cached
    in the asset's row of the index; point the row at the latest remaining materialization instead.
    Dagster's open-source storage has no partition wipe (`wipe_asset_partitions` raises), hence its schema."""
    import sqlalchemy as db
    from dagster._core.storage.event_log.schema import AssetKeyTable
    from dagster._core.storage.event_log.sql_event_log import SqlEventLogStorage
    from dagster._serdes import serialize_value

    storage = instance.event_log_storage
    if not isinstance(storage, SqlEventLogStorage) or not deleted_runs:
        return
    with storage.index_connection() as conn:
        rows = conn.execute(db.select(AssetKeyTable.c.asset_key, AssetKeyTable.c.last_run_id)).fetchall()
    for asset_key, last_run_id in rows:
        if last_run_id not in deleted_runs:
            continue
        latest = instance.fetch_materializations(dg.AssetKey.from_db_string(asset_key), limit=1).records
        values = {
            "last_materialization": serialize_value(latest[0]) if latest else None,
            "last_run_id": latest[0].run_id if latest else None,
            "cached_status_data": None,  # recomputed from the event log on next read
        }
        with storage.index_connection() as conn:
            conn.execute(AssetKeyTable.update().where(AssetKeyTable.c.asset_key == asset_key).values(**values))


def _compact_sqlite(instance: dg.DagsterInstance) -> None:
    """A deleted SQLite row stays readable in the file's free pages until VACUUM rewrites it: an embedded
    (SQLite) instance's databases are compacted. (On Postgres, VACUUM is the database's own maintenance.)"""
    import sqlite3

    for path in Path(instance.root_directory).rglob("*.db"):
        with sqlite3.connect(path) as db:
            db.execute("VACUUM")


def record_tombstone(instance: dg.DagsterInstance, pseudonym: str, seq: int | None, counts: dict) -> None:
    """The erasure in lineage: a runless observation on `clinical_report` (pseudonym, counts, the trail's seq)."""
    instance.report_runless_asset_event(
        dg.AssetObservation(
            asset_key="clinical_report",
            metadata={
                "erasure": "patient_erased",
                "patient_pseudonym": pseudonym,
                "audit_trail_seq": seq if seq is not None else -1,
                **{f"erased/{k}": v for k, v in counts.items() if isinstance(v, int)},
            },
        )
    )


@dg.op(tags={"hcml/domain": "compliance"})
def enforce_retention_op(context: dg.OpExecutionContext) -> dict:
    """Delete inputs, reports and event keys past their retention (hcml.compliance.retention)."""
    report = enforce_retention().as_dict()
    context.log.info(f"retention enforced: {report}")
    return report


@dg.job(description="Enforce retention per data class (inputs, reports, events): HCML_RETENTION_*_DAYS.")
def retention_job() -> None:
    enforce_retention_op()


retention_schedule = dg.ScheduleDefinition(
    name="retention_daily",
    job=retention_job,
    cron_schedule="30 2 * * *",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
