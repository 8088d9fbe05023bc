"""The platform's plain object store: a local directory by default, Azure Blob Storage when configured.

Dagster-free on purpose: the realtime service, the Kafka code and the Dagster IO manager all use it.
Keys are `/`-separated relative paths ("reports/HG00096/report.json"); `put` answers a URI that `get`
and `exists` accept again:

- `file:///abs/path/key` for the local store (plain paths are accepted too);
- `azure://<container>/<prefix>/<key>` for Blob Storage (plain Blob, no Data Lake: Azurite has none).

Configuration (read when `open_store()` is called):
HCML_AZURE_STORAGE_CONNECTION_STRING, or HCML_AZURE_STORAGE_ACCOUNT_URL (+ HCML_AZURE_STORAGE_CREDENTIAL,
an account key or SAS token; without it DefaultAzureCredential), HCML_AZURE_STORAGE_CONTAINER (default
`hcml`), HCML_AZURE_STORAGE_PREFIX (default empty); otherwise `data_dir()/store`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlparse

from hcml.config import data_dir

AZURE_SCHEME = "azure"
DEFAULT_CONTAINER = "hcml"


class StoreError(Exception):
    """A URI this store cannot read, or an object that is not there."""


@dataclass(frozen=True)
class BlobInfo:
    """One listed blob: its pointer and what the service says about it (no content)."""

    uri: str  # azure://<container>/<name>
    container: str
    name: str  # full blob name, prefix included
    size: int
    last_modified: datetime  # timezone-aware (UTC), as the service reports it
    etag: str
    content_md5: str | None  # hex; None when the service keeps none (e.g. some block-list uploads)


class Store(Protocol):
    def put(self, key: str, data: bytes) -> str: ...

    def get(self, uri: str) -> bytes: ...

    def exists(self, uri: str) -> bool: ...

    def uri_for(self, key: str) -> str: ...


def _clean_key(key: str) -> str:
    parts = [p for p in key.replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        raise StoreError(f"invalid store key {key!r}: must be a relative path without '..'")
    return "/".join(parts)


def _local_path(uri: str) -> Path:
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme in ("", None) or len(parsed.scheme) == 1:  # plain path (or a Windows drive letter)
        return Path(uri)
    raise StoreError(f"not a local URI: {uri!r}")


class LocalStore:
    """Objects as files under one root directory."""

    def __init__(self, root: str | Path):
        self.root = Path(root).resolve()

    def __repr__(self) -> str:
        return f"LocalStore({str(self.root)!r})"

    def uri_for(self, key: str) -> str:
        return (self.root / _clean_key(key)).as_uri()

    def put(self, key: str, data: bytes) -> str:
        path = self.root / _clean_key(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        tmp.write_bytes(data)
        tmp.replace(path)  # atomic: a reader never sees half an object
        return path.as_uri()

    def get(self, uri: str) -> bytes:
        if uri.startswith(f"{AZURE_SCHEME}://"):
            raise StoreError(f"{uri!r} is an Azure Blob URI but this store is local ({self.root})")
        path = _local_path(uri)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise StoreError(f"no such object: {uri}") from None

    def exists(self, uri: str) -> bool:
        if uri.startswith(f"{AZURE_SCHEME}://"):
            return False
        return _local_path(uri).is_file()


class AzureBlobStore:
    """Objects as block blobs in one container, under an optional prefix."""

    def __init__(
        self,
        container: str = DEFAULT_CONTAINER,
        prefix: str = "",
        connection_string: str | None = None,
        account_url: str | None = None,
        credential: object | None = None,
    ):
        from azure.storage.blob import BlobServiceClient

        if connection_string:
            self.service = BlobServiceClient.from_connection_string(connection_string)
        elif account_url:
            if credential is None:
                from azure.identity import DefaultAzureCredential

                credential = DefaultAzureCredential()
            self.service = BlobServiceClient(account_url=account_url, credential=credential)
        else:
            raise StoreError("Azure Blob store needs a connection string or an account URL")
        self.container = container
        self.prefix = prefix.strip("/")
        self._container_ready = False

    def __repr__(self) -> str:
        return f"AzureBlobStore(container={self.container!r}, prefix={self.prefix!r})"

    def _container_client(self):
        client = self.service.get_container_client(self.container)
        if not self._container_ready:
            from azure.core.exceptions import ResourceExistsError

            try:
                client.create_container()
            except ResourceExistsError:
                pass
            self._container_ready = True
        return client

    def blob_name(self, key: str) -> str:
        key = _clean_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def uri_for(self, key: str) -> str:
        return f"{AZURE_SCHEME}://{self.container}/{self.blob_name(key)}"

    def _split(self, uri: str) -> tuple[str, str]:
        parsed = urlparse(uri)
        if parsed.scheme != AZURE_SCHEME or not parsed.netloc or not parsed.path.strip("/"):
            raise StoreError(f"not an Azure Blob URI (azure://<container>/<blob>): {uri!r}")
        return parsed.netloc, unquote(parsed.path.lstrip("/"))

    def put(self, key: str, data: bytes) -> str:
        name = self.blob_name(key)
        self._container_client().upload_blob(name, data, overwrite=True)
        return f"{AZURE_SCHEME}://{self.container}/{name}"

    def get(self, uri: str) -> bytes:
        if not uri.startswith(f"{AZURE_SCHEME}://"):
            return LocalStore("/").get(uri)  # local pointers (e.g. bundled samples) stay readable
        from azure.core.exceptions import ResourceNotFoundError

        container, name = self._split(uri)
        try:
            return self.service.get_blob_client(container, name).download_blob().readall()
        except ResourceNotFoundError:
            raise StoreError(f"no such object: {uri}") from None

    def exists(self, uri: str) -> bool:
        if not uri.startswith(f"{AZURE_SCHEME}://"):
            return LocalStore("/").exists(uri)
        container, name = self._split(uri)
        return self.service.get_blob_client(container, name).exists()

    def list_blobs(self, container: str, prefix: str = "") -> list[BlobInfo]:
        """The blobs directly under `prefix` ("folder" semantics: `a/b` lists `a/b/x`, not `a/b/c/x` or
        `a/bc`) of `container` (any container of this account, not only the store's own), sorted by name.
        Raises StoreError when the container does not exist (it is never created here)."""
        from azure.core.exceptions import ResourceNotFoundError
        from azure.storage.blob import BlobProperties

        folder = prefix.strip("/")
        folder = f"{folder}/" if folder else ""
        found: list[BlobInfo] = []
        try:
            for item in self.service.get_container_client(container).walk_blobs(
                name_starts_with=folder or None, delimiter="/"
            ):
                if not isinstance(item, BlobProperties):  # a sub-"folder" (BlobPrefix)
                    continue
                md5 = item.content_settings.content_md5 if item.content_settings else None
                found.append(
                    BlobInfo(
                        uri=f"{AZURE_SCHEME}://{container}/{item.name}",
                        container=container,
                        name=item.name,
                        size=int(item.size or 0),
                        last_modified=item.last_modified,
                        etag=str(item.etag).strip('"'),
                        content_md5=bytes(md5).hex() if md5 else None,
                    )
                )
        except ResourceNotFoundError:
            raise StoreError(f"no such blob container: {container!r}") from None
        return sorted(found, key=lambda b: b.name)


def azure_configured() -> bool:
    return bool(
        os.environ.get("HCML_AZURE_STORAGE_CONNECTION_STRING") or os.environ.get("HCML_AZURE_STORAGE_ACCOUNT_URL")
    )


def open_store() -> LocalStore | AzureBlobStore:
    """The store for the current environment (see the module docstring for the variables)."""
    if azure_configured():
        return AzureBlobStore(
            container=os.environ.get("HCML_AZURE_STORAGE_CONTAINER", DEFAULT_CONTAINER),
            prefix=os.environ.get("HCML_AZURE_STORAGE_PREFIX", ""),
            connection_string=os.environ.get("HCML_AZURE_STORAGE_CONNECTION_STRING") or None,
            account_url=os.environ.get("HCML_AZURE_STORAGE_ACCOUNT_URL") or None,
            credential=os.environ.get("HCML_AZURE_STORAGE_CREDENTIAL") or None,
        )
    return LocalStore(data_dir() / "store")


def read_uri(uri: str) -> bytes:
    """Read any URI the platform hands around (local path, file://, azure://) with the configured store."""
    return open_store().get(str(uri))
