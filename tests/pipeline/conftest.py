"""Pipeline test helpers: an isolated data dir and resources pointing at it (or at Azurite)."""

from pathlib import Path

import pytest

from hcml.config import REPO_ROOT

SAMPLES = REPO_ROOT / "data" / "samples"
HG00096 = SAMPLES / "HG00096_chr21_region.vcf"
CLINVAR_VCF = SAMPLES / "clinvar2016_chr21_region.vcf"


def two_sample_vcf() -> bytes:
    """The real HG00096 VCF with a second sample column SECOND (HG00096's genotypes reversed per record:
    the landing tests are about the sample names, not the genotypes)."""
    out = []
    for line in HG00096.read_text().splitlines():
        if line.startswith("##"):
            out.append(line)
        elif line.startswith("#CHROM"):
            out.append(line + "\tSECOND")
        else:
            out.append(line + "\t" + line.split("\t")[9][::-1])
    return ("\n".join(out) + "\n").encode()


def vcf_records(path: Path) -> list[list[str]]:
    """The data lines of a VCF, split on tabs (an independent reading for expectations)."""
    return [line.rstrip("\n").split("\t") for line in path.read_text().splitlines() if line and not line.startswith("#")]


@pytest.fixture
def data_dir(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("HCML_DATA_DIR", str(tmp_path / "var"))
    for name in ("HCML_AZURE_STORAGE_CONNECTION_STRING", "HCML_AZURE_STORAGE_ACCOUNT_URL", "DAGSTER_HOME",
                 "HCML_MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "var"


def local_resources(root: Path, bundle_dir: Path) -> dict:
    from resources import StorageResource, resources_for

    return resources_for(StorageResource(local_root=str(root / "store")), bundle_dir)


def azure_resources(azurite, container: str, bundle_dir: Path) -> dict:
    from resources import StorageResource, resources_for

    store = StorageResource(connection_string=azurite.connection_string, container=container, prefix="pipeline")
    return resources_for(store, bundle_dir)
