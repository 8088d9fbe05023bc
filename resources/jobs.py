"""Jobs of the hcml code location and the run config that drives them.

`sample_report_job` materializes the per-sample chain (variants -> annotations -> features ->
predictions -> report) for one partition of `samples`. Sensors (landing directory, Kafka) and the CLI
launch it with `sample_run_config(...)`: pointers only (a file or blob URI, ids), never payloads.
"""

from __future__ import annotations

import re

import dagster as dg

SAMPLE_ASSET_KEYS = (
    "sample_variants",
    "variant_annotations",
    "variant_features",
    "variant_predictions",
    "clinical_report",
)


class SampleSourceConfig(dg.Config):
    """Where one sample's variants come from (config of the `sample_variants` asset).

    source_uri: a local path, `file://` URI or `azure://<container>/<key>` URI of a VCF (plain or bgzipped).
    sample: which sample column of a multi-sample VCF to report on; None = every variant of the file
        (a VCF with no or one sample column).
    submission_id: the submission this run serves (Kafka / realtime), carried into the report.
    patient_pseudonym: the submission's HMAC pseudonym of the patient (never the identifier); without it the
        sample name's pseudonym names the patient in lineage queries.
    """

    source_uri: str
    sample: str | None = None
    submission_id: str | None = None
    patient_pseudonym: str | None = None


sample_report_job = dg.define_asset_job(
    name="sample_report_job",
    selection=dg.AssetSelection.assets(*SAMPLE_ASSET_KEYS),
    description="Materialize one sample's variants, annotations, features, predictions and clinical report.",
)


def sample_run_config(
    source_uri: str,
    sample: str | None = None,
    submission_id: str | None = None,
    patient_pseudonym: str | None = None,
) -> dict:
    """Run config of `sample_report_job` for one input (pointers only, never payloads)."""
    config: dict = {"source_uri": str(source_uri)}
    if sample is not None:
        config["sample"] = sample
    if submission_id is not None:
        config["submission_id"] = submission_id
    if patient_pseudonym is not None:
        config["patient_pseudonym"] = patient_pseudonym
    return {"ops": {"sample_variants": {"config": config}}}


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def sample_partition_key(source_uri: str, sample: str | None = None, submission_id: str | None = None) -> str:
    """A stable partition key for one input: the submission id, else `<file stem>.<sample>` (or the stem)."""
    if submission_id:
        base = submission_id
    else:
        name = str(source_uri).rstrip("/").rsplit("/", 1)[-1]
        for suffix in (".gz", ".bgz", ".vcf"):
            if name.endswith(suffix):
                name = name[: -len(suffix)]
        base = name
    key = f"{base}.{sample}" if sample else base
    return _UNSAFE.sub("_", key).strip("_") or "sample"
