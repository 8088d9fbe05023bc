"""Protein sequences and gene constraint for the features: where they come from, and the rules that read them.

Sequences: a ClinVar row's `hgvs_p` names its RefSeq protein (`NP_000475.1:p.Val717Ile`); the sequence comes
from `data/protein/refseq_proteins.clinvar2016.fa.gz` (matched on the accession without version). A variant
annotated against the reference bundle names the bundle's Ensembl protein (`ENSP...`), and its sequence is
the bundle's own translation of that transcript (`bundle_proteins`). Either way a sequence is used for a row
only where its residue at the HGVS position is the HGVS reference residue (`protein_features`); otherwise
the row has no sequence. The features of a row without a sequence are NaN: there is no "has a sequence"
input (coverage is biased towards pathogenic rows); the model fills them (see hcml.ml.training).

Constraint: gnomAD v2.1 per gene (canonical transcript), `data/constraint/`, matched on the gene symbol.
"""

from __future__ import annotations

import functools
import gzip
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from hcml.config import reference_data_dir
from hcml.ml.aminoacids import AMINO_ACIDS, KYTE_DOOLITTLE

if TYPE_CHECKING:
    from hcml.genomics.bundle.load import ReferenceBundle

REFSEQ_PROTEINS = ("protein", "refseq_proteins.clinvar2016.fa.gz")
CONSTRAINT = ("constraint", "gnomad_v2.1_constraint.columns.tsv.gz")
CONSTRAINT_COLUMNS = ("mis_z", "oe_mis", "oe_mis_upper", "oe_lof_upper", "lof_z", "pLI", "syn_z")
CONSTRAINT_FEATURES = tuple(f"gene_{c.lower()}" for c in CONSTRAINT_COLUMNS)

WINDOW = 10  # residues either side for the local composition
NEAR = 3  # residues either side for the local hydropathy
_DISORDER_PROMOTING = frozenset("ARGQSPEK")  # Dunker et al. 2001
_CHARGED = frozenset("DEKR")
_AROMATIC = frozenset("FWY")
_HYDROPHOBIC = frozenset("AILMFVW")
PROTEIN_FEATURES = (
    "log_protein_length",
    "relative_position",
    "log_residues_to_c_term",
    "window_hydropathy",
    "near_hydropathy",
    "window_charged",
    "window_hydrophobic",
    "window_aromatic",
    "window_gly_pro",
    "window_cys",
    "window_disorder_promoting",
    "window_entropy",
    "window_same_as_ref",
    "protein_cys",
    "protein_disorder_promoting",
    "protein_hydropathy",
    "alt_vs_window_hydropathy",
    "ref_vs_window_hydropathy",
)


@functools.cache
def refseq_proteins() -> dict[str, str]:
    """RefSeq protein accession without version -> sequence (the shipped subset of ProteinGym's set)."""
    path = reference_data_dir().joinpath(*REFSEQ_PROTEINS)
    out: dict[str, list[str]] = {}
    name = None
    with gzip.open(path, "rt") as handle:
        for line in handle:
            if line.startswith(">"):
                name = line[1:].strip().split(".")[0]
                out[name] = []
            elif name is not None:
                out[name].append(line.strip())
    return {k: "".join(v) for k, v in out.items()}


@functools.cache
def constraint_table() -> tuple[dict[str, int], np.ndarray]:
    """Gene symbol -> row, and the (genes + 1, len(CONSTRAINT_COLUMNS)) float64 values (last row: NaN)."""
    path = reference_data_dir().joinpath(*CONSTRAINT)
    table = pl.read_csv(path, separator="\t", infer_schema_length=0, null_values=["NA", ""])
    values = table.select(pl.col(c).cast(pl.Float64, strict=False) for c in CONSTRAINT_COLUMNS).to_numpy()
    rows = {g: i for i, g in reversed(list(enumerate(table["gene"].to_list())))}
    return rows, np.vstack([values, np.full((1, len(CONSTRAINT_COLUMNS)), np.nan)])


