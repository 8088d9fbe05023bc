"""hcml.storage against a real local directory and a real Azurite (Blob)."""

import pytest

from hcml.storage import AzureBlobStore, LocalStore, StoreError, open_store


def test_local_store_round_trip(tmp_path):
    store = LocalStore(tmp_path)
    uri = store.put("reports/s1/report.json", b'{"a": 1}')
    assert uri == (tmp_path / "reports" / "s1" / "report.json").as_uri()
    assert (tmp_path / "reports" / "s1" / "report.json").read_bytes() == b'{"a": 1}'
    assert store.get(uri) == b'{"a": 1}'
    assert store.get(str(tmp_path / "reports" / "s1" / "report.json")) == b'{"a": 1}'  # plain paths too
    assert store.exists(uri) and not store.exists(uri + ".missing")
    with pytest.raises(StoreError, match="no such object"):
        store.get(uri + ".missing")


@pytest.mark.parametrize("bad", ["", "../escape", "a/../../b", "/"])
def test_keys_cannot_escape_the_root(tmp_path, bad):
    with pytest.raises(StoreError, match="invalid store key"):
        LocalStore(tmp_path).put(bad, b"x")


def test_open_store_defaults_to_the_data_dir(tmp_path, monkeypatch):
    for name in ("HCML_AZURE_STORAGE_CONNECTION_STRING", "HCML_AZURE_STORAGE_ACCOUNT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HCML_DATA_DIR", str(tmp_path))
    store = open_store()
    assert isinstance(store, LocalStore) and store.root == (tmp_path / "store").resolve()


@pytest.mark.azurite
def test_azure_store_round_trip_on_azurite(azure_env, azurite):
    store = open_store()
    assert isinstance(store, AzureBlobStore)
    container = azure_env["HCML_AZURE_STORAGE_CONTAINER"]
    uri = store.put("reports/s1/report.json", b"payload")
    assert uri == f"azure://{container}/hcml-test/reports/s1/report.json"
    assert store.get(uri) == b"payload" and store.exists(uri)
    assert not store.exists(uri + ".missing")
    with pytest.raises(StoreError, match="no such object"):
        store.get(uri + ".missing")
    # independently of hcml.storage: the blob is really in Azurite under the prefix
    from azure.storage.blob import BlobServiceClient

    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    names = [b.name for b in service.get_container_client(container).list_blobs()]
    assert names == ["hcml-test/reports/s1/report.json"]
    blob = service.get_blob_client(container, "hcml-test/reports/s1/report.json").download_blob().readall()
    assert blob == b"payload"


@pytest.mark.azurite
def test_azure_store_by_account_url_and_key(azurite, tmp_path):
    from tests.fixtures.azurite import ACCOUNT_KEY

    store = AzureBlobStore(container="byurl", account_url=azurite.account_url,
                           credential={"account_name": "devstoreaccount1", "account_key": ACCOUNT_KEY})
    uri = store.put("x.bin", b"\x00\x01")
    assert store.get(uri) == b"\x00\x01"
    # a local file URI is still readable through an Azure store (bundled sample VCFs are local pointers)
    local = tmp_path / "in.vcf"
    local.write_bytes(b"##fileformat=VCFv4.2\n")
    assert store.get(local.as_uri()) == b"##fileformat=VCFv4.2\n"


def test_blob_names_stay_out_of_the_logs(azure_env, azurite):
    """The Azure SDK logs every request URL at INFO; a blob name may carry a sample name, so the platform's
    logging set-up keeps those library loggers at WARNING."""
    import io
    import logging

    import structlog

    from hcml import observability as obs

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    stream = io.StringIO()
    obs.configure_logging("hcml-test", stream=stream)
    try:
        store = open_store()
        uri = store.put("landing/PATIENT-0042-tumour.vcf", b"##fileformat=VCFv4.2\n")
        assert store.get(uri).startswith(b"##fileformat")
        logging.getLogger("hcml.test").info("stored one blob")  # the handler really writes INFO lines
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        structlog.reset_defaults()
    text = stream.getvalue()
    assert "stored one blob" in text
    assert "PATIENT-0042" not in text
