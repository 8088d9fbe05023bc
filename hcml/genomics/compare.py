"""Agreement with Ensembl VEP: annotate a VCF, read VEP's --tab output for the same VCF, and compare row
by row on the transcripts both have (VEP's cache and the GTF differ by a few transcripts)."""

from __future__ import annotations

import gzip
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

if TYPE_CHECKING:
    from hcml.genomics.bundle.load import ReferenceBundle

FIELDS = [
    "Consequence",
    "IMPACT",
    "cDNA_position",
    "CDS_position",
    "Protein_position",
    "Amino_acids",
    "Codons",
    "EXON",
    "INTRON",
    "HGVSc",
    "HGVSp",
    "HGVSg",
    "DISTANCE",
    "STRAND",
    "CANONICAL",
    "FLAGS",
    "SYMBOL",
    "BIOTYPE",
    "Gene",
    "Allele",
    "Location",
]
KEY = ["Uploaded_variation", "Feature"]


def read_vep_tab(path: Path) -> pl.DataFrame:
    """VEP --tab output (plain or gzipped) as strings, '-' as null."""
    opener = gzip.open if Path(path).read_bytes()[:2] == b"\x1f\x8b" else open
    with opener(path, "rt") as fh:
        lines = [ln for ln in fh if not ln.startswith("##")]
    if not lines or not lines[0].lstrip("#").startswith("Uploaded_variation"):
        raise ValueError(f"{path}: not a VEP --tab file (no 'Uploaded_variation' header)")
    lines[0] = lines[0].lstrip("#")
    return pl.read_csv(
        io.StringIO("".join(lines)), separator="\t", infer_schema=False, null_values=["-"], quote_char=None
    )


@dataclass
class Comparison:
    n_variants: int
    vep_variants: int
    shared_transcripts: int
    vep_rows: int
    our_rows: int
    matched_rows: int
    missing_rows: pl.DataFrame  # in VEP, not in ours
    extra_rows: pl.DataFrame  # in ours, not in VEP
    field_agreement: dict[str, float] = field(default_factory=dict)
    disagreements: dict[str, pl.DataFrame] = field(default_factory=dict)

    @property
    def row_agreement(self) -> float:
        """Matched rows over the union of rows (VEP's and ours) on shared transcripts."""
        union = self.matched_rows + self.missing_rows.height + self.extra_rows.height
        return self.matched_rows / union if union else 1.0


def _as_text(df: pl.DataFrame) -> pl.DataFrame:
    """Everything as text, '-' as null (VEP's tab output cannot tell a deleted allele from a missing value)."""
    return df.with_columns([pl.col(c).cast(pl.Utf8).replace("-", None) for c in df.columns])


def compare_annotations(
    ours: pl.DataFrame, vep: pl.DataFrame, n_variants: int | None = None, fields: list[str] = FIELDS
) -> Comparison:
    ours = _as_text(ours.filter(pl.col("Feature").is_not_null()).select(KEY + [f for f in fields if f in ours.columns]))
    vep = _as_text(vep.filter(pl.col("Feature").is_not_null()).select(KEY + [f for f in fields if f in vep.columns]))
    shared = set(ours["Feature"].unique().to_list()) & set(vep["Feature"].unique().to_list())
    # compare the variants VEP reports (its output may cover a subset of the input)
    ours = ours.filter(pl.col("Uploaded_variation").is_in(vep["Uploaded_variation"].unique().implode()))
    ours_s = ours.filter(pl.col("Feature").is_in(list(shared)))
    vep_s = vep.filter(pl.col("Feature").is_in(list(shared)))
    joined = vep_s.join(ours_s, on=KEY, how="inner", suffix="_ours")
    missing = vep_s.join(ours_s, on=KEY, how="anti")
    extra = ours_s.join(vep_s, on=KEY, how="anti")
    agreement, dis = {}, {}
    for f in fields:
        if f not in vep.columns or f not in ours.columns:
            continue
        eq = joined[f].eq_missing(joined[f"{f}_ours"])
        agreement[f] = float(eq.mean()) if joined.height else 1.0
        dis[f] = joined.filter(~eq).select(KEY + [f, f"{f}_ours"])
    return Comparison(
        n_variants=n_variants if n_variants is not None else vep["Uploaded_variation"].n_unique(),
        vep_variants=vep["Uploaded_variation"].n_unique(),
        shared_transcripts=len(shared),
        vep_rows=vep_s.height,
        our_rows=ours_s.height,
        matched_rows=joined.height,
        missing_rows=missing,
        extra_rows=extra,
        field_agreement=agreement,
        disagreements=dis,
    )


def compare_with_vep(vcf: Path, vep_tab: Path, bundle: ReferenceBundle) -> Comparison:
    """Annotate `vcf` with hcml and compare with VEP's tab output for the same file."""
    from hcml.genomics.annotate import annotate
    from hcml.genomics.inputs import read_vcf

    parsed = read_vcf(vcf, bundle)
    ours = annotate(parsed.variants, bundle)
    return compare_annotations(ours, read_vep_tab(vep_tab), n_variants=parsed.variants.height)


def format_report(c: Comparison, show: int = 0) -> str:
    lines = [
        f"variants: {c.n_variants:,} annotated, {c.vep_variants:,} in VEP's output (compared); "
        f"transcripts in both: {c.shared_transcripts}",
        f"rows on shared transcripts: VEP {c.vep_rows:,}, hcml {c.our_rows:,}, matched {c.matched_rows:,}, "
        f"missing in hcml {c.missing_rows.height:,}, extra in hcml {c.extra_rows.height:,}",
        f"row agreement: {100 * c.row_agreement:.3f}%",
        "field agreement on matched rows:",
    ]
    for f, a in c.field_agreement.items():
        lines.append(f"  {f:<18} {100 * a:8.3f}%  ({c.disagreements[f].height:,} differ)")
        if show and c.disagreements[f].height:
            for r in c.disagreements[f].head(show).iter_rows():
                lines.append(f"      {r[0]} {r[1]}: VEP {r[2]!r} hcml {r[3]!r}")
    if show:
        for name, df in (("missing in hcml", c.missing_rows), ("extra in hcml", c.extra_rows)):
            for r in df.head(show).select(KEY + ["Consequence"]).iter_rows():
                lines.append(f"  {name}: {r[0]} {r[1]} {r[2]}")
    return "\n".join(lines)
