"""Reading materialization metadata back from the Dagster instance (assets, sensors and the runner)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg


def metadata_values(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """Plain values of a materialization's metadata (each `MetadataValue` unwrapped)."""
    return {key: getattr(value, "value", value) for key, value in metadata.items()}


def latest_materialization(
    instance: dg.DagsterInstance, asset: str, partition: str | None = None
) -> tuple[dict[str, Any], str] | None:
    """Plain metadata and run id of the latest materialization of `asset` (this partition); None if none."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[partition] if partition else None),
        limit=1,
    ).records
    if not records:
        return None
    return metadata_values(records[0].asset_materialization.metadata), records[0].run_id
