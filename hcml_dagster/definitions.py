"""The one `Definitions` of the hcml code location (workspace.yaml points here).

Assets, checks, sensors and resources are collected from their modules; resources for the current
environment are chosen in `resources.build_resources()` (one place). To plug a part in, add its module
to ASSET_MODULES or its sensor to SENSORS (one line each).
"""

import dagster as dg
from dagster_k8s import k8s_job_executor  # per-step pods on Kubernetes

import assets.annotation
import assets.cohort
import assets.costs
import assets.ml
import assets.reference
import assets.reports
import assets.samples
import assets.sources
from hcml_dagster import compliance
from resources import build_resources
from resources.jobs import sample_report_job
from sensors import (  # Kafka
    kafka_labels,
    kafka_realtime_lineage,
    kafka_submissions,
    run_metrics,  # Prometheus metrics of finished runs
    run_results,
)
from sensors.kafka_resource import KafkaResource
from sensors.labels import clinvar_labels_sensor  # ML retraining
from sensors.landing import landing_vcf_sensor
from sensors.reanalysis import reanalysis_sensor, report_changes_sensor

ASSET_MODULES = [
    assets.sources,  # raw inputs as observable source assets (lineage starts here)
    assets.reference,
    assets.samples,
    assets.annotation,
    assets.reports,
    assets.cohort,
    assets.costs,  # cost attribution and chargeback
    assets.ml,  # pathogenicity model: labels -> training set -> model -> evaluation -> champion
]

SENSORS: list = [
    landing_vcf_sensor,  # VCFs dropped in HCML_LANDING_DIR -> sample partitions
    kafka_submissions.kafka_submissions,  # genetic-data-raw -> sample_report_job runs
    run_results.kafka_run_results,  # finished runs -> genetic-data-annotated
    run_results.kafka_run_failures,
    kafka_realtime_lineage.kafka_realtime_lineage,  # realtime results -> lineage
    kafka_labels.kafka_curated_labels,  # clinvar-labels-curated -> HCML_LABELS_DIR (retraining)
    clinvar_labels_sensor,  # new label files -> retrain the pathogenicity model
    *run_metrics.SENSORS,  # finished runs -> hcml_dagster_runs_total, hcml_asset_duration_seconds
    reanalysis_sensor,  # stale reports (new ClinVar release / champion) -> re-analysis runs within a cost limit
    report_changes_sensor,  # reports changed by a re-analysis -> clinical-reports-changed
    *assets.costs.COST_SENSORS,  # daily analysis_costs + monthly chargeback_report and budget alert
]

JOBS = [sample_report_job, assets.ml.ml_training_job]  # ml_training_job: retrain + gated promotion
# the same jobs with one Kubernetes pod per step, each with its asset's `dagster-k8s/config`
# resources; launchable where the instance runs the K8sRunLauncher (deploy/dagster/k8s_job_executor.yaml)
JOBS += [
    dg.define_asset_job(
        f"{job.name}_per_step",
        selection=job.selection,
        executor_def=k8s_job_executor,
        description=f"{job.description} One Kubernetes pod per step.",
    )
    for job in JOBS
]

JOBS.append(assets.sources.observe_sources_job)  # raw inputs observed (data versions); no pods needed
JOBS.append(compliance.retention_job)  # retention per data class (hcml.compliance.retention)

defs = dg.Definitions(
    assets=[*dg.load_assets_from_modules(ASSET_MODULES), kafka_realtime_lineage.realtime_clinical_result],
    asset_checks=dg.load_asset_checks_from_modules(ASSET_MODULES),
    jobs=JOBS,
    sensors=SENSORS,
    schedules=[assets.sources.observe_sources_schedule, compliance.retention_schedule],
    resources={**build_resources(), "kafka": KafkaResource(), "mlflow": assets.ml.MlflowResource()},
)
