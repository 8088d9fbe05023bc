"""Variant features for the pathogenicity model, derived from HGVS c./p. notation.

One code path: ClinVar training rows (HGVS on RefSeq NM_/NP_) and variants annotated in the clinic
(HGVSc/HGVSp on Ensembl ENST/ENSP from `hcml.genomics.annotate`) both go through `hgvs_features()`,
so a variant gets exactly the features it would have had in training. The annotator's consequence string
is only a fall-back for variants with no HGVS at all (intergenic, upstream...), which ClinVar rows never
use for classification (they have no consequence column; they get class `other`).

The shape is the annotator's: the text is read once per variant into plain values (`hcml.ml.hgvs_text`),
then every rule is one numpy expression over those columns, the same code for one clinical variant and for
the 117k ClinVar rows. `FeatureBlock` holds the result as arrays (the scorer reads them directly);
`.frame()` makes the polars table.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import NamedTuple

import numpy as np
import polars as pl

from hcml.ml import hgvs_text
from hcml.ml.aminoacids import (
    AMINO_ACIDS,
    AROMATIC,
    BLOSUM62,
    CHARGE,
    GRANTHAM,
    KYTE_DOOLITTLE,
    POLARITY,
    THREE_TO_ONE,
    VOLUME,
)
from hcml.ml.proteins import (
    CONSTRAINT_FEATURES,
    PROTEIN_FEATURES,
    constraint_features,
    protein_features,
    refseq_proteins,
)

# Consequence classes, most damaging first. The model one-hot encodes them; evaluation reports per class.
CONSEQUENCE_CLASSES: tuple[str, ...] = (
    "stop_gained",
    "frameshift",
    "splice_site",  # intronic offset 1-2 (VEP splice_donor/acceptor_variant)
    "start_lost",
    "stop_lost",
    "inframe_indel",
    "missense",
    "splice_region",  # intronic offset 3-8, or 3-17 on the acceptor side (VEP splice_region, donor 5th
    # base / donor region, polypyrimidine tract)
    "coding_other",  # coding change HGVS cannot classify further (e.g. p.?)
    "synonymous",
    "five_prime_utr",
    "three_prime_utr",
    "intron",
    "non_coding",
    "other",  # no HGVS: intergenic, up/downstream, regulatory
)

# Fall-back for rows with no HGVSc: the annotator's SO term -> class.
_SO_FALLBACK: dict[str, str] = {
    "stop_gained": "stop_gained",
    "frameshift_variant": "frameshift",
    "splice_donor_variant": "splice_site",
    "splice_acceptor_variant": "splice_site",
    "start_lost": "start_lost",
    "stop_lost": "stop_lost",
    "inframe_insertion": "inframe_indel",
    "inframe_deletion": "inframe_indel",
    "missense_variant": "missense",
    "splice_region_variant": "splice_region",
    "splice_donor_5th_base_variant": "splice_region",
    "splice_donor_region_variant": "splice_region",
    "splice_polypyrimidine_tract_variant": "splice_region",
    "synonymous_variant": "synonymous",
    "stop_retained_variant": "synonymous",
    "start_retained_variant": "synonymous",
    "5_prime_UTR_variant": "five_prime_utr",
    "3_prime_UTR_variant": "three_prime_utr",
    "intron_variant": "intron",
    "non_coding_transcript_exon_variant": "non_coding",
    "non_coding_transcript_variant": "non_coding",
    "mature_miRNA_variant": "non_coding",
}

# Numeric features the network sees, in order (the exported spec stores this list).
AA_PROPERTY_FEATURES = (
    "blosum62",
    "grantham",
    "hydrophobicity_delta",
    "hydrophobicity_abs_delta",
    "charge_delta",
    "charge_changed",
    "volume_delta",
    "volume_abs_delta",
    "polarity_delta",
    "aromatic_changed",
    "to_proline",
    "from_proline",
    "to_glycine",
    "from_glycine",
    "from_cysteine",
    "to_cysteine",
)
POSITION_FEATURES = (
    "log_protein_position",
    "log_cds_position",
    "is_intronic",
    "log_intron_offset",
    "intron_offset_le2",
    "intron_offset_le8",
    "intron_donor_side",
    "log_utr_distance",
    "is_snv",
    "is_deletion",
    "is_insertion",
    "is_duplication",
    "is_delins",
    "log_indel_length",
    "indel_in_frame",
    "has_protein_change",
)
REF_AA_FEATURES = tuple(f"ref_aa_{aa}" for aa in AMINO_ACIDS)
ALT_AA_FEATURES = tuple(f"alt_aa_{aa}" for aa in AMINO_ACIDS)
CLASS_FEATURES = tuple(f"class_{c}" for c in CONSEQUENCE_CLASSES)
VARIANT_FEATURES: tuple[str, ...] = (
    CLASS_FEATURES + AA_PROPERTY_FEATURES + POSITION_FEATURES + REF_AA_FEATURES + ALT_AA_FEATURES
)
# Carried in the feature table but not fed to the network: ClinVar rows almost never have a population
# frequency (0.03% inside the bundle region), so a network could only learn "AF known" from a handful of
# rows -- a leak-prone, out-of-distribution signal in the clinic. Reported, not modelled.
POPULATION_FEATURES = ("af_known", "log10_af")
# Added by the model from its training genes (see hcml.ml.genes).
GENE_FEATURES = ("gene_known", "gene_log_n", "gene_pathogenic_rate", "gene_missense_pathogenic_rate")

# Read from the protein sequence and the gene (hcml.ml.proteins); NaN where the row has none.
SEQUENCE_FEATURES: tuple[str, ...] = PROTEIN_FEATURES + CONSTRAINT_FEATURES
# the Float32 columns of `hgvs_features` after the five leading ones, in output order
FLOAT_FEATURES: tuple[str, ...] = VARIANT_FEATURES + POPULATION_FEATURES + SEQUENCE_FEATURES

_UTR_PREFIXES = ("-", "*")
_SPLICE_SITE_MAX = 2  # intronic offset <= 2: splice_site
_SPLICE_REGION_MAX = 8  # <= 8 either side: splice_region
_ACCEPTOR_REGION_MAX = 17  # <= 17 on the acceptor side (polypyrimidine tract): splice_region
_AF_FLOOR = 1e-6  # log10_af clips the frequency to [_AF_FLOOR, 1]
_AA_INDEX = {aa: i for i, aa in enumerate(AMINO_ACIDS)}


def _aa_properties(a: str, b: str) -> dict[str, float]:
    """The substitution-property features (AA_PROPERTY_FEATURES) of residue `a` -> `b`."""
    return {
        "blosum62": float(BLOSUM62[(a, b)]),
        "grantham": GRANTHAM[(a, b)],
        "hydrophobicity_delta": KYTE_DOOLITTLE[b] - KYTE_DOOLITTLE[a],
        "hydrophobicity_abs_delta": abs(KYTE_DOOLITTLE[b] - KYTE_DOOLITTLE[a]),
        "charge_delta": CHARGE[b] - CHARGE[a],
        "charge_changed": float(CHARGE[b] != CHARGE[a]),
        "volume_delta": VOLUME[b] - VOLUME[a],
        "volume_abs_delta": abs(VOLUME[b] - VOLUME[a]),
        "polarity_delta": POLARITY[b] - POLARITY[a],
        "aromatic_changed": float((a in AROMATIC) != (b in AROMATIC)),
        "to_proline": float(b == "P"),
        "from_proline": float(a == "P"),
        "to_glycine": float(b == "G"),
        "from_glycine": float(a == "G"),
        "from_cysteine": float(a == "C"),
        "to_cysteine": float(b == "C"),
    }


@functools.cache
def _aa_property_table() -> np.ndarray:
    """(20, 20, len(AA_PROPERTY_FEATURES)) float64: the substitution properties of every residue pair."""
    table = np.zeros((len(AMINO_ACIDS), len(AMINO_ACIDS), len(AA_PROPERTY_FEATURES)))
    for i, a in enumerate(AMINO_ACIDS):
        for j, b in enumerate(AMINO_ACIDS):
            props = _aa_properties(a, b)
            table[i, j] = [props[f] for f in AA_PROPERTY_FEATURES]
    return table


class FeatureBlock(NamedTuple):
    """`hgvs_features`' result as arrays; `frame()` is the table, `values` the Float32 features."""

    gene_symbol: list[str | None]
    consequence_class: np.ndarray  # object (str)
    ref_aa: np.ndarray  # object (str | None)
    alt_aa: np.ndarray
    protein_position: np.ndarray  # float64, NaN where unknown
    values: np.ndarray  # (n, len(FLOAT_FEATURES)) float32

    def frame(self) -> pl.DataFrame:
        """One row per variant: gene_symbol, consequence_class, ref_aa, alt_aa, protein_position (Int64),
        then FLOAT_FEATURES (Float32, never null; NaN only in SEQUENCE_FEATURES, where a row has no sequence
        or its gene no constraint)."""
        pos = self.protein_position
        head = pl.DataFrame(
            {
                "gene_symbol": pl.Series(self.gene_symbol, dtype=pl.Utf8),
                "consequence_class": pl.Series(self.consequence_class.tolist(), dtype=pl.Utf8),
                "ref_aa": pl.Series(self.ref_aa.tolist(), dtype=pl.Utf8),
                "alt_aa": pl.Series(self.alt_aa.tolist(), dtype=pl.Utf8),
                "protein_position": pl.Series(np.nan_to_num(pos).astype(np.int64)).set(pl.Series(np.isnan(pos)), None)
                if len(pos)
                else pl.Series([], dtype=pl.Int64),
            }
        )
        floats = (
            pl.DataFrame(self.values, schema=list(FLOAT_FEATURES), orient="row")
            if len(pos)
            else pl.DataFrame(schema=dict.fromkeys(FLOAT_FEATURES, pl.Float32))
        )
        return head.hstack(floats)


