"""Helpers shared by the events tests (real broker, real sample VCFs from data/samples)."""

from __future__ import annotations

from pathlib import Path

from hcml.config import REPO_ROOT
from hcml.events.messages import SOURCE_CLI, make_submission, submission_event

SAMPLES = REPO_ROOT / "data" / "samples"


def sample_vcfs() -> dict[str, bytes]:
    """Three real VCF inputs: HG00096's 132 SNVs, the 27 ClinVar APP variants, HG00096's first 40 records."""
    hg = (SAMPLES / "HG00096_chr21_region.vcf").read_bytes()
    lines = hg.decode().splitlines(keepends=True)
    header = [l for l in lines if l.startswith("#")]
    body = [l for l in lines if not l.startswith("#")]
    return {
        "hg00096": hg,
        "clinvar-app": (SAMPLES / "clinvar2016_chr21_region.vcf").read_bytes(),
        "hg00096-first40": "".join(header + body[:40]).encode(),
    }


def vcf_submission_events(prefix: str, store=None):
    """(submission, event) for each of the three VCFs, submission ids `<prefix>-<name>`."""
    out = []
    for i, (name, data) in enumerate(sample_vcfs().items()):
        sub = make_submission(submission_id=f"{prefix}-{name}", patient_id=f"MRN-00{i}", requester=f"dr.{i}",
                              department=["genetics", "oncology", "genetics"][i], project=f"proj-{i}",
                              input_kind="vcf", payload=data, store=store)
        out.append((sub, submission_event(sub, SOURCE_CLI)))
    return out


def read_store_uri(uri: str) -> bytes:
    from hcml.storage import read_uri

    return read_uri(uri)


def local_path(uri: str) -> Path:
    from urllib.parse import unquote, urlparse

    return Path(unquote(urlparse(uri).path))
