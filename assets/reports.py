"""The clinical report of one sample: JSON + self-contained HTML with an embedded provenance record."""

import datetime as _dt
import json

import dagster as dg
import polars as pl

from assets._common import OWNERS, PHI_TAGS, latest_metadata, measured
from hcml.compliance.trail import report_issued
from resources import ReferenceBundleResource, StorageResource
from resources.partitions import samples_partitions

SCHEMA_CHECK = "report_schema_valid"
CLASSIFIED_CHECK = "report_variants_classified"


@dg.observable_source_asset(
    group_name="clinical",
    owners=OWNERS,
    kinds={"yaml"},
    description="The ACMG/AMP classification's configuration (HCML_ACMG_CONFIG or the "
    "built-in defaults, docs/acmg.md); its data version is the config's sha256.",
)
def acmg_config() -> dg.DataVersion:
    """Observed, not materialized: a changed configuration gives a new data version, so every clinical report
    classified with the old one shows as stale in Dagster."""
    from hcml.acmg.config import load_config

    return dg.DataVersion(load_config().sha256)


def _run_started_at(context: dg.AssetExecutionContext) -> str | None:
    record = context.instance.get_run_record_by_id(context.run.run_id)
    ts = getattr(record, "start_time", None) if record else None
    if ts is None:
        stats = context.instance.get_run_stats(context.run.run_id)
        ts = stats.start_time
    if ts is None:
        return None
    return _dt.datetime.fromtimestamp(ts, _dt.UTC).isoformat(timespec="seconds")


def _scorer_of(model_version: str | None):
    """The serving model when it is the one that scored these predictions (its evidence_thresholds then give
    PP3/BP4); None otherwise, and PP3/BP4 are reported as not evaluated rather than judged by another model."""
    from assets.annotation import current_scorer

    try:
        scorer = current_scorer()
    except Exception:  # noqa: BLE001 - the report still classifies without PP3/BP4
        return None
    return scorer if str(getattr(scorer, "model_version", "")) == str(model_version) else None


def _previous_report(store, key: str) -> dict | None:
    """The report this partition had before this run (None for its first report or an unreadable one)."""
    import json

    uri = store.uri_for(key)
    if not store.exists(uri):
        return None
    try:
        return json.loads(store.get(uri))
    except ValueError:
        return None