_CLASS_CODE = {c: i for i, c in enumerate(CONSEQUENCE_CLASSES)}
_CLASS_NAMES = np.array(CONSEQUENCE_CLASSES, dtype=object)
_TER, _MET = hgvs_text.RESIDUE_CODE["Ter"], hgvs_text.RESIDUE_CODE["Met"]


@functools.cache
def _residue_tables(n_names: int) -> tuple[np.ndarray, np.ndarray]:
    """Residue code -> (one-letter name or None, index in AMINO_ACIDS or -1), for the codes given so far."""
    one = [THREE_TO_ONE.get(name) for name in hgvs_text.RESIDUE_NAME[:n_names]]
    return np.array(one + [None], dtype=object), np.array([_AA_INDEX.get(o, -1) for o in one] + [-1], np.int64)


def feature_block(
    hgvs_c: list, hgvs_p: list, gene_symbol: list, af: list, fallback: list, sequences: Mapping[str, str] | None = None
) -> FeatureBlock:
    """The rules: HGVS text (and the annotator's SO term where there is no HGVS) -> features, in numpy.
    `sequences`: protein accession (no version) -> sequence, for the protein features (hcml.ml.proteins)."""
    p, accessions = hgvs_text.read_columns(hgvs_c, hgvs_p)
    n = len(gene_symbol)
    so_class = np.fromiter(
        (
            _CLASS_CODE[_SO_FALLBACK.get(f.split(",", 1)[0], "other")] if f is not None else _CLASS_CODE["other"]
            for f in fallback
        ),
        np.int64,
        n,
    )
    c_start, c_off, c_end, c_end_off = p["c_start"], p["c_off"], p["c_end"], p["c_end_off"]
    K, P, S = hgvs_text.KIND, hgvs_text.PREFIX, hgvs_text.SIGN
    kind_c, kind_n = p["c_kind"] == K["c"], p["c_kind"] == K["n"]
    prefix_none, prefix_minus, prefix_star = (p["c_prefix"] == P[x] for x in (None, "-", "*"))
    # span in coding coordinates when both ends are plain (same region, no intronic offset)
    plain_range = ~np.isnan(c_end) & np.isnan(c_off) & np.isnan(c_end_off) & (p["c_prefix"] == p["c_end_prefix"])
    span = np.where(np.isnan(c_end), 1.0, np.where(plain_range, np.abs(c_end - c_start) + 1, np.nan))
    # intronic offset: the nearer exon boundary of the range ends; donor side from the end that has it
    intron_offset = np.fmin(c_off, c_end_off)
    has_io = ~np.isnan(intron_offset)
    donor = np.where(~np.isnan(c_off), p["c_off_sign"] == S["+"], p["c_end_off_sign"] == S["+"])
    # net length of the nucleotide change
    deleted = np.where(np.isnan(p["del_seq_len"]), span, p["del_seq_len"])
    inserted = np.nan_to_num(p["ins_seq_len"], nan=0.0)
    dup = np.where(np.isnan(p["dup_seq_len"]), span, p["dup_seq_len"])
    flag = {
        k: p[k] == 1.0
        for k in (
            "has_c",
            "has_p",
            "snv",
            "delins",
            "is_del",
            "is_ins",
            "is_dup",
            "p_eq",
            "p_fs",
            "p_ext",
            "p_indel",
            "p_syn",
            "p_rest_has_ter",
        )
    }
    net_length = np.select(
        [flag["snv"], flag["delins"], flag["is_del"], flag["is_dup"], flag["is_ins"]],
        [np.zeros(n), inserted - deleted, -deleted, dup, inserted],
        np.nan,
    )
    has_nl = ~np.isnan(net_length)
    # the class: protein change first, then the c. position, then the SO term
    p_ref3, p_alt3 = p["p_ref3"], p["p_alt3"]
    has_p = ~np.isnan(p_ref3)
    coding = kind_c & prefix_none
    coding_exonic = coding & ~has_io
    in_frame = np.mod(np.nan_to_num(net_length), 3) == 0
    rules = [
        (~flag["has_c"] & ~flag["has_p"], so_class),
        (flag["p_eq"] & coding_exonic, "synonymous"),
        (has_p & flag["p_fs"], "frameshift"),
        (has_p & (p_ref3 == _TER) & flag["p_ext"], "stop_lost"),
        (has_p & flag["p_syn"], "synonymous"),
        (has_p & (p["p_pos"] == 1) & (p_ref3 == _MET), "start_lost"),
        (has_p & (p_alt3 == _TER), "stop_gained"),
        (has_p & flag["p_indel"] & flag["p_rest_has_ter"], "stop_gained"),
        (has_p & flag["p_indel"], "inframe_indel"),
        (has_p & ~np.isnan(p_alt3) & (p_alt3 != p_ref3), "missense"),
        (has_io & (intron_offset <= _SPLICE_SITE_MAX), "splice_site"),
        (
            has_io & ((intron_offset <= _SPLICE_REGION_MAX) | (~donor & (intron_offset <= _ACCEPTOR_REGION_MAX))),
            "splice_region",
        ),
        (has_io, "intron"),
        (kind_n, "non_coding"),
        (kind_c & prefix_minus, "five_prime_utr"),
        (kind_c & prefix_star, "three_prime_utr"),
        # a coding change without a usable p.: decided from the nucleotide change
        (coding_exonic & (c_start <= 3) & in_frame, "start_lost"),
        (coding_exonic & has_nl & ~in_frame, "frameshift"),
        (coding_exonic & has_nl & (net_length != 0), "inframe_indel"),
        (kind_c, "coding_other"),
    ]
    codes = np.select([c for c, _ in rules], [_CLASS_CODE[v] if isinstance(v, str) else v for _, v in rules], so_class)
    klass = _CLASS_NAMES[codes]
    # residues: substitution properties only for missense
    missense = codes == _CLASS_CODE["missense"]
    one_letter, aa_index = _residue_tables(len(hgvs_text.RESIDUE_NAME))
    none = len(one_letter) - 1
    ref_code = np.where(missense & has_p, np.nan_to_num(p_ref3, nan=none), none).astype(np.int64)
    alt_code = np.where(missense & ~np.isnan(p_alt3), np.nan_to_num(p_alt3, nan=none), none).astype(np.int64)
    ref_aa, alt_aa = one_letter[ref_code], one_letter[alt_code]
    ri, ai = aa_index[ref_code], aa_index[alt_code]
    both = (ri >= 0) & (ai >= 0)

    coding_pos = np.where(coding, c_start, np.nan)
    protein_position = np.where(np.isnan(p["p_pos"]), np.floor((coding_pos + 2) / 3), p["p_pos"])
    values = np.zeros((n, len(FLOAT_FEATURES)), np.float64)
    col = {name: i for i, name in enumerate(FLOAT_FEATURES)}
    values[np.arange(n), col[f"class_{CONSEQUENCE_CLASSES[0]}"] + codes] = 1.0
    a0 = col[AA_PROPERTY_FEATURES[0]]
    values[both, a0 : a0 + len(AA_PROPERTY_FEATURES)] = _aa_property_table()[ri[both], ai[both]]
    rows = np.arange(n)
    values[rows[ri >= 0], col["ref_aa_A"] + ri[ri >= 0]] = 1.0
    values[rows[ai >= 0], col["alt_aa_A"] + ai[ai >= 0]] = 1.0
    values[:, col["log_protein_position"]] = np.log1p(np.nan_to_num(protein_position))
    values[:, col["log_cds_position"]] = np.log1p(np.nan_to_num(coding_pos))
    values[:, col["is_intronic"]] = has_io
    values[:, col["log_intron_offset"]] = np.log1p(np.nan_to_num(intron_offset))
    values[:, col["intron_offset_le2"]] = has_io & (intron_offset <= _SPLICE_SITE_MAX)
    values[:, col["intron_offset_le8"]] = has_io & (intron_offset <= _SPLICE_REGION_MAX)
    values[:, col["intron_donor_side"]] = has_io & donor
    values[:, col["log_utr_distance"]] = np.log1p(np.where(prefix_minus | prefix_star, np.nan_to_num(c_start), 0.0))
    for key, name in (
        ("snv", "is_snv"),
        ("is_del", "is_deletion"),
        ("is_ins", "is_insertion"),
        ("is_dup", "is_duplication"),
        ("delins", "is_delins"),
    ):
        values[:, col[name]] = flag[key]
    indel_len = np.abs(np.nan_to_num(net_length))
    values[:, col["log_indel_length"]] = np.log1p(indel_len)
    values[:, col["indel_in_frame"]] = (indel_len != 0) & (np.mod(indel_len, 3) == 0)
    values[:, col["has_protein_change"]] = has_p
    af_values = np.fromiter((np.nan if a is None else a for a in af), np.float64, n)
    af_known = ~np.isnan(af_values)
    values[:, col["af_known"]] = af_known
    s0 = col[SEQUENCE_FEATURES[0]]
    any_ref = one_letter[np.where(has_p, np.nan_to_num(p_ref3, nan=none), none).astype(np.int64)]
    values[:, s0 : s0 + len(PROTEIN_FEATURES)] = protein_features(accessions, p["p_pos"], any_ref, alt_aa, sequences)
    values[:, s0 + len(PROTEIN_FEATURES) :] = constraint_features(gene_symbol)
    values[:, col["log10_af"]] = np.where(
        af_known, np.log10(np.clip(np.nan_to_num(af_values, nan=1.0), _AF_FLOOR, 1.0)), 0.0
    )
    return FeatureBlock(list(gene_symbol), klass, ref_aa, alt_aa, protein_position, values.astype(np.float32))