def constraint_features(gene_symbol: Sequence[str | None]) -> np.ndarray:
    """(n, len(CONSTRAINT_FEATURES)) float64: gnomAD constraint of each row's gene, NaN for genes it lacks."""
    rows, values = constraint_table()
    missing = len(values) - 1
    return values[
        np.fromiter(
            (rows.get(g, missing) if g is not None else missing for g in gene_symbol), np.int64, len(gene_symbol)
        )
    ]


def bundle_proteins(bundle: ReferenceBundle, summary: pl.DataFrame) -> dict[str, str]:
    """The bundle's translation of each summary row's transcript, keyed by the protein accession its HGVSp
    names (Ensembl protein id, or the transcript id when the bundle has no protein id), without version."""
    from hcml.genomics.transcript_map import TranscriptIndex

    if "transcript_id" not in summary.columns or summary.height == 0:
        return {}
    idx = TranscriptIndex.of(bundle)
    out: dict[str, str] = {}
    for t_id in set(summary.get_column("transcript_id").drop_nulls().to_list()):
        try:
            t = idx.index(t_id)
        except KeyError:
            continue
        if not idx.coding[t]:
            continue
        key = idx.protein_prefix[t].split(":", 1)[0].split(".", 1)[0]
        out[key] = idx.ref_protein(t).rstrip("*")
    return out


_KD = {aa: KYTE_DOOLITTLE[aa] for aa in AMINO_ACIDS}
_AA_SET = frozenset(AMINO_ACIDS)


def _fraction(window: str, members: frozenset[str]) -> float:
    return sum(r in members for r in window) / len(window)


def _hydropathy(text: str) -> float:
    values = [_KD[r] for r in text if r in _KD]
    return sum(values) / len(values) if values else 0.0


@functools.lru_cache(maxsize=4096)
def _protein_wide(sequence: str) -> tuple[float, float, float]:
    return (_fraction(sequence, frozenset("C")), _fraction(sequence, _DISORDER_PROMOTING), _hydropathy(sequence))


def _entropy(window: str) -> float:
    counts = np.array([window.count(a) for a in set(window)], dtype=np.float64) / len(window)
    return float(-(counts * np.log2(counts)).sum())


def protein_features(
    accessions: Sequence[str | None],
    positions: np.ndarray,
    ref_aa: Sequence[str | None],
    alt_aa: Sequence[str | None],
    sequences: Mapping[str, str] | None,
) -> np.ndarray:
    """(n, len(PROTEIN_FEATURES)) float64 for rows whose protein sequence is known and has the HGVS reference
    residue `ref_aa` at `positions` (1-based); NaN elsewhere. `alt_aa` (missense only) for the alt columns."""
    n = len(accessions)
    out = np.full((n, len(PROTEIN_FEATURES)), np.nan)
    if not sequences:
        return out
    for i in range(n):
        acc, ref = accessions[i], ref_aa[i]
        pos = positions[i]
        if (
            acc is None or ref is None or pos != pos
        ):  # no accession / residue / position (NaN is the one value unequal to itself)
            continue
        seq = sequences.get(acc)
        p = int(pos)
        if seq is None or not 1 <= p <= len(seq) or seq[p - 1] != ref:
            continue  # no sequence, or not the protein the HGVS describes
        length = len(seq)
        window = seq[max(0, p - 1 - WINDOW) : p + WINDOW]
        near = seq[max(0, p - 1 - NEAR) : p + NEAR]
        w_kd = _hydropathy(window)
        cys, disorder, kd = _protein_wide(seq)
        alt = alt_aa[i]
        out[i] = (
            np.log1p(length),
            p / length,
            np.log1p(length - p),
            w_kd,
            _hydropathy(near),
            _fraction(window, _CHARGED),
            _fraction(window, _HYDROPHOBIC),
            _fraction(window, _AROMATIC),
            _fraction(window, frozenset("GP")),
            _fraction(window, frozenset("C")),
            _fraction(window, _DISORDER_PROMOTING),
            _entropy(window),
            window.count(ref) / len(window),
            cys,
            disorder,
            kd,
            (_KD[alt] - w_kd) if alt in _KD else 0.0,
            (_KD[ref] - w_kd) if ref in _KD else 0.0,
        )
    return out