@dg.asset(
    partitions_def=samples_partitions,
    group_name="clinical",
    kinds={"json", "html"},
    owners=OWNERS,
    tags={**PHI_TAGS, "hcml/audience": "clinician"},
    code_version="3",  # 2: ACMG/AMP classification of every variant; 3: changes since the previous report
    deps=[acmg_config],
    check_specs=[
        dg.AssetCheckSpec(
            SCHEMA_CHECK,
            asset="clinical_report",
            blocking=True,
            description="The JSON report validates against its JSON schema.",
        ),
        dg.AssetCheckSpec(
            CLASSIFIED_CHECK,
            asset="clinical_report",
            blocking=True,
            description="Every reported variant has an ACMG/AMP class.",
        ),
    ],
)
def clinical_report(
    context: dg.AssetExecutionContext,
    variant_predictions: pl.DataFrame,
    reference: ReferenceBundleResource,
    storage: StorageResource,
):
    """Variants ranked by severity, ClinVar significance and score, with gene, HGVS and frequencies.

    Written as `reports/<partition>/report.json` (machines) and `report.html` (clinicians) in the store;
    both embed the provenance record (input hash, reference bundle manifest, code and model versions,
    Dagster run) that `hcml provenance verify` checks.
    """
    from hcml import clinical_report as cr
    from hcml import provenance
    from hcml.acmg.classify import classify_summary
    from hcml.acmg.classify import provenance_record as acmg_provenance
    from hcml.genomics.annotate.known import release_significance
    from hcml.lineage.changes import report_changes

    partition = context.partition_key
    source, _ = latest_metadata(context, "sample_variants", partition)
    metadata: dict = {}
    with measured(metadata):
        bundle = reference.load()
        model_name = variant_predictions["model_name"][0] if variant_predictions.height else None
        model_version = variant_predictions["model_version"][0] if variant_predictions.height else None
        if model_name is None:
            pred_meta, _ = latest_metadata(context, "variant_predictions", partition)
            model_name, model_version = pred_meta.get("model_name"), pred_meta.get("model_version")
        scorer = _scorer_of(model_version)
        variant_predictions = classify_summary(variant_predictions, bundle, scorer)
        if variant_predictions.height:
            variant_predictions = variant_predictions.with_columns(release_significance(variant_predictions, bundle))
        record = provenance.build_record(
            input_uri=source["source_uri"],
            input_sha256=source["input_sha256"],
            input_bytes=source["input_bytes"],
            bundle_manifest=bundle.manifest,
            bundle_path=bundle.path,
            model_name=model_name,
            model_version=model_version,
            run_id=context.run.run_id,
            run_started_at=_run_started_at(context),
            sample=source.get("sample") or None,
            submission_id=source.get("submission_id") or None,
            partition=partition,
            classification=acmg_provenance(model=scorer),
        )
        report = cr.build_report(
            partition=partition,
            sample=source.get("sample") or None,
            submission_id=source.get("submission_id") or None,
            generated_at=provenance.now_utc(),
            predictions=variant_predictions,
            n_input=int(source["n_input"]),
            n_rejected=int(source["n_rejected"]),
            provenance=record,
        )
        store = storage.open()
        previous = _previous_report(store, f"reports/{partition}/report.json")
        if previous is not None:
            report["changes_since_previous"] = report_changes(previous, report)
        report = provenance.seal(report)
        errors = cr.schema_errors(report)
        unclassified = cr.unclassified_variants(report)
        report_uri = store.put(f"reports/{partition}/report.json", cr.to_json_bytes(report))
        html_uri = store.put(f"reports/{partition}/report.html", cr.render_html(report).encode())
        report_issued(partition, report, context.run.run_id)
    integrity = report["integrity"]
    changes = report.get("changes_since_previous")
    metadata.update(
        {
            # the record itself: the impact queries read it from the event log after the report is replaced
            "provenance": dg.MetadataValue.json(json.loads(provenance.canonical_json(record))),
            "patient_pseudonym": source.get("patient_pseudonym") or "",
            "clinvar_release": str((record["reference_bundle"]["sources"].get("clinvar") or {}).get("version")),
            "previous_report_sha256": (changes or {}).get("previous_report", {}).get("content_sha256") or "",
            "n_changed_since_previous": int(changes["n_changed"]) if changes else 0,
            "changes_since_previous": dg.MetadataValue.json((changes or {}).get("variants", [])[:200]),
            "report_uri": report_uri,
            "report_html_uri": dg.MetadataValue.url(html_uri),
            "submission_id": report["submission_id"] or "",
            "provenance_sha256": integrity["provenance_sha256"],
            "content_sha256": integrity["content_sha256"],
            "dagster/row_count": len(report["variants"]),
            "n_reported": len(report["variants"]),
            "n_clinvar_pathogenic": report["summary"]["n_clinvar_pathogenic"],
            "model": f"{model_name} {model_version}",
        }
    )
    yield dg.MaterializeResult(metadata=metadata)
    yield dg.AssetCheckResult(
        check_name=SCHEMA_CHECK,
        passed=not errors,
        metadata={"errors": dg.MetadataValue.json(errors[:20]), "n_errors": len(errors)},
    )
    yield dg.AssetCheckResult(
        check_name=CLASSIFIED_CHECK,
        passed=not unclassified,
        metadata={
            "unclassified": dg.MetadataValue.json(unclassified[:20]),
            "n_unclassified": len(unclassified),
            "by_acmg_class": dg.MetadataValue.json(report["summary"]["by_acmg_class"]),
        },
    )
