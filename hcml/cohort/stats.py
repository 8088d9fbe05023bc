"""Per-site allele statistics of a cohort VCF, with each site annotated once (not once per sample).

Counting rules (as `bcftools +fill-tags` AC/AN and `bcftools norm -m-` splitting):
- AC: alleles equal to the row's ALT over all samples; AN: called alleles ('.' not counted); AF = AC / AN;
- a genotype is missing when any of its alleles is '.'; hom-ref: every allele is reference (other ALTs of a
  split multi-allelic record count as reference), het: some but not all alleles are the ALT, hom-alt: all
  are (a haploid ALT call counts as hom-alt); call rate = (samples - missing) / samples;
- carriers: samples with at least one copy of the ALT.

The work streams: each chunk of records is counted (numpy), its sites checked, normalised and annotated
(`hcml.genomics`), and written as one Parquet part; the parts are joined by a polars lazy scan and sunk to
the output, so memory is bounded by one chunk whatever the number of sites.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from hcml.cohort.genotypes import GenotypeChunk, read_chunks

if TYPE_CHECKING:
    from hcml.genomics.bundle.load import ReferenceBundle

SITE_ANNOTATION_COLUMNS = [
    "most_severe_consequence",
    "impact",
    "gene_id",
    "gene_symbol",
    "transcript_id",
    "biotype",
    "hgvsc",
    "hgvsp",
    "existing_variation",
    "af",
    "afr_af",
    "amr_af",
    "eas_af",
    "eur_af",
    "sas_af",
    "gnomade_af",
    "clin_sig",
]


def site_counts(chunk: GenotypeChunk, groups: np.ndarray | None = None, n_groups: int = 0) -> dict[str, np.ndarray]:
    """The counts of every row of a chunk (see the module's rules); with `groups` (a group index per
    sample), AC and AN per group as (rows x n_groups) arrays under `ac_by_group` / `an_by_group`."""
    g = chunk.alleles
    k = chunk.allele.astype(np.int16)[:, None]
    # the two allele slots apart: reductions over a last axis of length 2 are slow in numpy
    a0, a1 = g[..., 0], g[..., 1]
    n_called = (a0 >= 0).astype(np.int16) + (a1 >= 0)
    dose = (a0 == k).astype(np.int16) + (a1 == k)
    missing = (a0 == -1) | (a1 == -1) | (n_called == 0)
    full = ~missing
    n_samples = g.shape[1]
    out = {
        "allele_count": dose.sum(axis=1, dtype=np.int64),
        "allele_number": n_called.sum(axis=1, dtype=np.int64),
        "carriers": (dose > 0).sum(axis=1, dtype=np.int64),
        "n_hom_ref": (full & (dose == 0)).sum(axis=1, dtype=np.int64),
        "n_het": (full & (dose > 0) & (dose < n_called)).sum(axis=1, dtype=np.int64),
        "n_hom_alt": (full & (dose > 0) & (dose == n_called)).sum(axis=1, dtype=np.int64),
        "n_missing": missing.sum(axis=1, dtype=np.int64),
    }
    out["call_rate"] = (n_samples - out["n_missing"]) / n_samples
    if groups is not None and n_groups:
        onehot = np.zeros((n_samples, n_groups), np.float32)
        onehot[np.arange(n_samples), groups] = 1.0
        out["ac_by_group"] = np.rint(dose.astype(np.float32) @ onehot).astype(np.int64)
        out["an_by_group"] = np.rint(n_called.astype(np.float32) @ onehot).astype(np.int64)
    return out


@dataclass
class CohortSummary:
    path: Path  # Parquet: one row per accepted site x ALT
    rejects_path: Path  # Parquet: REJECT_SCHEMA rows (site-level problems), may be empty
    n_samples: int
    n_input: int  # site rows (one per ALT) read
    n_sites: int  # accepted = annotated
    n_rejected: int
    populations: list[str]


def read_panel(path: str | Path) -> pl.DataFrame:
    """A 1000 Genomes-style sample panel (tab-separated, columns sample and super_pop)."""
    panel = pl.read_csv(path, separator="\t", infer_schema=False)
    missing = {"sample", "super_pop"} - set(panel.columns)
    if missing:
        from hcml.genomics.errors import InputError

        raise InputError(f"{Path(path).name}: the panel needs columns sample and super_pop; missing {sorted(missing)}")
    return panel.select("sample", "super_pop")


def summarise_cohort(
    vcf: str | Path,
    bundle: ReferenceBundle,
    out: str | Path,
    panel: pl.DataFrame | None = None,
    records: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> CohortSummary:
    """Annotate each site once and count every sample's genotypes, streaming; write `out` (Parquet).

    Columns: chrom, pos, ref, alt (as normalised for annotation), variant_id, line, the picked consequence
    and known-variant columns (SITE_ANNOTATION_COLUMNS), the counts of `site_counts`, allele_frequency, and
    with a panel `ac_<POP>`, `an_<POP>`, `af_<POP>` per super-population.
    """
    from hcml.cohort.genotypes import vcf_samples
    from hcml.genomics.annotate import annotate, summarise
    from hcml.genomics.errors import empty_rejects
    from hcml.genomics.inputs import finish

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    samples = vcf_samples(vcf)
    populations: list[str] = []
    groups = None
    if panel is not None:
        pop_of = dict(panel.select("sample", "super_pop").iter_rows())
        unknown = [s for s in samples if s not in pop_of]
        if unknown:
            from hcml.genomics.errors import InputError

            raise InputError(f"the panel lacks {len(unknown)} of the VCF's {len(samples)} samples")
        populations = sorted({pop_of[s] for s in samples})
        index = {p: i for i, p in enumerate(populations)}
        groups = np.array([index[pop_of[s]] for s in samples], np.int64)
    parts = Path(tempfile.mkdtemp(prefix="cohort-parts-", dir=out.parent))
    n_input = n_sites = 0
    rejects = []
    try:
        for i, chunk in enumerate(read_chunks(vcf, records=records)):
            counts = site_counts(chunk, groups, len(populations))
            parsed, rows = finish(chunk.sites, empty_rejects(), bundle, chunk.sites.height)
            n_input += parsed.n_input
            if parsed.rejects.height:
                rejects.append(parsed.rejects)
            if parsed.variants.height:
                picked = summarise(annotate(parsed.variants, bundle))
                frame = _part(chunk, counts, rows, picked, populations)
                frame.write_parquet(parts / f"part-{i:06d}.parquet")
                n_sites += frame.height
            if progress is not None:
                progress(n_input)
        schema_probe = sorted(parts.glob("part-*.parquet"))
        if schema_probe:
            pl.scan_parquet(parts / "part-*.parquet").sink_parquet(out)
        else:
            _empty_frame(populations).write_parquet(out)
        rejects_path = out.with_name(out.stem + ".rejects.parquet")
        (pl.concat(rejects) if rejects else empty_rejects()).write_parquet(rejects_path)
    finally:
        shutil.rmtree(parts, ignore_errors=True)
    n_rejected = n_input - n_sites
    return CohortSummary(out, rejects_path, len(samples), n_input, n_sites, n_rejected, populations)


def _part(
    chunk: GenotypeChunk, counts: dict, rows: pl.DataFrame, picked: pl.DataFrame, pops: list[str]
) -> pl.DataFrame:
    cand = rows["cand"].to_numpy()
    cols: dict[str, pl.Series] = {"row": rows["row"]}
    for name in (
        "allele_count",
        "allele_number",
        "carriers",
        "n_hom_ref",
        "n_het",
        "n_hom_alt",
        "n_missing",
        "call_rate",
    ):
        cols[name] = pl.Series(name, counts[name][cand])
    for j, pop in enumerate(pops):
        cols[f"ac_{pop}"] = pl.Series(counts["ac_by_group"][cand, j])
        cols[f"an_{pop}"] = pl.Series(counts["an_by_group"][cand, j])
    frame = pl.DataFrame(cols)
    site = rows.select("row", "line", "variant_id", "chrom", "pos", "ref", "alt")
    ann = picked.select("row", *SITE_ANNOTATION_COLUMNS)
    frame = (
        site.join(ann, on="row", how="left")
        .join(frame, on="row", how="left")
        .with_columns(_af("allele_count", "allele_number").alias("allele_frequency"))
        .with_columns(*[_af(f"ac_{p}", f"an_{p}").alias(f"af_{p}") for p in pops])
        .drop("row")
    )
    return frame


def _af(ac: str, an: str) -> pl.Expr:
    return pl.when(pl.col(an) > 0).then(pl.col(ac) / pl.col(an)).otherwise(None)


def _empty_frame(pops: list[str]) -> pl.DataFrame:
    schema = {
        "line": pl.Int64,
        "variant_id": pl.Utf8,
        "chrom": pl.Utf8,
        "pos": pl.Int64,
        "ref": pl.Utf8,
        "alt": pl.Utf8,
        **{c: pl.Utf8 for c in SITE_ANNOTATION_COLUMNS},
        **{c: pl.Int64 for c in ("allele_count", "allele_number", "carriers", "n_hom_ref", "n_het", "n_hom_alt")},
        "n_missing": pl.Int64,
        "call_rate": pl.Float64,
        "allele_frequency": pl.Float64,
    }
    for p in pops:
        schema.update({f"ac_{p}": pl.Int64, f"an_{p}": pl.Int64, f"af_{p}": pl.Float64})
    return pl.DataFrame(schema=schema)
