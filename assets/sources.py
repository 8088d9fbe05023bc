"""The raw inputs of the platform as observable source assets: every asset's lineage starts at one of these.

Each is observed (never materialized here) and its data version is the content's fingerprint: a file's
SHA-256, a folder's or container's listing hash, a Kafka topic's end offsets. A new ClinVar release, GTF or
model therefore shows the assets built from the old one as stale in Dagster, and `hcml lineage impact`
finds the reports built from any of them.
"""

from __future__ import annotations

import dagster as dg

from assets._common import NON_PHI_TAGS, OWNERS

GROUP = "sources"


def _file_observation(kind: str) -> dg.ObserveResult:
    """The data version of one reference source file (`hcml.config.default_sources()`): its SHA-256."""
    from hcml.config import default_sources
    from hcml.lineage.fingerprints import file_fingerprint

    path = default_sources()[kind]
    return dg.ObserveResult(
        data_version=dg.DataVersion(file_fingerprint(path)),
        metadata={"path": dg.MetadataValue.path(str(path)), "version": _version(kind, path)},
    )


def _version(kind: str, path) -> str:
    from hcml.genomics.bundle import _guess_version

    return _guess_version(kind, path)


def _source(name: str, description: str, kinds: set[str], tags: dict | None = None):
    return dg.observable_source_asset(
        name=name,
        group_name=GROUP,
        owners=OWNERS,
        kinds=kinds,
        tags=tags or NON_PHI_TAGS,
        description=description,
    )


@_source("ensembl_gene_models", "Ensembl gene models (GTF or GFF3) the reference bundle compiles.", {"file"})
def ensembl_gene_models() -> dg.ObserveResult:
    return _file_observation("gtf")


@_source("genome_fasta", "The GRCh38 genome FASTA (bgzipped) of the reference bundle.", {"file"})
def genome_fasta() -> dg.ObserveResult:
    return _file_observation("fasta")


@_source("population_variants", "Known variants with 1000 Genomes / gnomAD frequencies (Ensembl VEP cache).", {"file"})
def population_variants() -> dg.ObserveResult:
    return _file_observation("known_variants")


@_source("clinvar_release", "The ClinVar release (lifted to GRCh38) in the bundle and the model's labels.", {"file"})
def clinvar_release() -> dg.ObserveResult:
    return _file_observation("clinvar")


@_source("curated_labels", "Curated label files in HCML_LABELS_DIR (retraining input).", {"folder"})
def curated_labels() -> dg.ObserveResult:
    from hcml.lineage.fingerprints import folder_fingerprint
    from hcml.ml.data import labels_dir

    fingerprint, n = folder_fingerprint(labels_dir(), (".tsv", ".tsv.gz"))
    return dg.ObserveResult(data_version=dg.DataVersion(fingerprint), metadata={"path": str(labels_dir()), "files": n})


@_source("bundled_model", "The exported model served when no MLflow champion exists (HCML_MODEL_DIR).", {"folder"})
def bundled_model() -> dg.ObserveResult:
    from hcml.lineage.fingerprints import folder_fingerprint
    from hcml.ml.serving import model_dir

    fingerprint, n = folder_fingerprint(model_dir())
    return dg.ObserveResult(data_version=dg.DataVersion(fingerprint), metadata={"path": str(model_dir()), "files": n})


@_source(
    "vcf_landing",
    "Patient VCFs dropped in HCML_LANDING_DIR and, when configured, the HCML_LANDING_CONTAINER blob container.",
    {"folder", "azure"},
    tags={"hcml/phi": "true", "hcml/domain": "clinical"},
)
def vcf_landing() -> dg.ObserveResult:
    """Files by SHA-256, blobs by content MD5 (else etag): the same versions the landing sensor keys runs by."""
    from hcml.lineage.fingerprints import listing_fingerprint
    from hcml.provenance import sha256_file
    from hcml.storage import azure_configured, open_store
    from resources.landing import SUFFIXES, blob_version, landed_files, landing_container, landing_dir, landing_prefix

    entries = [(f"file:{p.name}", sha256_file(p)) for p in landed_files(landing_dir(), 0)]
    container = landing_container()
    if container and azure_configured():
        store = open_store()
        entries += [
            (f"azure://{container}/{b.name}", blob_version(b))
            for b in store.list_blobs(container, landing_prefix())
            if b.name.lower().endswith(SUFFIXES)
        ]
    return dg.ObserveResult(
        data_version=dg.DataVersion(listing_fingerprint(entries)),
        metadata={"path": str(landing_dir()), "container": container or "", "inputs": len(entries)},
    )


@_source(
    "submissions_topic",
    "Submissions on the Kafka topic genetic-data-raw (CloudEvents org.hcml.submission.v1); version = end offsets.",
    {"kafka"},
    tags={"hcml/phi": "pseudonymised", "hcml/domain": "clinical"},
)
def submissions_topic() -> dg.ObserveResult:
    from hcml.events import topics
    from hcml.events.consumer import end_offsets
    from hcml.events.producer import bootstrap_from_env
    from hcml.lineage.fingerprints import offsets_fingerprint

    bootstrap = bootstrap_from_env()
    if not bootstrap:
        return dg.ObserveResult(data_version=dg.DataVersion("kafka-disabled"), metadata={"topic": topics.RAW})
    offsets = end_offsets(bootstrap, topics.RAW)
    return dg.ObserveResult(
        data_version=dg.DataVersion(offsets_fingerprint(topics.RAW, offsets)),
        metadata={"topic": topics.RAW, "messages": sum(offsets.values())},
    )


@_source("rate_card", "Cost rate card (HCML_RATE_CARD): prices per vCPU-hour, GiB-hour, GPU-hour, GB-month.", {"yaml"})
def rate_card() -> dg.ObserveResult:
    from hcml.cost.rate_card import default_rate_card_path
    from hcml.lineage.fingerprints import file_fingerprint

    path = default_rate_card_path()
    return dg.ObserveResult(data_version=dg.DataVersion(file_fingerprint(path)), metadata={"path": str(path)})


@_source("department_budgets", "Monthly budget per department (HCML_BUDGETS).", {"yaml"})
def department_budgets() -> dg.ObserveResult:
    from hcml.cost.rate_card import default_budgets_path
    from hcml.lineage.fingerprints import file_fingerprint

    path = default_budgets_path()
    return dg.ObserveResult(data_version=dg.DataVersion(file_fingerprint(path)), metadata={"path": str(path)})


REFERENCE_SOURCES = [ensembl_gene_models, genome_fasta, population_variants, clinvar_release]
SAMPLE_SOURCES = [vcf_landing, submissions_topic]
SOURCE_NAMES = [
    "ensembl_gene_models",
    "genome_fasta",
    "population_variants",
    "clinvar_release",
    "curated_labels",
    "bundled_model",
    "vcf_landing",
    "submissions_topic",
    "rate_card",
    "department_budgets",
    "acmg_config",
]

observe_sources_job = dg.define_asset_job(
    "observe_sources_job",
    selection=dg.AssetSelection.assets(*SOURCE_NAMES),
    description="Observe every raw input (file hashes, folder and container listings, topic offsets).",
)


def observe_sources_cron() -> str:
    """HCML_OBSERVE_SOURCES_CRON: how often the raw inputs are observed (default every 15 minutes)."""
    import os

    return os.environ.get("HCML_OBSERVE_SOURCES_CRON", "*/15 * * * *")


observe_sources_schedule = dg.ScheduleDefinition(
    name="observe_sources_schedule",
    job=observe_sources_job,
    cron_schedule=observe_sources_cron(),
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