def _texts(frame: pl.DataFrame, name: str) -> list:
    if name not in frame.columns:
        return [None] * frame.height
    return frame.get_column(name).cast(pl.Utf8).to_list()


def _floats(frame: pl.DataFrame, name: str) -> list:
    if name not in frame.columns:
        return [None] * frame.height
    return frame.get_column(name).cast(pl.Float64, strict=False).to_list()


def hgvs_features(frame: pl.DataFrame) -> pl.DataFrame:
    """Frame with `hgvs_c`, `hgvs_p`, `gene_symbol`, `af` (nullable) and `consequence_fallback` (nullable SO
    term) -> one feature row per input row (same order); see `FeatureBlock.frame`."""
    return feature_block(
        _texts(frame, "hgvs_c"),
        _texts(frame, "hgvs_p"),
        _texts(frame, "gene_symbol"),
        _floats(frame, "af"),
        _texts(frame, "consequence_fallback"),
    ).frame()


def hgvs_block(df: pl.DataFrame, sequences: Mapping[str, str] | None = None) -> FeatureBlock:
    """ClinVar-shaped rows (`hgvs_c`, `hgvs_p`, `symbol`, optional `af`) -> features as arrays; proteins from
    `sequences` (default: the shipped RefSeq proteins, which ClinVar's NP_ accessions name)."""
    return feature_block(
        _texts(df, "hgvs_c"),
        _texts(df, "hgvs_p"),
        _texts(df, "symbol"),
        _floats(df, "af"),
        [None] * df.height,
        refseq_proteins() if sequences is None else sequences,
    )


