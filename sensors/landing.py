"""VCFs dropped in a landing directory become sample partitions and runs of `sample_report_job`.

One partition per sample column of a multi-sample VCF (one per file when it has none). The cursor keeps
the SHA-256 of every file already handled, so a file is processed once however often the sensor ticks,
and a file replaced with new content under the same name runs again. Run config carries the file's URI
only (a pointer, never the payload).

HCML_LANDING_DIR (default `$HCML_DATA_DIR/landing`); HCML_LANDING_SETTLE_SECONDS (default 2): files
modified more recently than this are left for the next tick (they may still be being written).

Blob form (`resources/landing.py`): when HCML_LANDING_CONTAINER is set (and HCML_LANDING_PREFIX, default
the container's top level) and Azure storage is configured (`hcml.storage.azure_configured()`), the same
sensor also watches the VCF blobs directly under that prefix, with the same settle time. The cursor keeps,
per blob URI, the content MD5 the service reports (else the etag), so a blob replaced with new content runs
again and the same content never twice; run config carries `azure://<container>/<blob>` (the job reads it
through `hcml.storage.read_uri`); partitions, tags and the header read for `plan_partitions` as for files.
"""

import hashlib
import json
import os

import dagster as dg

from hcml.storage import StoreError, azure_configured, open_store
from resources import tags
from resources.jobs import sample_report_job, sample_run_config
from resources.landing import (
    SUFFIXES,
    BlobChanged,
    blob_version,
    landed_blobs,
    landed_files,
    landing_container,
    landing_dir,
    landing_prefix,
    read_header,
)
from resources.partitions import samples_partitions
from resources.submissions import plan_partitions


def _settle_seconds() -> float:
    try:
        return float(os.environ.get("HCML_LANDING_SETTLE_SECONDS", "2"))
    except ValueError:
        return 2.0


def _run_requests(
    uri: str, header: bytes, version: str, new_keys: list[str], existing: set[str]
) -> list[dg.RunRequest]:
    requests = []
    for key, sample in plan_partitions(uri, header):
        if key not in existing and key not in new_keys:
            new_keys.append(key)
        requests.append(
            dg.RunRequest(
                run_key=f"landing:{version}:{sample or '-'}",
                partition_key=key,
                run_config=sample_run_config(uri, sample),
                tags={tags.SOURCE_URI: uri, tags.ANALYSIS: "landing"},
            )
        )
    return requests


def _blob_requests(
    context, seen: dict[str, str], new_keys: list[str], existing: set[str], settle: float
) -> tuple[list[dg.RunRequest], str]:
    """Run requests for new blob versions (updating `seen`), and where was looked (for the skip reason)."""
    container = landing_container()
    if container is None:
        return [], ""
    prefix = landing_prefix()
    where = f"azure://{container}/{prefix}" if prefix else f"azure://{container}"
    if not azure_configured():
        context.log.warning(
            "HCML_LANDING_CONTAINER is set but no Azure storage is configured "
            "(HCML_AZURE_STORAGE_CONNECTION_STRING or HCML_AZURE_STORAGE_ACCOUNT_URL): not watching it"
        )
        return [], f"{where} not watched (no Azure storage configured)"
    from azure.core.exceptions import AzureError

    store = open_store()
    requests: list[dg.RunRequest] = []
    try:
        for blob in landed_blobs(store, container, prefix, SUFFIXES, settle):
            version = blob_version(blob)
            if seen.get(blob.uri) == version:
                continue
            try:
                header = read_header(store, blob)
            except BlobChanged:
                continue  # rewritten since it was listed: the next tick sees its new version
            requests += _run_requests(blob.uri, header, f"{blob.uri}:{version}", new_keys, existing)
            seen[blob.uri] = version
    except StoreError as exc:  # e.g. no such container
        context.log.warning(str(exc))
        return requests, f"{where} ({exc})"
    except AzureError as exc:  # class and code only: service messages can quote request details
        code = getattr(exc, "error_code", None)
        reason = f"reading {where} failed: {type(exc).__name__}" + (f" ({code})" if code else "")
        context.log.warning(reason)
        return requests, reason
    return requests, where


@dg.sensor(
    job=sample_report_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="VCFs dropped in HCML_LANDING_DIR (and, when set, blobs under HCML_LANDING_CONTAINER/PREFIX) -> one `samples` partition per sample -> sample_report_job runs.",
)
def landing_vcf_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
    directory = landing_dir()
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    run_requests: list[dg.RunRequest] = []
    new_keys: list[str] = []
    existing = set(context.instance.get_dynamic_partitions(samples_partitions.name))
    settle = _settle_seconds()
    for path in landed_files(directory, settle):
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if seen.get(path.name) == digest:
            continue
        run_requests += _run_requests(path.as_uri(), data, digest, new_keys, existing)
        seen[path.name] = digest
    blob_requests, blob_where = _blob_requests(context, seen, new_keys, existing, settle)
    run_requests += blob_requests
    where = f"{directory}" + (f"; {blob_where}" if blob_where else "")
    if not run_requests:
        return dg.SkipReason(f"no new VCF in {where}")
    context.log.info(f"{len(run_requests)} run(s) for {len(new_keys)} new partition(s) from {where}")
    return dg.SensorResult(
        run_requests=run_requests,
        dynamic_partitions_requests=[samples_partitions.build_add_request(new_keys)] if new_keys else [],
        cursor=json.dumps(seen, sort_keys=True),
    )
