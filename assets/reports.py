"""The clinical report of one sample: JSON + self-contained HTML with an embedded provenance record."""


import datetime as _dt

import dagster as dg
import polars as pl

from assets._common import OWNERS, PHI_TAGS, latest_metadata, measured
from hcml_dagster.partitions import samples_partitions
from resources import ReferenceBundleResource, StorageResource

SCHEMA_CHECK = "report_schema_valid"


def _run_started_at(context: dg.AssetExecutionContext) -> str | None:
    record = context.instance.get_run_record_by_id(context.run.run_id)
    ts = getattr(record, "start_time", None) if record else None
    if ts is None:
        stats = context.instance.get_run_stats(context.run.run_id)
        ts = stats.start_time
    if ts is None:
        return None
    return _dt.datetime.fromtimestamp(ts, _dt.timezone.utc).isoformat(timespec="seconds")


@dg.asset(
    partitions_def=samples_partitions,
    group_name="clinical",
    kinds={"json", "html"},
    owners=OWNERS,
    tags={**PHI_TAGS, "hcml/audience": "clinician"},
    code_version="1",
    check_specs=[dg.AssetCheckSpec(SCHEMA_CHECK, asset="clinical_report", blocking=True,
                                   description="The JSON report validates against its JSON schema.")],
)
def clinical_report(context: dg.AssetExecutionContext, variant_predictions: pl.DataFrame,
                    reference: ReferenceBundleResource, storage: StorageResource):
    """Variants ranked by severity, ClinVar significance and score, with gene, HGVS and frequencies.

    Written as `reports/<partition>/report.json` (machines) and `report.html` (clinicians) in the store;
    both embed the provenance record (input hash, reference bundle manifest, code and model versions,
    Dagster run) that `hcml provenance verify` checks.
    """
    from hcml import clinical_report as cr
    from hcml import provenance

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
        record = provenance.build_record(
            input_uri=source["source_uri"], input_sha256=source["input_sha256"], input_bytes=source["input_bytes"],
            bundle_manifest=bundle.manifest, bundle_path=bundle.path, model_name=model_name,
            model_version=model_version, run_id=context.run.run_id, run_started_at=_run_started_at(context),
            sample=source.get("sample") or None, submission_id=source.get("submission_id") or None,
            partition=partition,
        )
        report = provenance.seal(cr.build_report(
            partition=partition, sample=source.get("sample") or None,
            submission_id=source.get("submission_id") or None, generated_at=provenance.now_utc(),
            predictions=variant_predictions, n_input=int(source["n_input"]), n_rejected=int(source["n_rejected"]),
            provenance=record,
        ))
        errors = cr.schema_errors(report)
        store = storage.open()
        report_uri = store.put(f"reports/{partition}/report.json", cr.to_json_bytes(report))
        html_uri = store.put(f"reports/{partition}/report.html", cr.render_html(report).encode())
    integrity = report["integrity"]
    metadata.update({
        "report_uri": report_uri,
        "report_html_uri": dg.MetadataValue.url(html_uri),
        "submission_id": report["submission_id"] or "",
        "provenance_sha256": integrity["provenance_sha256"],
        "content_sha256": integrity["content_sha256"],
        "dagster/row_count": len(report["variants"]),
        "n_reported": len(report["variants"]),
        "n_clinvar_pathogenic": report["summary"]["n_clinvar_pathogenic"],
        "model": f"{model_name} {model_version}",
    })
    yield dg.MaterializeResult(metadata=metadata)
    yield dg.AssetCheckResult(check_name=SCHEMA_CHECK, passed=not errors,
                              metadata={"errors": dg.MetadataValue.json(errors[:20]), "n_errors": len(errors)})
