"""Curated labels on `clinvar-labels-curated` -> ClinVar-shaped TSV files in the ML labels directory.

The ML retraining sensor watches `HCML_LABELS_DIR` (`hcml.ml.data.labels_dir()`) for ClinVar-shaped TSVs;
this module is the bridge from Kafka: each bounded read from the cursor's offsets writes one file named
after the offsets it covers (`kafka-<topic>-p<partition>-<first>-<last>.tsv`, written atomically), so a
replayed read rewrites the same file with the same rows and nothing is counted twice. Invalid messages
go to the dead-letter topic.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from hcml.events.consumer import advance, commit_positions, read_batch
from hcml.events.messages import CuratedLabel, InvalidMessage, Record, from_kafka, parse_label
from hcml.events.producer import dead_letter_invalid
from hcml.events.topics import GROUP_LABELS_SENSOR, LABELS

# the shipped ClinVar table's columns that the ML label rule reads, plus who curated it
TSV_COLUMNS = [
    "chrom",
    "pos",
    "ref",
    "alt",
    "symbol",
    "clinical_significance",
    "review_status",
    "hgvs_c",
    "hgvs_p",
    "conflicted",
    "curated_by",
    "curated_at",
    "label_id",
]


def labels_tsv(labels: list[CuratedLabel]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter="\t", lineterminator="\n")
    writer.writerow(TSV_COLUMNS)
    for label in labels:
        row = label.model_dump(mode="json")
        row["conflicted"] = int(label.conflicted)
        writer.writerow(["-" if row.get(c) is None else row[c] for c in TSV_COLUMNS])
    return buffer.getvalue().encode("utf-8")


def labels_from_tsv(path: Path, curated_by: str) -> list[CuratedLabel]:
    """Rows of a ClinVar-shaped TSV (as shipped in data/clinvar) as labels to publish."""
    import gzip

    opener = gzip.open if str(path).endswith(".gz") else open
    now = datetime.now(UTC)
    out = []
    with opener(path, "rt") as fh:
        for n, row in enumerate(csv.DictReader(fh, delimiter="\t"), start=2):

            def val(key: str, row: dict[str, str] = row) -> str | None:
                v = row.get(key)
                return None if v in (None, "", "-") else v

            try:
                out.append(
                    CuratedLabel(
                        label_id=val("label_id") or f"{path.name.split('.')[0]}-{n}"[:128].replace(" ", "_"),
                        chrom=val("chrom"),
                        pos=int(val("pos")) if val("pos") else None,
                        ref=val("ref"),
                        alt=val("alt"),
                        symbol=val("symbol") or "",
                        hgvs_c=val("hgvs_c"),
                        hgvs_p=val("hgvs_p"),
                        clinical_significance=val("clinical_significance") or "",
                        review_status=val("review_status"),
                        conflicted=(val("conflicted") or "0") == "1",
                        curated_by=val("curated_by") or curated_by,
                        curated_at=val("curated_at") or now,
                    )
                )
            except ValueError as exc:
                raise InvalidMessage(f"{path} line {n}: {exc}") from exc
    return out


@dataclass
class LabelPoll:
    files: list[Path] = field(default_factory=list)
    n_labels: int = 0
    dead_lettered: list[tuple[Record, str]] = field(default_factory=list)
    offsets: dict[int, int] = field(default_factory=dict)


def _label_or_reason(record: Record) -> CuratedLabel | str:
    try:
        return parse_label(from_kafka(record.key, record.value, record.headers))
    except InvalidMessage as exc:
        return exc.reason


def poll_labels(
    bootstrap: str,
    offsets: dict[int, int],
    out_dir: Path,
    *,
    max_records: int = 5000,
    max_seconds: float = 10.0,
    group: str = GROUP_LABELS_SENSOR,
    topic: str = LABELS,
) -> LabelPoll:
    batch = read_batch(bootstrap, topic, group, offsets, max_records=max_records, max_seconds=max_seconds)
    poll = LabelPoll(offsets=dict(offsets))
    if not batch.records:
        return poll
    kept, poll.dead_lettered = dead_letter_invalid(bootstrap, batch.records, _label_or_reason, group)
    by_partition: dict[int, list[tuple[Record, CuratedLabel]]] = {}
    for record, label in kept:
        by_partition.setdefault(record.partition, []).append((record, label))
    out_dir.mkdir(parents=True, exist_ok=True)
    for partition, items in sorted(by_partition.items()):
        first, last = items[0][0].offset, items[-1][0].offset
        path = out_dir / f"kafka-{topic}-p{partition}-{first:012d}-{last:012d}.tsv"
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        tmp.write_bytes(labels_tsv([label for _, label in items]))
        tmp.replace(path)  # the ML sensor never sees half a file
        poll.files.append(path)
        poll.n_labels += len(items)
    poll.offsets = advance(offsets, batch.records)
    commit_positions(bootstrap, topic, group, poll.offsets)
    return poll
