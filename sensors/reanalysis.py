"""Re-analysis when evidence changes, and telling the clinician when it changed a report.

`reanalysis_sensor`: the reports whose ClinVar release (vs the reference bundle the pipeline loads now) or
model (vs the latest `champion_model` materialization) is not the current one are stale; with HCML_REANALYSIS=on
and the estimated cost (what their last runs cost, `hcml.cost`) within HCML_REANALYSIS_MAX_COST, each stale
partition gets one `sample_report_job` run per evidence version (run key), with the same input pointers as before.
`estimate` (default) logs the stale reports and the estimate and launches nothing; `off` does nothing.

`report_changes_sensor`: each new `clinical_report` materialization whose report has changes since the previous
report becomes one `org.hcml.report.changed.v1` CloudEvent on `clinical-reports-changed`; the cursor is the event
log's storage id, advanced only after Kafka acknowledged.
"""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg

from resources import ReferenceBundleResource, StorageResource
from resources import tags as hcml_tags
from resources.jobs import sample_report_job, sample_run_config
from resources.lineage import REPORT_ASSET, report_refs
from resources.metadata import latest_materialization, metadata_values
from sensors.kafka_resource import KAFKA_DISABLED, KafkaResource

REANALYSIS_TAG = "hcml/reanalysis"


def _champion_version(instance: dg.DagsterInstance) -> str | None:
    latest = latest_materialization(instance, "champion_model")
    return str(latest[0]["model_version"]) if latest and latest[0].get("model_version") else None


def _bundle_clinvar(reference: ReferenceBundleResource) -> dict:
    import json

    manifest = reference.bundle_path() / "manifest.json"
    if not manifest.is_file():
        return {}
    return json.loads(manifest.read_text()).get("sources", {}).get("clinvar") or {}


def reanalysis_plan(instance: dg.DagsterInstance, reference: ReferenceBundleResource, storage: StorageResource):
    """(stale reports, cost estimate, the evidence now) read from the instance and the current bundle."""
    from assets.costs import read_usage
    from hcml.cost.chargeback import price_usage
    from hcml.cost.rate_card import load_rate_card
    from hcml.lineage.reanalysis import estimate_cost, stale_reports

    clinvar = _bundle_clinvar(reference)
    champion = _champion_version(instance)
    stale = stale_reports(report_refs(instance, storage.open().get), clinvar.get("sha256"), champion)
    rate_card = load_rate_card()
    usage = read_usage(instance, datetime(1970, 1, 2, tzinfo=UTC), datetime.now(UTC))
    runs = {s.ref.run_id for s in stale}
    priced = price_usage(usage.filter(usage["run_id"].is_in(list(runs))), rate_card)
    return stale, estimate_cost(priced, stale, rate_card.currency), {"clinvar": clinvar, "champion": champion}


def _run_request(instance: dg.DagsterInstance, stale, evidence: dict) -> dg.RunRequest | None:
    source = latest_materialization(instance, "sample_variants", stale.ref.partition)
    if source is None:
        return None
    meta = source[0]
    key = f"{(evidence['clinvar'].get('sha256') or '')[:16]}:{evidence['champion'] or '-'}"
    return dg.RunRequest(
        run_key=f"reanalysis:{stale.ref.partition}:{key}",
        partition_key=stale.ref.partition,
        run_config=sample_run_config(
            meta["source_uri"],
            sample=meta.get("sample") or None,
            submission_id=meta.get("submission_id") or None,
            patient_pseudonym=meta.get("patient_pseudonym") or None,
        ),
        tags={REANALYSIS_TAG: "; ".join(stale.reasons)[:200], hcml_tags.ANALYSIS: "reanalysis"},
    )


@dg.sensor(
    name="reanalysis_sensor",
    job=sample_report_job,
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Stale clinical reports (new ClinVar release in the bundle, new champion model) re-analysed "
    "within HCML_REANALYSIS_MAX_COST when HCML_REANALYSIS=on; the estimate only by default.",
)
def reanalysis_sensor(
    context: dg.SensorEvaluationContext, reference: ReferenceBundleResource, storage: StorageResource
):
    from hcml.lineage.reanalysis import ReanalysisConfigError, settings

    try:
        cfg = settings()
    except ReanalysisConfigError as exc:
        return dg.SkipReason(str(exc))
    if cfg.mode == "off":
        return dg.SkipReason("re-analysis is off (HCML_REANALYSIS=off)")
    stale, cost, evidence = reanalysis_plan(context.instance, reference, storage)
    if not stale:
        return dg.SkipReason("every current report uses the current ClinVar release and model")
    summary = (
        f"{len(stale)} stale report(s); estimated cost {cost.total:.6f} {cost.currency}"
        f"{f' ({len(cost.unmeasured)} priced at the mean)' if cost.unmeasured else ''}"
    )
    context.log.info(summary)
    if cfg.mode == "estimate":
        return dg.SkipReason(f"{summary}; HCML_REANALYSIS=estimate: nothing launched")
    if cost.total > cfg.max_cost:
        return dg.SkipReason(f"{summary} exceeds HCML_REANALYSIS_MAX_COST={cfg.max_cost}: nothing launched")
    requests = [r for r in (_run_request(context.instance, s, evidence) for s in stale) if r is not None]
    return dg.SensorResult(run_requests=requests)


def report_changed(record: dg.EventLogRecord):
    """The ReportChanged of one clinical_report materialization, or None when it changed nothing."""
    from hcml.events.messages import ReportChanged

    meta = metadata_values(record.asset_materialization.metadata)
    if not int(meta.get("n_changed_since_previous") or 0):
        return None
    prov = meta.get("provenance") or {}
    return ReportChanged(
        partition=record.partition_key,
        submission_id=meta.get("submission_id") or None,
        patient_pseudonym=meta.get("patient_pseudonym") or None,
        report_uri=meta["report_uri"],
        report_html_uri=meta.get("report_html_uri") or None,
        report_content_sha256=meta["content_sha256"],
        previous_report_sha256=meta.get("previous_report_sha256") or None,
        clinvar_release=meta.get("clinvar_release"),
        model_version=str((prov.get("model") or {}).get("version")),
        n_changed=int(meta["n_changed_since_previous"]),
        changes=list(meta.get("changes_since_previous") or []),
        run_id=record.run_id,
        changed_at=datetime.fromtimestamp(record.timestamp, UTC),
    )


@dg.sensor(
    name="report_changes_sensor",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="One org.hcml.report.changed.v1 event on clinical-reports-changed per report that changed.",
)
def report_changes_sensor(context: dg.SensorEvaluationContext, kafka: KafkaResource):
    from hcml.events import topics
    from hcml.events.messages import report_changed_event
    from hcml.events.producer import EventProducer

    bootstrap = kafka.bootstrap_servers()
    if not bootstrap:
        return dg.SkipReason(KAFKA_DISABLED)
    after = int(context.cursor) if context.cursor else None
    page = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=REPORT_ASSET, after_storage_id=after), limit=200, ascending=True
    )
    if not page.records:
        return dg.SkipReason("no new clinical reports")
    events = []
    for record in page.records:
        changed = report_changed(record)
        if changed is not None:
            events.append(report_changed_event(changed, f"{record.run_id}:{record.partition_key}:changed"))
    if events:
        with EventProducer(bootstrap) as producer:
            producer.send_many(topics.REPORTS_CHANGED, events)  # raises if not acknowledged: cursor kept
    context.update_cursor(str(page.records[-1].storage_id))
    return dg.SkipReason(f"{len(events)} changed report(s) announced of {len(page.records)} new report(s)")
