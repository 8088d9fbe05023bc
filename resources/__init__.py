"""Resources of the hcml code location, chosen for the environment in one place: `build_resources()`.

- `StorageResource`: the plain object store (`hcml.storage`): a local directory, or Azure Blob Storage
  (connection string, or account URL + credential) with a container and prefix. Secrets via `dg.EnvVar`.
- `ParquetIOManager`: the project's IO manager over that store: polars frames as Parquet, dicts as JSON,
  one object per asset (and partition). Plain Blob, since Azurite (dev/CI) has no Data Lake endpoint.
- `ReferenceBundleResource`: where the compiled reference bundle lives (local; it is memory-mapped).

The Dagster definitions that assets and sensors share live beside them in this package (`jobs`, `partitions`,
`tags`, `metadata`, `submissions`), so that neither imports the code location (`hcml_dagster`) that collects
them: the layers are hcml -> resources -> assets -> sensors -> hcml_dagster, each importing only those before it.
"""

import io
import json
import os
from pathlib import Path

import dagster as dg
import polars as pl

from hcml import config, storage
from hcml.cost.usage import STORED_BYTES


class StorageResource(dg.ConfigurableResource):
    """Local directory (`local_root`) unless Azure is configured (connection string or account URL)."""

    local_root: str | None = None
    connection_string: str | None = None
    account_url: str | None = None
    credential: str | None = None
    container: str = storage.DEFAULT_CONTAINER
    prefix: str = ""

    def open(self) -> storage.LocalStore | storage.AzureBlobStore:
        if self.connection_string or self.account_url:
            return storage.AzureBlobStore(
                container=self.container,
                prefix=self.prefix,
                connection_string=self.connection_string,
                account_url=self.account_url,
                credential=self.credential,
            )
        return storage.LocalStore(self.local_root or (config.data_dir() / "store"))


def _object_key(context: dg.OutputContext | dg.InputContext, partition: str | None, suffix: str) -> str:
    output = context if isinstance(context, dg.OutputContext) else context.upstream_output
    if output is not None and not output.has_asset_key:
        # an op output inside a graph-backed asset (e.g. one chromosome's annotations): kept per run and step,
        # in the same store, so that step pods on Kubernetes hand it over
        return "runs/" + "/".join(output.get_identifier()) + suffix
    path = "/".join(context.asset_key.path)
    return f"assets/{path}/{partition}{suffix}" if partition is not None else f"assets/{path}{suffix}"


class ParquetIOManager(dg.ConfigurableIOManager):
    """Stores each asset output in the `StorageResource`: DataFrames as Parquet, dicts/lists as JSON."""

    storage: StorageResource

    def _store(self):
        return self.storage.open()

    def handle_output(self, context: dg.OutputContext, obj) -> None:
        if obj is None:
            return
        partition = context.asset_partition_key if context.has_asset_partitions else None
        if isinstance(obj, pl.DataFrame):
            buffer = io.BytesIO()
            obj.write_parquet(buffer)
            key, data = _object_key(context, partition, ".parquet"), buffer.getvalue()
        elif isinstance(obj, (dict, list)):
            key = _object_key(context, partition, ".json")
            data = json.dumps(obj, indent=1, sort_keys=True, default=str).encode()
        else:
            raise dg.Failure(f"ParquetIOManager stores polars DataFrames and dicts, not {type(obj).__name__}")
        uri = self._store().put(key, data)
        context.add_output_metadata({"uri": dg.MetadataValue.text(uri), STORED_BYTES: len(data)})

    def _load_one(self, store, context: dg.InputContext, partition: str | None):
        parquet = store.uri_for(_object_key(context, partition, ".parquet"))
        if store.exists(parquet):
            return pl.read_parquet(io.BytesIO(store.get(parquet)))
        as_json = store.uri_for(_object_key(context, partition, ".json"))
        if store.exists(as_json):
            return json.loads(store.get(as_json))
        return None

    def load_input(self, context: dg.InputContext):
        store = self._store()
        if context.has_asset_partitions:
            keys = list(context.asset_partition_keys)
            if len(keys) == 1 and not _wants_mapping(context):
                value = self._load_one(store, context, keys[0])
                if value is None:
                    raise dg.Failure(f"{context.asset_key.to_user_string()} partition {keys[0]} is not materialized")
                return value
            loaded = {key: self._load_one(store, context, key) for key in keys}
            missing = [key for key, value in loaded.items() if value is None]
            if missing:
                context.log.warning(
                    f"{len(missing)} partition(s) of {context.asset_key.to_user_string()} are not materialized; skipped"
                )
            return {key: value for key, value in loaded.items() if value is not None}
        value = self._load_one(store, context, None)
        if value is None:
            raise dg.Failure(f"{context.asset_key.to_user_string()} is not materialized")
        return value


def _wants_mapping(context: dg.InputContext) -> bool:
    """A downstream asset without partitions (e.g. cohort statistics) reads {partition_key: value}."""
    return not context.has_partition_key


class ReferenceBundleResource(dg.ConfigurableResource):
    """The compiled reference bundle directory (default `bundle_dir()`)."""

    path: str | None = None

    def bundle_path(self) -> Path:
        return Path(self.path) if self.path else config.bundle_dir()

    def load(self):
        from hcml.genomics.bundle import ReferenceBundle

        path = self.bundle_path()
        if not (path / "manifest.json").is_file():
            raise dg.Failure(
                f"no reference bundle at {path}: materialize `reference_bundle` first (or run `hcml demo`)"
            )
        return ReferenceBundle.load(path)


def storage_from_environment() -> StorageResource:
    """The storage for this environment; Azure secrets stay `dg.EnvVar`s (resolved at run time)."""
    if os.environ.get("HCML_AZURE_STORAGE_CONNECTION_STRING"):
        return StorageResource(
            connection_string=dg.EnvVar("HCML_AZURE_STORAGE_CONNECTION_STRING"),
            container=os.environ.get("HCML_AZURE_STORAGE_CONTAINER", storage.DEFAULT_CONTAINER),
            prefix=os.environ.get("HCML_AZURE_STORAGE_PREFIX", ""),
        )
    if os.environ.get("HCML_AZURE_STORAGE_ACCOUNT_URL"):
        return StorageResource(
            account_url=dg.EnvVar("HCML_AZURE_STORAGE_ACCOUNT_URL"),
            credential=dg.EnvVar("HCML_AZURE_STORAGE_CREDENTIAL")
            if os.environ.get("HCML_AZURE_STORAGE_CREDENTIAL")
            else None,
            container=os.environ.get("HCML_AZURE_STORAGE_CONTAINER", storage.DEFAULT_CONTAINER),
            prefix=os.environ.get("HCML_AZURE_STORAGE_PREFIX", ""),
        )
    return StorageResource(local_root=str(config.data_dir() / "store"))


def resources_for(store: StorageResource, bundle_path: str | Path) -> dict[str, object]:
    """The pipeline's resources over one store: the store, the IO manager on it, and the reference bundle."""
    return {
        "storage": store,
        "io_manager": ParquetIOManager(storage=store),
        "reference": ReferenceBundleResource(path=str(bundle_path)),
    }


def build_resources() -> dict[str, object]:
    """Every resource the code location needs, for the current environment (called when definitions load)."""
    return resources_for(storage_from_environment(), config.bundle_dir())
