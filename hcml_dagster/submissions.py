"""From a dropped or submitted VCF to the partitions it becomes: one per sample column (or one per file)."""

from __future__ import annotations

import gzip

from hcml_dagster.jobs import sample_partition_key


def vcf_samples(data: bytes) -> list[str]:
    """The sample columns of a VCF (plain or gzip/bgzip), read from its #CHROM header line only."""
    if data[:2] == b"\x1f\x8b":
        with gzip.GzipFile(fileobj=__import__("io").BytesIO(data)) as handle:
            for raw in handle:
                if raw.startswith(b"#CHROM"):
                    return raw.decode("utf-8", "replace").rstrip("\r\n").split("\t")[9:]
                if not raw.startswith(b"#"):
                    break
        return []
    for raw in data.split(b"\n"):
        if raw.startswith(b"#CHROM"):
            return raw.decode("utf-8", "replace").rstrip("\r").split("\t")[9:]
        if raw and not raw.startswith(b"#"):
            break
    return []


def plan_partitions(source_uri: str, data: bytes, submission_id: str | None = None) -> list[tuple[str, str | None]]:
    """(partition key, sample) for each sample of the VCF; one (key, None) when it has no sample column."""
    samples = vcf_samples(data)
    if not samples:
        return [(sample_partition_key(source_uri, None, submission_id), None)]
    return [(sample_partition_key(source_uri, s, submission_id), s) for s in samples]
