"""Request and response shapes of the realtime API (they are also its OpenAPI document)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

VariantString = Annotated[str, StringConstraints(min_length=1, max_length=1000)]
Label = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:@/ -]+$")]


class AnnotateRequest(BaseModel):
    """Exactly one of `variants`, `vcf` or `sequence`."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"variants": ["21-25891796-C-T", "ENST00000346798.7:c.2149G>A"]}]},
    )

    variants: list[VariantString] | None = Field(
        None, min_length=1, description="`21-25891796-C-T`, `21:g.25891796C>T` or HGVS c. on a bundle transcript"
    )
    vcf: str | None = Field(None, min_length=1, description="VCF text (header and records)")
    sequence: str | None = Field(None, min_length=1, description="raw DNA read from a gene region (ACGTN)")

    @model_validator(mode="after")
    def _exactly_one(self) -> AnnotateRequest:
        given = [k for k in ("variants", "vcf", "sequence") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of 'variants', 'vcf' or 'sequence'"
                + (f" (got {', '.join(given)})" if given else " (got none)")
            )
        return self


class SubmissionRequest(BaseModel):
    """A large VCF for the batch pipeline. `patient_id` is pseudonymised (keyed HMAC) before it goes anywhere."""

    model_config = ConfigDict(extra="forbid")

    vcf: str = Field(..., min_length=1, description="VCF text")
    patient_id: Annotated[str, StringConstraints(min_length=1, max_length=128)] | None = None
    sample: Label | None = Field(None, description="sample name to report (default: the VCF's first sample)")
    department: Label | None = None
    project: Label | None = None


class ErrorResponse(BaseModel):
    detail: Any


class Consequence(BaseModel):
    model_config = ConfigDict(extra="allow")
    Feature: str | None = None
    Consequence: str | None = None
    IMPACT: str | None = None


class VariantResult(BaseModel):
    model_config = ConfigDict(extra="allow")
    variant_id: str | None = None
    chrom: str | None = None
    pos: int | None = None
    ref: str | None = None
    alt: str | None = None
    most_severe_consequence: str | None = None
    impact: str | None = None
    gene_symbol: str | None = None
    hgvsc: str | None = None
    hgvsp: str | None = None
    clin_sig: str | None = None
    pathogenicity_score: float | None = None
    acmg_class: str | None = None  # ACMG/AMP class from the Tavtigian 2020 points (docs/acmg.md)
    acmg_points: int | None = None
    acmg_criteria: str | None = None  # "PVS1, PM2_Supporting"
    acmg_evidence: list[str] = []  # one line per met criterion, naming its evidence
    acmg_not_evaluated: list[str] = []  # criteria this variant's data could not decide, with the reason
    acmg_richards_class: str | None = None  # Richards 2015 Table 5 on the same criteria
    acmg_rules_agree: bool | None = None
    frequencies: dict[str, float | None] = {}
    consequences: list[Consequence] = []


class Reject(BaseModel):
    line: int | None = None
    variant_id: str | None = None
    field: str | None = None
    reason: str | None = None
    text: str | None = None


class AnnotateResponse(BaseModel):
    result_id: str
    input_kind: str
    n_variants: int
    n_rejects: int
    variants: list[VariantResult]
    rejects: list[Reject]
    model: dict[str, str] | None = None
    bundle_sha256: str | None = None
    provenance_url: str
    acmg: dict[str, Any] | None = None  # classification version, config sha256, criteria never evaluated
    elapsed_ms: float


class SubmissionAccepted(BaseModel):
    submission_id: str
    status: str
    status_url: str
    input_uri: str


class SubmissionStatus(BaseModel):
    model_config = ConfigDict(extra="allow")
    submission_id: str
    status: str
    submitted_at: str | None = None
    updated_at: str | None = None
    report_uri: str | None = None
    report: Any = None
