"""The reference bundle: gene models, genome sequence, known variants and ClinVar, compiled once."""

import hashlib
import json
from pathlib import Path

import dagster as dg

from assets._common import NON_PHI_TAGS, OWNERS, measured
from assets.sources import REFERENCE_SOURCES
from resources import ReferenceBundleResource


def sources_checksum(manifest_sources: dict) -> str:
    """One checksum over every source file's SHA-256: the bundle's data version."""
    text = "\n".join(f"{name}\0{src['sha256']}" for name, src in sorted(manifest_sources.items()))
    return hashlib.sha256(text.encode()).hexdigest()


@dg.asset(
    deps=REFERENCE_SOURCES,
    # a new GTF / FASTA / population file / ClinVar release observed -> rebuilt by the automation sensor; the
    # reports built from the old bundle then go stale (sensors/reanalysis.py)
    automation_condition=dg.AutomationCondition.eager(),
    group_name="reference",
    kinds={"parquet", "python"},
    owners=OWNERS,
    tags=NON_PHI_TAGS,
    code_version="1",
)
def reference_bundle(context: dg.AssetExecutionContext, reference: ReferenceBundleResource) -> dg.MaterializeResult:
    """Ensembl GTF + GRCh38 FASTA + 1000G/gnomAD known variants + ClinVar compiled to a Parquet bundle.

    Rebuilt only when a source file's checksum changed; the data version is the checksum of the sources,
    so downstream reports go stale exactly when the reference data changes.
    """
    from hcml.config import default_sources
    from hcml.genomics.bundle import build_bundle
    from hcml.provenance import sha256_file

    metadata: dict = {}
    with measured(metadata):
        out = reference.bundle_path()
        sources = {k: v for k, v in default_sources().items() if k in ("gtf", "fasta", "known_variants", "clinvar")}
        current = {name: sha256_file(path) for name, path in sources.items()}
        manifest_file = out / "manifest.json"
        rebuilt = True
        if manifest_file.is_file():
            old = json.loads(manifest_file.read_text())
            if {k: v.get("sha256") for k, v in old.get("sources", {}).items()} == current:
                rebuilt = False
        if rebuilt:
            context.log.info(f"building the reference bundle in {out}")
            build_bundle(
                sources["gtf"],
                sources["fasta"],
                out,
                known_variants=sources["known_variants"],
                clinvar=sources["clinvar"],
            )
        manifest = json.loads(manifest_file.read_text())
    counts = manifest.get("counts", {})
    metadata.update(
        {
            "path": dg.MetadataValue.path(str(out)),
            "uri": Path(out).resolve().as_uri(),
            "bundle_sha256": manifest["bundle_sha256"],
            "content_sha256": manifest["bundle_sha256"],
            "built_at": manifest.get("built_at"),
            "rebuilt": rebuilt,
            "sources": dg.MetadataValue.json(manifest["sources"]),
            "dagster/row_count": int(counts.get("transcripts", 0)),
            **{f"count_{k}": int(v) for k, v in counts.items()},
        }
    )
    return dg.MaterializeResult(metadata=metadata, data_version=dg.DataVersion(sources_checksum(manifest["sources"])))
