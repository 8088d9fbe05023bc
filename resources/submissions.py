"""From a dropped or submitted VCF to the partitions it becomes: one per sample column (or one per file)."""

from __future__ import annotations

import gzip
import io

from resources.jobs import sample_partition_key


def vcf_samples(data: bytes) -> list[str]:
    """The sample columns of a VCF (plain or gzip/bgzip), read from its #CHROM header line only
    (lines are read lazily up to it: the records are never split or decompressed)."""
    handle = gzip.GzipFile(fileobj=io.BytesIO(data)) if data[:2] == b"\x1f\x8b" else io.BytesIO(data)
    with handle:
        for raw in handle:
            if raw.startswith(b"#CHROM"):
                return raw.decode("utf-8", "replace").rstrip("\r\n").split("\t")[9:]
            if raw.strip() and not raw.startswith(b"#"):
                break
    return []


def plan_partitions(source_uri: str, data: bytes, submission_id: str | None = None) -> list[tuple[str, str | None]]:
    """(partition key, sample) for each sample of the VCF; one (key, None) when it has no sample column."""
    samples = vcf_samples(data)
    if not samples:
        return [(sample_partition_key(source_uri, None, submission_id), None)]
    return [(sample_partition_key(source_uri, s, submission_id), s) for s in samples]
