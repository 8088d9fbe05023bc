"""Provenance of a clinical report: what produced it, recorded in the report and checkable outside Dagster.

A record names the input (URI + SHA-256), the reference bundle (manifest: source files and their
checksums), the code (git commit + package version), the model (name + version) and the run (orchestrator
run id and times). The report then carries an `integrity` block: the SHA-256 of the provenance record
and of the whole report content (canonical JSON, the `integrity` block left out).

`verify_report(...)` recomputes what it can: the report's own hashes, the input file's hash, each
bundle source file's hash, and the bundle's manifest when the bundle is still there.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import subprocess
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from hcml.config import REPO_ROOT

SCHEMA = "hcml.provenance/1"
INTEGRITY = "integrity"

OK, FAILED, UNVERIFIABLE = "ok", "failed", "unverifiable"


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def canonical_json(obj) -> bytes:
    """Key-sorted, compact, UTF-8: the bytes every hash here is taken over."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def content_sha256(report: dict) -> str:
    return sha256_bytes(canonical_json({k: v for k, v in report.items() if k != INTEGRITY}))


def now_utc() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def code_version() -> dict:
    """HCML_GIT_COMMIT (set in images without .git), else `git rev-parse HEAD` of the repository."""
    try:
        package_version = version("hcml")
    except PackageNotFoundError:
        package_version = "0+unknown"
    commit = os.environ.get("HCML_GIT_COMMIT")
    dirty = None
    if not commit:
        try:
            commit = (
                subprocess.run(
                    ["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10
                ).stdout.strip()
                or None
            )
            status = subprocess.run(
                ["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--untracked-files=no"],
                capture_output=True,
                text=True,
                timeout=30,
            )
            dirty = bool(status.stdout.strip()) if status.returncode == 0 else None
        except (OSError, subprocess.SubprocessError):
            commit = None
    return {"package": "hcml", "version": package_version, "git_commit": commit, "git_dirty": dirty}


def bundle_record(manifest: dict, path: str | Path | None = None) -> dict:
    """The part of a bundle manifest that identifies it: its hash, build time and every source + checksum."""
    return {
        "path": str(path) if path is not None else None,
        "format": manifest.get("format"),
        "bundle_sha256": manifest.get("bundle_sha256"),
        "built_at": manifest.get("built_at"),
        "hcml_version": manifest.get("hcml_version"),
        "sources": manifest.get("sources", {}),
    }


def build_record(
    *,
    input_uri: str,
    input_sha256: str,
    input_bytes: int,
    bundle_manifest: dict,
    bundle_path: str | Path | None,
    model_name: str | None,
    model_version: str | None,
    run_id: str | None,
    run_started_at: str | None,
    sample: str | None = None,
    submission_id: str | None = None,
    partition: str | None = None,
    classification: dict | None = None,
) -> dict:
    record = {
        "schema": SCHEMA,
        "input": {
            "uri": input_uri,
            "sha256": input_sha256,
            "bytes": input_bytes,
            "sample": sample,
            "submission_id": submission_id,
        },
        "reference_bundle": bundle_record(bundle_manifest, bundle_path),
        "code": code_version(),
        "model": {"name": model_name, "version": model_version},
        "run": {
            "orchestrator": "dagster",
            "run_id": run_id,
            "partition": partition,
            "started_at": run_started_at,
            "report_created_at": now_utc(),
        },
    }
    if classification is not None:  # the ACMG/AMP classification's version and configuration (hcml.acmg)
        record["classification"] = classification
    return record


def seal(report: dict) -> dict:
    """Add the `integrity` block (provenance and content hashes) to a report that holds `provenance`."""
    body = {k: v for k, v in report.items() if k != INTEGRITY}
    return {
        **body,
        INTEGRITY: {
            "algorithm": "sha256 over canonical JSON (sorted keys, compact, UTF-8)",
            "provenance_sha256": sha256_bytes(canonical_json(body["provenance"])),
            "content_sha256": content_sha256(body),
        },
    }


@dataclass
class Check:
    name: str
    status: str
    detail: str


@dataclass
class Verification:
    checks: list[Check] = field(default_factory=list)

    @property
    def holds(self) -> bool:
        """The chain holds when nothing failed and the input, bundle and report hashes were all recomputed."""
        return all(c.status != FAILED for c in self.checks) and all(
            c.status == OK
            for c in self.checks
            if c.name.split(":")[0] in {"report", "provenance", "input", "bundle_source"}
        )

    def add(self, name: str, status: str, detail: str) -> None:
        self.checks.append(Check(name, status, detail))

    def as_dict(self) -> dict:
        return {"holds": self.holds, "checks": [c.__dict__ for c in self.checks]}


def _compare(result: Verification, name: str, recorded: str | None, actual: str) -> None:
    if recorded == actual:
        result.add(name, OK, f"sha256 {actual[:16]}... matches")
    else:
        result.add(name, FAILED, f"recorded {str(recorded)[:16]}..., recomputed {actual[:16]}...")


def verify_report(report: dict, read_uri=None) -> Verification:
    """Recompute every hash the report's provenance names; `read_uri(uri) -> bytes` reads the input."""
    if read_uri is None:
        from hcml.storage import read_uri as read_uri  # noqa: PLC0415 - the configured store
    result = Verification()
    integrity = report.get(INTEGRITY) or {}
    prov = report.get("provenance")
    if not isinstance(prov, dict) or prov.get("schema") != SCHEMA:
        result.add("provenance", FAILED, f"no provenance record of schema {SCHEMA}")
        return result

    _compare(result, "report:content", integrity.get("content_sha256"), content_sha256(report))
    _compare(result, "provenance:record", integrity.get("provenance_sha256"), sha256_bytes(canonical_json(prov)))

    source = prov.get("input", {})
    try:
        data = read_uri(source.get("uri"))
    except Exception as exc:  # noqa: BLE001 - any unreadable input is reported, not raised
        result.add("input", UNVERIFIABLE, f"cannot read {source.get('uri')}: {exc}")
    else:
        _compare(result, "input", source.get("sha256"), sha256_bytes(data))

    bundle = prov.get("reference_bundle", {})
    for name, src in sorted((bundle.get("sources") or {}).items()):
        path = Path(src.get("path", ""))
        if not path.is_file():
            result.add(f"bundle_source:{name}", UNVERIFIABLE, f"{path} is not readable here")
            continue
        _compare(result, f"bundle_source:{name}", src.get("sha256"), sha256_file(path))
    if not bundle.get("sources"):
        result.add("bundle_source", FAILED, "the provenance names no reference bundle sources")

    bundle_path = bundle.get("path")
    manifest_file = Path(bundle_path) / "manifest.json" if bundle_path else None
    if manifest_file and manifest_file.is_file():
        current = json.loads(manifest_file.read_text())
        if current.get("bundle_sha256") == bundle.get("bundle_sha256"):
            result.add("bundle:manifest", OK, "the bundle at its recorded path has the recorded bundle_sha256")
        else:
            result.add("bundle:manifest", FAILED, f"the bundle at {bundle_path} has been rebuilt or changed since")
    else:
        result.add("bundle:manifest", UNVERIFIABLE, "the recorded bundle directory is not here")

    code = prov.get("code", {})
    commit = code.get("git_commit")
    if commit:
        known = (
            subprocess.run(
                ["git", "-C", str(REPO_ROOT), "cat-file", "-e", f"{commit}^{{commit}}"], capture_output=True
            ).returncode
            == 0
        )
        result.add(
            "code",
            OK if known else UNVERIFIABLE,
            f"commit {commit[:12]} {'is in this repository' if known else 'is not in this repository'}"
            f"{' (working tree was dirty)' if code.get('git_dirty') else ''}; hcml {code.get('version')}",
        )
    else:
        result.add("code", UNVERIFIABLE, f"no git commit recorded; hcml {code.get('version')}")
    if "classification" in prov:
        _verify_classification(result, prov["classification"])
    model = prov.get("model", {})
    result.add(
        "model",
        OK if model.get("name") else UNVERIFIABLE,
        f"{model.get('name')} version {model.get('version')} (recorded)",
    )
    return result


def _verify_classification(result: Verification, recorded: dict) -> None:
    """The ACMG/AMP configuration the report was classified with: its file (or the built-in defaults) hashed
    again and compared with the recorded sha256."""
    from hcml.acmg.config import AcmgConfigError, default_config, parse_config

    source, sha = recorded.get("config_source"), recorded.get("config_sha256")
    if source == default_config().source:
        status = OK if default_config().sha256 == sha else UNVERIFIABLE
        result.add(
            "classification:config",
            status,
            f"built-in defaults of {recorded.get('version')}: sha256 "
            f"{'matches' if status == OK else 'differs from this code (another hcml version)'}",
        )
        return
    path = Path(str(source))
    if not path.is_file():
        result.add("classification:config", UNVERIFIABLE, f"{path} is not readable here")
        return
    try:
        actual = parse_config(path.read_text(), str(path)).sha256
    except AcmgConfigError as exc:
        result.add("classification:config", FAILED, str(exc))
        return
    _compare(result, "classification:config", sha, actual)
