"""VCFs dropped in a landing directory become sample partitions and runs of `sample_report_job`.

One partition per sample column of a multi-sample VCF (one per file when it has none). The cursor keeps
the SHA-256 of every file already handled, so a file is processed once however often the sensor ticks,
and a file replaced with new content under the same name runs again. Run config carries the file's URI
only (a pointer, never the payload).

HCML_LANDING_DIR (default `$HCML_DATA_DIR/landing`); HCML_LANDING_SETTLE_SECONDS (default 2): files
modified more recently than this are left for the next tick (they may still be being written).
"""

import hashlib
import json
import os
import time
from pathlib import Path

import dagster as dg

from hcml.config import data_dir
from hcml_dagster import tags
from hcml_dagster.jobs import sample_report_job, sample_run_config
from hcml_dagster.partitions import samples_partitions
from hcml_dagster.submissions import plan_partitions

SUFFIXES = (".vcf", ".vcf.gz", ".vcf.bgz")


def landing_dir() -> Path:
    return Path(os.environ.get("HCML_LANDING_DIR") or data_dir() / "landing").resolve()


def _settle_seconds() -> float:
    try:
        return float(os.environ.get("HCML_LANDING_SETTLE_SECONDS", "2"))
    except ValueError:
        return 2.0


def landed_files(directory: Path, settle_seconds: float) -> list[Path]:
    if not directory.is_dir():
        return []
    now = time.time()
    return sorted(
        p for p in directory.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.name.lower().endswith(SUFFIXES)
        and now - p.stat().st_mtime >= settle_seconds
    )


@dg.sensor(
    job=sample_report_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="VCFs dropped in HCML_LANDING_DIR -> one `samples` partition per sample -> sample_report_job runs.",
)
def landing_vcf_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
    directory = landing_dir()
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    run_requests: list[dg.RunRequest] = []
    new_keys: list[str] = []
    existing = set(context.instance.get_dynamic_partitions(samples_partitions.name))
    for path in landed_files(directory, _settle_seconds()):
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if seen.get(path.name) == digest:
            continue
        uri = path.as_uri()
        for key, sample in plan_partitions(uri, data):
            if key not in existing and key not in new_keys:
                new_keys.append(key)
            run_requests.append(dg.RunRequest(
                run_key=f"landing:{digest}:{sample or '-'}",
                partition_key=key,
                run_config=sample_run_config(uri, sample),
                tags={tags.SOURCE_URI: uri, tags.ANALYSIS: "landing"},
            ))
        seen[path.name] = digest
    if not run_requests:
        return dg.SkipReason(f"no new VCF in {directory}")
    context.log.info(f"{len(run_requests)} run(s) for {len(new_keys)} new partition(s) from {directory}")
    return dg.SensorResult(
        run_requests=run_requests,
        dynamic_partitions_requests=[samples_partitions.build_add_request(new_keys)] if new_keys else [],
        cursor=json.dumps(seen, sort_keys=True),
    )
