"""Helpers shared by the hcml assets: metadata (row counts, schema, content hash) and usage measurement."""

import hashlib
import io
from contextlib import contextmanager

import dagster as dg
import polars as pl

from resources.metadata import latest_materialization

OWNERS = ["team:clinical-genomics"]
PHI_TAGS = {"hcml/phi": "true", "hcml/domain": "clinical"}
NON_PHI_TAGS = {"hcml/phi": "false"}


def frame_sha256(df: pl.DataFrame) -> str:
    """Content hash of a frame: SHA-256 of its uncompressed Arrow IPC stream (schema + values)."""
    buffer = io.BytesIO()
    df.write_ipc_stream(buffer, compression="uncompressed")
    return hashlib.sha256(buffer.getvalue()).hexdigest()


def parquet_bytes(df: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    df.write_parquet(buffer)
    return buffer.getvalue()


def table_schema(df: pl.DataFrame) -> dg.TableSchema:
    return dg.TableSchema(columns=[dg.TableColumn(name, str(dtype)) for name, dtype in df.schema.items()])


def frame_metadata(df: pl.DataFrame, **extra) -> dict:
    return {
        "dagster/row_count": df.height,
        "dagster/column_schema": table_schema(df),
        "content_sha256": frame_sha256(df),
        **extra,
    }


@contextmanager
def measured(metadata: dict):
    """Wrap a step's work in `hcml.cost.usage.measure_usage()` and add its figures to `metadata`."""
    from hcml.cost.usage import measure_usage

    with measure_usage() as usage:
        yield
    metadata.update(usage.as_metadata())


def latest_metadata(context: dg.AssetExecutionContext, asset: str, partition: str | None) -> tuple[dict, str | None]:
    """Metadata and run id of the latest materialization of `asset` (this partition) in the instance."""
    latest = latest_materialization(context.instance, asset, partition)
    if latest is None:
        raise dg.Failure(f"{asset} has no materialization{f' for partition {partition}' if partition else ''}")
    return latest
