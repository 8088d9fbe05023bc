"""Which reports were built from a given input: a ClinVar release, a model version, a reference bundle, or
any input file by its SHA-256. Works on report provenance records (`hcml.provenance`), wherever they were read
from (the orchestrator's event log, the reports themselves); no database of its own."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

KINDS = ("clinvar_release", "model_version", "bundle", "input")
MIN_HASH_PREFIX = 8


class ImpactQueryError(ValueError):
    """A query that cannot be answered as given (names the option and why)."""


@dataclass(frozen=True)
class ReportRef:
    """One report as built: where it is, when, for whom (pseudonymised), and what it was built from."""

    partition: str
    created_at: str | None
    patient: str | None  # HMAC pseudonym, never the identifier
    report_uri: str | None
    run_id: str | None
    current: bool  # the latest report of its partition (older ones were superseded by a re-analysis)
    clinvar_release: str | None
    clinvar_sha256: str | None
    model_name: str | None
    model_version: str | None
    bundle_sha256: str | None
    input_sha256: str | None
    source_sha256: tuple[str, ...]  # every reference source file's SHA-256

    def as_dict(self) -> dict:
        out = asdict(self)
        out["source_sha256"] = list(self.source_sha256)
        return out


def report_ref(
    provenance: dict,
    *,
    partition: str,
    patient: str | None,
    report_uri: str | None,
    current: bool,
) -> ReportRef:
    bundle = provenance.get("reference_bundle") or {}
    sources = bundle.get("sources") or {}
    clinvar = sources.get("clinvar") or {}
    model = provenance.get("model") or {}
    run = provenance.get("run") or {}
    return ReportRef(
        partition=partition,
        created_at=run.get("report_created_at") or run.get("started_at"),
        patient=patient,
        report_uri=report_uri,
        run_id=run.get("run_id"),
        current=current,
        clinvar_release=clinvar.get("version"),
        clinvar_sha256=clinvar.get("sha256"),
        model_name=model.get("name"),
        model_version=None if model.get("version") is None else str(model.get("version")),
        bundle_sha256=bundle.get("bundle_sha256"),
        input_sha256=(provenance.get("input") or {}).get("sha256"),
        source_sha256=tuple(sorted(s.get("sha256") for s in sources.values() if s.get("sha256"))),
    )


def _hash_prefix(kind: str, value: str) -> str:
    v = value.strip().lower()
    if len(v) < MIN_HASH_PREFIX or any(c not in "0123456789abcdef" for c in v):
        raise ImpactQueryError(
            f"--{kind.replace('_', '-')}: expected a SHA-256 (hex, at least {MIN_HASH_PREFIX} characters)"
        )
    return v


def matches(ref: ReportRef, kind: str, value: str) -> bool:
    """Whether `ref` was built from the input named by (kind, value).

    clinvar_release: the release date or name as the bundle manifest records it (`2016-05-20` or
    `ClinVar 2016-05-20`), or the release file's SHA-256 (prefix); model_version: the model version;
    bundle: the bundle's SHA-256 (prefix); input: the SHA-256 (prefix) of the patient's input file or of any
    reference source file."""
    if kind == "clinvar_release":
        v = value.strip()
        release = ref.clinvar_release or ""
        if release and (release == v or release.removeprefix("ClinVar ").strip() == v):
            return True
        return len(v) >= MIN_HASH_PREFIX and (ref.clinvar_sha256 or "").startswith(v.lower())
    if kind == "model_version":
        return ref.model_version is not None and ref.model_version == value.strip()
    if kind == "bundle":
        return (ref.bundle_sha256 or "").startswith(_hash_prefix(kind, value))
    if kind == "input":
        prefix = _hash_prefix(kind, value)
        return any(h.startswith(prefix) for h in (ref.input_sha256 or "", *ref.source_sha256) if h)
    raise ImpactQueryError(f"unknown query kind {kind!r}: one of {', '.join(KINDS)}")


def impact(refs: list[ReportRef], kind: str, value: str) -> list[ReportRef]:
    """Every report built from the input, oldest first (then by partition)."""
    if kind in ("bundle", "input"):
        _hash_prefix(kind, value)
    found = [r for r in refs if matches(r, kind, value)]
    return sorted(found, key=lambda r: (r.created_at or "", r.partition))


TABLE_COLUMNS = ("partition", "created_at", "patient", "current", "clinvar_release", "model_version", "bundle_sha256")


def as_table(refs: list[ReportRef]) -> str:
    """A plain-text table (hashes and pseudonyms shortened to 12 characters)."""

    def cell(ref: ReportRef, col: str) -> str:
        v = getattr(ref, col)
        text = "-" if v is None else ("yes" if v is True else "no" if v is False else str(v))
        return text[:12] if col in ("patient", "bundle_sha256") and v else text

    rows = [TABLE_COLUMNS, *[tuple(cell(r, c) for c in TABLE_COLUMNS) for r in refs]]
    widths = [max(len(row[i]) for row in rows) for i in range(len(TABLE_COLUMNS))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in rows]
    return "\n".join(lines) + f"\n{len(refs)} report(s)"


def as_json(refs: list[ReportRef]) -> str:
    return json.dumps([r.as_dict() for r in refs], indent=2, sort_keys=True)