def features_from_hgvs(df: pl.DataFrame, sequences: Mapping[str, str] | None = None) -> pl.DataFrame:
    """ClinVar-shaped rows (`hgvs_c`, `hgvs_p`, `symbol`, optional `af`) -> feature rows."""
    return hgvs_block(df, sequences).frame()


def summary_block(summary: pl.DataFrame, sequences: Mapping[str, str] | None = None) -> FeatureBlock:
    """A `hcml.genomics.annotate.summarise()` frame -> features as arrays (the annotator's HGVSc/HGVSp;
    gnomAD exome frequency, else the 1000 Genomes one; proteins from `sequences`, normally the bundle's own
    translations, `hcml.ml.proteins.bundle_proteins`)."""
    af = [
        g if g is not None else a for g, a in zip(_floats(summary, "gnomade_af"), _floats(summary, "af"), strict=True)
    ]
    return feature_block(
        _texts(summary, "hgvsc"),
        _texts(summary, "hgvsp"),
        _texts(summary, "gene_symbol"),
        af,
        _texts(summary, "most_severe_consequence"),
        sequences,
    )


def features_from_summary(summary: pl.DataFrame, sequences: Mapping[str, str] | None = None) -> pl.DataFrame:
    """A `hcml.genomics.annotate.summarise()` frame -> feature rows, through the same `feature_block`."""
    return summary_block(summary, sequences).frame()


def feature_matrix(features: pl.DataFrame, names: tuple[str, ...] | list[str]) -> np.ndarray:
    """Float32 matrix in the model's feature order."""
    schema = features.schema
    if all(schema.get(n) == pl.Float32 for n in names):  # hgvs_features' output: no cast to plan
        return features.select(names).to_numpy().astype(np.float32, copy=False)
    return features.select([pl.col(n).cast(pl.Float32) for n in names]).to_numpy().astype(np.float32, copy=False)
