"""Lineage read from the Dagster instance: every clinical report ever materialized, with its provenance.

The provenance comes from the materialization's metadata (recorded with each report) and, for reports
materialized without it, from the report itself while it is still the one the materialization wrote (its
provenance hash matches the recorded `provenance_sha256`). Nothing is kept anywhere else.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import dagster as dg

from hcml.lineage.impact import ReportRef, report_ref
from hcml.provenance import canonical_json, sha256_bytes
from resources.metadata import metadata_values

REPORT_ASSET = dg.AssetKey("clinical_report")


def report_materializations(instance: dg.DagsterInstance) -> list[dg.EventLogRecord]:
    """Every materialization of `clinical_report`, oldest first (the event log, paged)."""
    out: list = []
    cursor = None
    while True:
        page = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=REPORT_ASSET), limit=500, cursor=cursor, ascending=True
        )
        out.extend(page.records)
        if not page.has_more:
            return out
        cursor = page.cursor


def _provenance(meta: dict, read_uri: Callable[[str], bytes] | None) -> dict | None:
    if isinstance(meta.get("provenance"), dict):
        return meta["provenance"]
    if read_uri is None or not meta.get("report_uri"):
        return None
    try:
        report = json.loads(read_uri(meta["report_uri"]))
    except Exception:  # noqa: BLE001 - a report erased or moved since: its provenance is unknown
        return None
    prov = report.get("provenance")
    if not isinstance(prov, dict) or sha256_bytes(canonical_json(prov)) != meta.get("provenance_sha256"):
        return None  # the file was replaced by a later report: not this materialization's provenance
    return prov


def report_refs(instance: dg.DagsterInstance, read_uri: Callable[[str], bytes] | None = None) -> list[ReportRef]:
    """Every report in the event log whose provenance is known; the latest per partition marked current."""
    records = report_materializations(instance)
    latest: dict[str, int] = {}
    for rec in records:
        latest[rec.partition_key or ""] = rec.storage_id
    refs = []
    for rec in records:
        meta = metadata_values(rec.asset_materialization.metadata)
        prov = _provenance(meta, read_uri)
        if prov is None:
            continue
        partition = rec.partition_key or ""
        refs.append(
            report_ref(
                prov,
                partition=partition,
                patient=meta.get("patient_pseudonym") or None,
                report_uri=meta.get("report_uri"),
                current=latest.get(partition) == rec.storage_id,
            )
        )
    return refs
