"""Variant features for the pathogenicity model, derived from HGVS c./p. notation.

One code path: ClinVar training rows (HGVS on RefSeq NM_/NP_) and variants annotated in the clinic
(HGVSc/HGVSp on Ensembl ENST/ENSP from `hcml.genomics.annotate`) both go through `hgvs_features()`,
so a variant gets exactly the features it would have had in training. The annotator's consequence string
is only a fall-back for variants with no HGVS at all (intergenic, upstream...), which ClinVar rows never
use for classification (they have no consequence column; they get class `other`).

The definition is polars expressions (no Python loops over rows; amino-acid tables joined in). A clinical
request's few rows (`hcml.small_inputs.use_small_path`) take a row-by-row twin over the same patterns, tables
and constants, which returns the identical frame (tests/ml/test_small_features.py holds the two equal).
"""

from __future__ import annotations

import functools
import math
import re
from typing import NamedTuple

import numpy as np
import polars as pl

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
from hcml.small_inputs import use_small_path

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

_HGVS_C_RE = (
    r"^(?:[^:]*:)?([cn])\.(\*|-)?(\d+)(?:([+-])(\d+))?"  # kind, start prefix/base/offset
    r"(?:_(\*|-)?(\d+)(?:([+-])(\d+))?)?"  # optional range end
    r"(.*)$"  # change: A>G, del[seq], dup[seq], ins seq, delins seq, inv...
)
_HGVS_P_RE = r"^([A-Z][a-z]{2}|\*)(\d+)(?:_([A-Z][a-z]{2}|\*)(\d+))?(.*)$"
# The rules below are spelled once and read by both forms of `hgvs_features` (polars expressions and the
# row-by-row small-input form, which compiles the same patterns with Python's `re`).
_MISSING_TEXT = ("-", "", ".")  # VEP's / ClinVar's spelling of "no value"
_P_PREFIX_RE = r"^(?:[^:]*:)?p\."  # accession and "p." before the protein change
_P_PARENS_RE = r"[()]"
_SNV_RE = r"^[ACGTN]>[ACGTN]$"
_DELINS_RE = r"^del[ACGTN]*ins"
_DEL_SEQ_RE = r"^del([ACGTN]+)"
_INS_SEQ_RE = r"ins([ACGTN]+)"
_DUP_SEQ_RE = r"^dup([ACGTN]+)"
_P_INDEL_RE = r"^(?:del|ins|dup|delins)"
_P_ALT_RE = r"^([A-Z][a-z]{2}|\*)$"
_UTR_PREFIXES = ("-", "*")
_SPLICE_SITE_MAX = 2  # intronic offset <= 2: splice_site
_SPLICE_REGION_MAX = 8  # <= 8 either side: splice_region
_ACCEPTOR_REGION_MAX = 17  # <= 17 on the acceptor side (polypyrimidine tract): splice_region
_NO_OFFSET = 99  # intron_offset_le2 / le8 of a row without an intronic offset
_AF_FLOOR = 1e-6  # log10_af clips the frequency to [_AF_FLOOR, 1]

_AA_TABLE_CACHE: dict[str, pl.DataFrame] = {}


def _aa_properties(a: str, b: str) -> dict[str, float]:
    """The substitution-property features (AA_PROPERTY_FEATURES) of residue `a` -> `b`: the one definition,
    joined in as a table by the vectorised form and looked up per row by the small-input form."""
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


def _aa_table() -> pl.DataFrame:
    """Per (ref, alt) residue pair: the substitution-property features."""
    if "t" not in _AA_TABLE_CACHE:
        rows = [{"ref_aa": a, "alt_aa": b, **_aa_properties(a, b)} for a in AMINO_ACIDS for b in AMINO_ACIDS]
        _AA_TABLE_CACHE["t"] = pl.DataFrame(rows)
    return _AA_TABLE_CACHE["t"]


def _clean(col: str) -> pl.Expr:
    """Null for VEP's '-' / empty; URL-decoded '=' (VEP writes p.Gln668%3D)."""
    c = pl.col(col).cast(pl.Utf8).str.strip_chars()
    return (
        pl.when(c.is_in(list(_MISSING_TEXT)) | c.is_null())
        .then(None)
        .otherwise(c.str.replace_all("%3D", "=", literal=True))
    )


def hgvs_features(frame: pl.DataFrame) -> pl.DataFrame:
    """The shared core: frame with `hgvs_c`, `hgvs_p`, `gene_symbol`, `af` (nullable) and
    `consequence_fallback` (nullable SO term) -> one feature row per input row (same order).

    Output: `gene_symbol`, `consequence_class`, `ref_aa`, `alt_aa`, `protein_position`,
    then every name in VARIANT_FEATURES and POPULATION_FEATURES (Float32, never null).

    A few rows (`hcml.small_inputs.use_small_path`) take the row-by-row form, which returns the same frame.
    """
    if use_small_path(frame.height):
        small = _small_hgvs_features(frame)
        if small is not None:
            return small.frame()
    return _hgvs_features_vectorised(frame)


def _hgvs_features_vectorised(frame: pl.DataFrame) -> pl.DataFrame:
    """`hgvs_features` in polars expressions: the definition, and the form for every larger input."""
    clean, steps, output = _feature_exprs()
    df = frame.select(clean).with_row_index("_i")
    for exprs in steps:
        df = df.with_columns(exprs)
    return df.join(_aa_table(), on=["ref_aa", "alt_aa"], how="left").sort("_i").select(output)


@functools.cache
def _feature_exprs() -> tuple[list[pl.Expr], tuple[tuple[pl.Expr, ...], ...], tuple[pl.Expr, ...]]:
    """The expressions of `hgvs_features`, built once per process (polars expressions are immutable; building
    these ~300 of them cost ~2 ms per call, more than evaluating them on a clinical request's few rows)."""
    clean = [
        _clean("hgvs_c").alias("hgvs_c"),
        _clean("hgvs_p").alias("hgvs_p"),
        pl.col("gene_symbol").cast(pl.Utf8),
        pl.col("af").cast(pl.Float64, strict=False),
        pl.col("consequence_fallback").cast(pl.Utf8).str.split(",").list.first().alias("so_term"),
    ]

    c = pl.col("hgvs_c").str.extract_groups(_HGVS_C_RE)
    parsed = (
        c.struct.field("1").alias("c_kind"),
        c.struct.field("2").alias("c_prefix"),
        c.struct.field("3").cast(pl.Int64).alias("c_start"),
        c.struct.field("4").alias("c_off_sign"),
        c.struct.field("5").cast(pl.Int64).alias("c_off"),
        c.struct.field("6").alias("c_end_prefix"),
        c.struct.field("7").cast(pl.Int64).alias("c_end"),
        c.struct.field("8").alias("c_end_off_sign"),
        c.struct.field("9").cast(pl.Int64).alias("c_end_off"),
        c.struct.field("10").alias("c_change"),
        # p. part after the accession, without VEP/HGVS parentheses
        pl.col("hgvs_p")
        .str.replace(_P_PREFIX_RE, "")
        .str.replace_all(_P_PARENS_RE, "")
        .alias("p_body"),
        # the SO-term fall-back class, used twice in the class chain below: looked up once
        pl.col("so_term").replace_strict(_SO_FALLBACK, default="other").alias("_so_class"),
    )
    p = pl.col("p_body").str.extract_groups(_HGVS_P_RE)
    protein = (
        p.struct.field("1").replace({"*": "Ter"}).alias("p_ref3"),
        p.struct.field("2").cast(pl.Int64).alias("p_pos"),
        p.struct.field("5").alias("p_rest"),
    )
    change = pl.col("c_change").fill_null("")
    rest = pl.col("p_rest").fill_null("")
    changes = (
        # kind of nucleotide change
        change.str.contains(_SNV_RE).alias("_snv"),
        change.str.contains(_DELINS_RE).alias("_delins"),
        (change.str.contains(r"^del") & ~change.str.contains(_DELINS_RE)).alias("_del"),
        change.str.contains(r"^ins").alias("_ins"),
        change.str.contains(r"^dup").alias("_dup"),
        change.str.extract(_DEL_SEQ_RE, 1).str.len_chars().alias("_del_seq_len"),
        change.str.extract(_INS_SEQ_RE, 1).str.len_chars().alias("_ins_seq_len"),
        change.str.extract(_DUP_SEQ_RE, 1).str.len_chars().alias("_dup_seq_len"),
        # span in coding coordinates when both ends are plain (same region, no intronic offset)
        pl.when(
            pl.col("c_end").is_not_null()
            & pl.col("c_off").is_null()
            & pl.col("c_end_off").is_null()
            & (pl.col("c_prefix").fill_null("") == pl.col("c_end_prefix").fill_null(""))
        )
        .then((pl.col("c_end") - pl.col("c_start")).abs() + 1)
        .when(pl.col("c_end").is_null())
        .then(1)
        .otherwise(None)
        .alias("_span"),
        # intronic offset: nearest exon boundary over the range ends
        pl.min_horizontal(pl.col("c_off"), pl.col("c_end_off")).alias("intron_offset"),
        pl.when(pl.col("c_off").is_not_null())
        .then(pl.col("c_off_sign") == "+")
        .otherwise(pl.col("c_end_off_sign") == "+")
        .alias("_donor"),
        # protein change
        (pl.col("p_body") == "=").alias("_p_eq"),  # p.= (p.0, no protein, is left to the c. change)
        rest.str.contains("fs").alias("_p_fs"),
        rest.str.contains("ext").alias("_p_ext"),
        rest.str.contains(_P_INDEL_RE).alias("_p_indel"),
        rest.str.extract(_P_ALT_RE, 1).replace({"*": "Ter"}).alias("p_alt3"),
        (rest == "=").alias("_p_syn"),
        (rest == "?").alias("_p_unknown"),
    )
    deleted = pl.coalesce(pl.col("_del_seq_len"), pl.col("_span"))
    inserted = pl.coalesce(pl.col("_ins_seq_len"), pl.lit(0, dtype=pl.UInt32))
    lengths = (
        pl.when(pl.col("_snv"))
        .then(0)
        .when(pl.col("_delins"))
        .then(inserted.cast(pl.Int64) - deleted.cast(pl.Int64))
        .when(pl.col("_del"))
        .then(-deleted.cast(pl.Int64))
        .when(pl.col("_dup"))
        .then(pl.coalesce(pl.col("_dup_seq_len").cast(pl.Int64), pl.col("_span")))
        .when(pl.col("_ins"))
        .then(inserted.cast(pl.Int64))
        .otherwise(None)
        .alias("net_length"),
        pl.col("p_ref3").replace_strict(THREE_TO_ONE, default=None).alias("ref_aa"),
        pl.col("p_alt3").replace_strict(THREE_TO_ONE, default=None).alias("alt_aa"),
    )
    coding_exonic = (
        (pl.col("c_kind") == "c") & pl.col("c_prefix").is_null() & pl.col("intron_offset").is_null()
    )
    has_p = pl.col("p_ref3").is_not_null()
    klass = (
        pl.when(pl.col("hgvs_c").is_null() & pl.col("hgvs_p").is_null())
        .then(pl.col("_so_class"))
        .when(pl.col("_p_eq") & coding_exonic)
        .then(pl.lit("synonymous"))
        .when(has_p & pl.col("_p_fs"))
        .then(pl.lit("frameshift"))
        .when(has_p & (pl.col("p_ref3") == "Ter") & pl.col("_p_ext"))
        .then(pl.lit("stop_lost"))
        .when(has_p & pl.col("_p_syn"))
        .then(pl.lit("synonymous"))
        .when(has_p & (pl.col("p_pos") == 1) & (pl.col("p_ref3") == "Met"))
        .then(pl.lit("start_lost"))
        .when(has_p & (pl.col("p_alt3") == "Ter"))
        .then(pl.lit("stop_gained"))
        .when(has_p & pl.col("_p_indel") & pl.col("p_rest").str.contains("Ter"))
        .then(pl.lit("stop_gained"))
        .when(has_p & pl.col("_p_indel"))
        .then(pl.lit("inframe_indel"))
        .when(has_p & pl.col("p_alt3").is_not_null() & (pl.col("p_alt3") != pl.col("p_ref3")))
        .then(pl.lit("missense"))
        .when(pl.col("intron_offset").is_not_null() & (pl.col("intron_offset") <= _SPLICE_SITE_MAX))
        .then(pl.lit("splice_site"))
        .when(
            pl.col("intron_offset").is_not_null()
            & (
                (pl.col("intron_offset") <= _SPLICE_REGION_MAX)
                | (~pl.col("_donor").fill_null(False) & (pl.col("intron_offset") <= _ACCEPTOR_REGION_MAX))
            )
        )
        .then(pl.lit("splice_region"))
        .when(pl.col("intron_offset").is_not_null())
        .then(pl.lit("intron"))
        .when(pl.col("c_kind") == "n")
        .then(pl.lit("non_coding"))
        .when((pl.col("c_kind") == "c") & (pl.col("c_prefix") == "-"))
        .then(pl.lit("five_prime_utr"))
        .when((pl.col("c_kind") == "c") & (pl.col("c_prefix") == "*"))
        .then(pl.lit("three_prime_utr"))
        # coding change without a usable p.: decide from the nucleotide change
        .when(coding_exonic & (pl.col("c_start") <= 3) & ~(pl.col("net_length").fill_null(0) % 3 != 0))
        .then(pl.lit("start_lost"))
        .when(coding_exonic & pl.col("net_length").is_not_null() & (pl.col("net_length") % 3 != 0))
        .then(pl.lit("frameshift"))
        .when(coding_exonic & pl.col("net_length").is_not_null() & (pl.col("net_length") != 0))
        .then(pl.lit("inframe_indel"))
        .when(pl.col("c_kind") == "c")
        .then(pl.lit("coding_other"))
        .otherwise(pl.col("_so_class"))
    )
    classes = (klass.alias("consequence_class"),)
    # substitution properties only for missense
    is_missense = pl.col("consequence_class") == "missense"
    missense = (
        pl.when(is_missense).then(pl.col("ref_aa")).otherwise(None).alias("ref_aa"),
        pl.when(is_missense).then(pl.col("alt_aa")).otherwise(None).alias("alt_aa"),
    )

    coding_pos = pl.when((pl.col("c_kind") == "c") & pl.col("c_prefix").is_null()).then(pl.col("c_start"))
    protein_position = pl.coalesce(pl.col("p_pos"), (coding_pos + 2) // 3)
    utr_distance = pl.when(pl.col("c_prefix").is_in(list(_UTR_PREFIXES))).then(pl.col("c_start"))
    indel_len = pl.col("net_length").abs()
    output = (
        pl.col("gene_symbol"),
        pl.col("consequence_class"),
        pl.col("ref_aa"),
        pl.col("alt_aa"),
        protein_position.alias("protein_position"),
        *[(pl.col("consequence_class") == c).cast(pl.Float32).alias(f"class_{c}") for c in CONSEQUENCE_CLASSES],
        *[pl.col(f).fill_null(0.0).cast(pl.Float32).alias(f) for f in AA_PROPERTY_FEATURES],
        protein_position.fill_null(0).cast(pl.Float64).log1p().cast(pl.Float32).alias("log_protein_position"),
        coding_pos.fill_null(0).cast(pl.Float64).log1p().cast(pl.Float32).alias("log_cds_position"),
        pl.col("intron_offset").is_not_null().cast(pl.Float32).alias("is_intronic"),
        pl.col("intron_offset").fill_null(0).cast(pl.Float64).log1p().cast(pl.Float32).alias("log_intron_offset"),
        (pl.col("intron_offset").fill_null(_NO_OFFSET) <= _SPLICE_SITE_MAX).cast(pl.Float32).alias("intron_offset_le2"),
        (pl.col("intron_offset").fill_null(_NO_OFFSET) <= _SPLICE_REGION_MAX).cast(pl.Float32).alias("intron_offset_le8"),
        (pl.col("intron_offset").is_not_null() & pl.col("_donor").fill_null(False))
        .cast(pl.Float32)
        .alias("intron_donor_side"),
        utr_distance.fill_null(0).cast(pl.Float64).log1p().cast(pl.Float32).alias("log_utr_distance"),
        pl.col("_snv").fill_null(False).cast(pl.Float32).alias("is_snv"),
        pl.col("_del").fill_null(False).cast(pl.Float32).alias("is_deletion"),
        pl.col("_ins").fill_null(False).cast(pl.Float32).alias("is_insertion"),
        pl.col("_dup").fill_null(False).cast(pl.Float32).alias("is_duplication"),
        pl.col("_delins").fill_null(False).cast(pl.Float32).alias("is_delins"),
        indel_len.fill_null(0).cast(pl.Float64).log1p().cast(pl.Float32).alias("log_indel_length"),
        (pl.col("net_length").is_not_null() & (pl.col("net_length") != 0) & (indel_len % 3 == 0))
        .cast(pl.Float32)
        .alias("indel_in_frame"),
        pl.col("p_ref3").is_not_null().cast(pl.Float32).alias("has_protein_change"),
        *[(pl.col("ref_aa") == aa).fill_null(False).cast(pl.Float32).alias(f"ref_aa_{aa}") for aa in AMINO_ACIDS],
        *[(pl.col("alt_aa") == aa).fill_null(False).cast(pl.Float32).alias(f"alt_aa_{aa}") for aa in AMINO_ACIDS],
        (pl.col("af").is_not_null()).cast(pl.Float32).alias("af_known"),
        pl.when(pl.col("af").is_not_null())
        .then(pl.col("af").clip(_AF_FLOOR, 1.0).log10())
        .otherwise(0.0)
        .cast(pl.Float32)
        .alias("log10_af"),
    )
    return clean, (parsed, protein, changes, lengths, classes, missense), output


def features_from_hgvs(df: pl.DataFrame) -> pl.DataFrame:
    """ClinVar-shaped rows (`hgvs_c`, `hgvs_p`, `symbol`, optional `af`) -> feature rows."""
    if use_small_path(df.height):
        small = _small_hgvs_rows(df)
        if small is not None:
            return small.frame()
    cols = set(df.columns)
    frame = df.select(
        pl.col("hgvs_c") if "hgvs_c" in cols else pl.lit(None, dtype=pl.Utf8).alias("hgvs_c"),
        pl.col("hgvs_p") if "hgvs_p" in cols else pl.lit(None, dtype=pl.Utf8).alias("hgvs_p"),
        (pl.col("symbol") if "symbol" in cols else pl.lit(None, dtype=pl.Utf8)).alias("gene_symbol"),
        pl.col("af") if "af" in cols else pl.lit(None, dtype=pl.Float64).alias("af"),
        pl.lit(None, dtype=pl.Utf8).alias("consequence_fallback"),
    )
    return hgvs_features(frame)


def features_from_summary(summary: pl.DataFrame) -> pl.DataFrame:
    """A `hcml.genomics.annotate.summarise()` frame -> feature rows, through the same `hgvs_features`."""
    if use_small_path(summary.height):
        small = small_summary_features(summary)
        if small is not None:
            return small.frame()
    cols = set(summary.columns)

    def col(name: str, dtype: pl.DataType = pl.Utf8) -> pl.Expr:
        return pl.col(name) if name in cols else pl.lit(None, dtype=dtype).alias(name)

    af = pl.coalesce(col("gnomade_af", pl.Float64).cast(pl.Float64, strict=False), col("af", pl.Float64).cast(pl.Float64, strict=False))
    frame = summary.select(
        col("hgvsc").alias("hgvs_c"),
        col("hgvsp").alias("hgvs_p"),
        col("gene_symbol").alias("gene_symbol"),
        af.alias("af"),
        col("most_severe_consequence").alias("consequence_fallback"),
    )
    return hgvs_features(frame)


def feature_matrix(features: pl.DataFrame, names: tuple[str, ...] | list[str]) -> np.ndarray:
    """Float32 matrix in the model's feature order."""
    schema = features.schema
    if all(schema.get(n) == pl.Float32 for n in names):  # hgvs_features' output: no cast to plan
        return features.select(names).to_numpy().astype(np.float32, copy=False)
    return features.select([pl.col(n).cast(pl.Float32) for n in names]).to_numpy().astype(np.float32, copy=False)


# ---------------------------------------------------------------------------------------------------------
# The row-by-row form for small inputs (`hcml.small_inputs.use_small_path`): the same rules as the polars
# expressions above, in plain Python over the same patterns, tables and constants, for a clinical request's
# few rows -- where polars' fixed cost per operation (~300 of them, ~3 ms) is nearly all of the time. It
# returns exactly the vectorised frame (columns, order, dtypes, values, nulls); the vectorised form stays the
# definition, and tests/ml/test_small_features.py holds the two equal on every ClinVar training row and the
# annotated saturation set.


class _Unusual(Exception):
    """An input the row form does not reproduce exactly (HGVS text outside ASCII once stripped, integers near
    Int64's limit, column types other than text / float): the call is answered by the vectorised form instead."""


# Rust's `str::trim` (polars' `strip_chars()`): the Unicode White_Space characters, which differ from
# Python's `str.strip()` (that also strips \x1c-\x1f).
_RUST_WHITESPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)
_INT_LIMIT = 2**62  # parsed integers up to here stay inside Int64 through every sum / difference below


def _python_re(pattern: str) -> re.Pattern[str]:
    """A polars (Rust regex) pattern for Python's `re`: Rust's `$` is the end of the text only, Python's also
    matches before a final newline, so a trailing `$` becomes `\\Z`. (Both read `\\d`, `.`, classes and
    leftmost-first alternation alike.)"""
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1] + r"\Z"
    return re.compile(pattern)


_C_MATCH = _python_re(_HGVS_C_RE).match
_P_MATCH = _python_re(_HGVS_P_RE).match
_P_PREFIX_SUB = _python_re(_P_PREFIX_RE).sub
_P_PARENS_SUB = _python_re(_P_PARENS_RE).sub
_SNV_MATCH = _python_re(_SNV_RE).match
_DELINS_MATCH = _python_re(_DELINS_RE).match
_DEL_SEQ_MATCH = _python_re(_DEL_SEQ_RE).match
_INS_SEQ_SEARCH = _python_re(_INS_SEQ_RE).search
_DUP_SEQ_MATCH = _python_re(_DUP_SEQ_RE).match
_P_INDEL_MATCH = _python_re(_P_INDEL_RE).match
_P_ALT_MATCH = _python_re(_P_ALT_RE).match

# the Float32 output columns after the five leading ones, in output order
FLOAT_FEATURES: tuple[str, ...] = VARIANT_FEATURES + POPULATION_FEATURES
_AT = {name: i for i, name in enumerate(FLOAT_FEATURES)}
_N_FLOAT = len(FLOAT_FEATURES)
_CLASS_AT = {c: _AT[f"class_{c}"] for c in CONSEQUENCE_CLASSES}
_AA_AT = _AT[AA_PROPERTY_FEATURES[0]]
_AA_END = _AA_AT + len(AA_PROPERTY_FEATURES)
assert FLOAT_FEATURES[_AA_AT:_AA_END] == AA_PROPERTY_FEATURES
_REF_AA_AT = {aa: _AT[f"ref_aa_{aa}"] for aa in AMINO_ACIDS}
_ALT_AA_AT = {aa: _AT[f"alt_aa_{aa}"] for aa in AMINO_ACIDS}
(_I_LOG_PP, _I_LOG_CDS, _I_INTRONIC, _I_LOG_IO, _I_LE2, _I_LE8, _I_DONOR, _I_LOG_UTR, _I_SNV, _I_DEL, _I_INS,
 _I_DUP, _I_DELINS, _I_LOG_INDEL, _I_IN_FRAME, _I_HAS_P) = (_AT[f] for f in POSITION_FEATURES)
_I_AF_KNOWN, _I_LOG10_AF = (_AT[f] for f in POPULATION_FEATURES)
_LN10 = math.log(10.0)  # polars' log10 is ln(x) / ln(10) (not C's log10): the same division here


@functools.cache
def _aa_property_rows() -> dict[tuple[str, str], list[float]]:
    """(ref, alt) -> AA_PROPERTY_FEATURES values, from the same `_aa_properties` as the joined table."""
    return {
        (a, b): [props[f] for f in AA_PROPERTY_FEATURES]
        for a in AMINO_ACIDS
        for b in AMINO_ACIDS
        for props in (_aa_properties(a, b),)
    }


@functools.cache
def output_schema() -> pl.Schema:
    """`hgvs_features`' output columns and dtypes (those of the vectorised form, evaluated on no rows)."""
    empty = pl.DataFrame(
        schema={"hgvs_c": pl.Utf8, "hgvs_p": pl.Utf8, "gene_symbol": pl.Utf8, "af": pl.Float64,
                "consequence_fallback": pl.Utf8}
    )
    return _hgvs_features_vectorised(empty).schema


def _clean_text(value: str | None) -> str | None:
    """`_clean` for one value."""
    if value is None:
        return None
    value = value.strip(_RUST_WHITESPACE)
    return None if value in _MISSING_TEXT else value.replace("%3D", "=")


def _int(digits: str | None) -> int | None:
    """polars' strict cast of a `\\d+` capture to Int64 (non-ASCII digits or huge values: not reproduced)."""
    if digits is None:
        return None
    if not digits.isascii():
        raise _Unusual
    value = int(digits)
    if value > _INT_LIMIT:
        raise _Unusual
    return value


def _row_features(hgvs_c: str | None, hgvs_p: str | None, af: float | None, fallback: str | None,
                  aa_rows: dict[tuple[str, str], list[float]]) -> tuple[str, str | None, str | None, int | None, list[float]]:
    """One row of `hgvs_features` (after `gene_symbol`): consequence_class, ref_aa, alt_aa, protein_position
    and the FLOAT_FEATURES values (Python floats, rounded to Float32 by the caller as polars' cast does).
    Each step mirrors the expression of the same name in `_feature_exprs`, with polars' null semantics."""
    hc = _clean_text(hgvs_c)
    hp = _clean_text(hgvs_p)
    if (hc is not None and not hc.isascii()) or (hp is not None and not hp.isascii()):
        raise _Unusual  # Python's and Rust's Unicode tables (\d, ...) may differ: real HGVS is ASCII
    so_class = "other" if fallback is None else _SO_FALLBACK.get(fallback.split(",", 1)[0], "other")

    # parsed: the c./n. notation
    c_kind = c_prefix = c_off_sign = c_end_prefix = c_end_off_sign = None
    c_start = c_off = c_end = c_end_off = None
    change = ""
    if hc is not None:
        m = _C_MATCH(hc)
        if m is not None:
            c_kind, c_prefix, start, c_off_sign, off, c_end_prefix, end, c_end_off_sign, end_off, change = m.groups()
            c_start, c_off, c_end, c_end_off = _int(start), _int(off), _int(end), _int(end_off)
    # protein: the p. notation
    p_body = p_ref3 = p_pos = p_rest = p_alt3 = None
    rest = ""
    if hp is not None:
        p_body = _P_PARENS_SUB("", _P_PREFIX_SUB("", hp, count=1))
        m = _P_MATCH(p_body)
        if m is not None:
            ref3, pos, _, _, p_rest = m.groups()
            p_ref3 = "Ter" if ref3 == "*" else ref3
            p_pos = _int(pos)
            rest = p_rest
    # changes
    # (each pattern tried only where it can match: the del / dup ones start with their word, the ins one holds it)
    snv = _SNV_MATCH(change) is not None
    delins = is_del = is_ins = is_dup = False
    del_seq_len = ins_seq_len = dup_seq_len = None
    if change.startswith("del"):
        delins = _DELINS_MATCH(change) is not None
        is_del = not delins
        m = _DEL_SEQ_MATCH(change)
        del_seq_len = len(m.group(1)) if m is not None else None
    elif change.startswith("ins"):
        is_ins = True
    elif change.startswith("dup"):
        is_dup = True
        m = _DUP_SEQ_MATCH(change)
        dup_seq_len = len(m.group(1)) if m is not None else None
    if "ins" in change:
        m = _INS_SEQ_SEARCH(change)
        ins_seq_len = len(m.group(1)) if m is not None else None
    if c_end is None:
        span = 1
    elif c_off is None and c_end_off is None and (c_prefix or "") == (c_end_prefix or ""):
        span = abs(c_end - c_start) + 1
    else:
        span = None
    if c_off is None:
        intron_offset = c_end_off
        donor = None if c_end_off_sign is None else c_end_off_sign == "+"
    else:
        intron_offset = c_off if c_end_off is None else min(c_off, c_end_off)
        donor = c_off_sign == "+"
    p_eq = p_body == "="
    p_fs = "fs" in rest
    p_ext = "ext" in rest
    p_indel = _P_INDEL_MATCH(rest) is not None
    m = _P_ALT_MATCH(rest)
    if m is not None:
        p_alt3 = "Ter" if m.group(1) == "*" else m.group(1)
    p_syn = rest == "="
    # lengths
    deleted = del_seq_len if del_seq_len is not None else span
    inserted = ins_seq_len if ins_seq_len is not None else 0
    if snv:
        net_length = 0
    elif delins:
        net_length = None if deleted is None else inserted - deleted
    elif is_del:
        net_length = None if deleted is None else -deleted
    elif is_dup:
        net_length = dup_seq_len if dup_seq_len is not None else span
    elif is_ins:
        net_length = inserted
    else:
        net_length = None
    ref_aa = THREE_TO_ONE.get(p_ref3) if p_ref3 is not None else None
    alt_aa = THREE_TO_ONE.get(p_alt3) if p_alt3 is not None else None
    # classes (a null condition is a branch not taken, as in polars' when/then)
    coding = c_kind == "c" and c_prefix is None
    coding_exonic = coding and intron_offset is None
    has_p = p_ref3 is not None
    if hc is None and hp is None:
        klass = so_class
    elif p_eq and coding_exonic:
        klass = "synonymous"
    elif has_p and p_fs:
        klass = "frameshift"
    elif has_p and p_ref3 == "Ter" and p_ext:
        klass = "stop_lost"
    elif has_p and p_syn:
        klass = "synonymous"
    elif has_p and p_pos == 1 and p_ref3 == "Met":
        klass = "start_lost"
    elif has_p and p_alt3 == "Ter":
        klass = "stop_gained"
    elif has_p and p_indel and "Ter" in p_rest:
        klass = "stop_gained"
    elif has_p and p_indel:
        klass = "inframe_indel"
    elif has_p and p_alt3 is not None and p_alt3 != p_ref3:
        klass = "missense"
    elif intron_offset is not None and intron_offset <= _SPLICE_SITE_MAX:
        klass = "splice_site"
    elif intron_offset is not None and (
        intron_offset <= _SPLICE_REGION_MAX or (not donor and intron_offset <= _ACCEPTOR_REGION_MAX)
    ):
        klass = "splice_region"
    elif intron_offset is not None:
        klass = "intron"
    elif c_kind == "n":
        klass = "non_coding"
    elif c_kind == "c" and c_prefix == "-":
        klass = "five_prime_utr"
    elif c_kind == "c" and c_prefix == "*":
        klass = "three_prime_utr"
    elif coding_exonic and c_start <= 3 and (net_length or 0) % 3 == 0:
        klass = "start_lost"
    elif coding_exonic and net_length is not None and net_length % 3 != 0:
        klass = "frameshift"
    elif coding_exonic and net_length is not None and net_length != 0:
        klass = "inframe_indel"
    elif c_kind == "c":
        klass = "coding_other"
    else:
        klass = so_class
    # missense: substitution properties only for missense
    if klass != "missense":
        ref_aa = alt_aa = None
    # output
    coding_pos = c_start if coding else None
    protein_position = p_pos if p_pos is not None else (None if coding_pos is None else (coding_pos + 2) // 3)
    f = [0.0] * _N_FLOAT
    at = _CLASS_AT.get(klass)
    if at is not None:
        f[at] = 1.0
    if ref_aa is not None and alt_aa is not None:
        props = aa_rows.get((ref_aa, alt_aa))
        if props is not None:
            f[_AA_AT:_AA_END] = props
    at = _REF_AA_AT.get(ref_aa)  # each one-hot on its own: one residue may be unknown (Xyz) or Sec/Ter
    if at is not None:
        f[at] = 1.0
    at = _ALT_AA_AT.get(alt_aa)
    if at is not None:
        f[at] = 1.0
    if protein_position:
        f[_I_LOG_PP] = math.log1p(protein_position)
    if coding_pos:
        f[_I_LOG_CDS] = math.log1p(coding_pos)
    if intron_offset is not None:
        f[_I_INTRONIC] = 1.0
        f[_I_LOG_IO] = math.log1p(intron_offset)
        if donor:
            f[_I_DONOR] = 1.0
    if (intron_offset if intron_offset is not None else _NO_OFFSET) <= _SPLICE_SITE_MAX:
        f[_I_LE2] = 1.0
    if (intron_offset if intron_offset is not None else _NO_OFFSET) <= _SPLICE_REGION_MAX:
        f[_I_LE8] = 1.0
    if c_prefix in _UTR_PREFIXES and c_start:
        f[_I_LOG_UTR] = math.log1p(c_start)
    if snv:
        f[_I_SNV] = 1.0
    if is_del:
        f[_I_DEL] = 1.0
    if is_ins:
        f[_I_INS] = 1.0
    if is_dup:
        f[_I_DUP] = 1.0
    if delins:
        f[_I_DELINS] = 1.0
    if net_length:
        indel_len = abs(net_length)
        f[_I_LOG_INDEL] = math.log1p(indel_len)
        if indel_len % 3 == 0:
            f[_I_IN_FRAME] = 1.0
    if has_p:
        f[_I_HAS_P] = 1.0
    if af is not None:
        f[_I_AF_KNOWN] = 1.0
        clipped = _AF_FLOOR if af < _AF_FLOOR else (1.0 if af > 1.0 else af)  # NaN stays NaN, as in clip
        f[_I_LOG10_AF] = math.log(clipped) / _LN10
    return klass, ref_aa, alt_aa, protein_position, f


class SmallFeatures(NamedTuple):
    """`hgvs_features`' output for a few rows, before it is a frame: the scorer reads `values` directly."""

    gene_symbol: list[str | None]
    consequence_class: list[str]
    ref_aa: list[str | None]
    alt_aa: list[str | None]
    protein_position: list[int | None]
    values: np.ndarray  # (n, len(FLOAT_FEATURES)) float32

    def frame(self) -> pl.DataFrame:
        """The frame `hgvs_features` returns (same columns, order and dtypes)."""
        schema = output_schema()
        if not self.gene_symbol:
            return pl.DataFrame(schema=schema)
        head = pl.DataFrame(
            [self.gene_symbol, self.consequence_class, self.ref_aa, self.alt_aa, self.protein_position],
            schema=dict(list(schema.items())[:5]),
            orient="col",
        )
        floats = pl.Series(self.values).arr.to_struct(list(FLOAT_FEATURES)).struct.unnest()
        return pl.concat([head, floats], how="horizontal")


_TEXT_DTYPES = (pl.String, pl.Null)
_FLOAT_DTYPES = (pl.Float64, pl.Float32, pl.Null)


def _texts(frame: pl.DataFrame, name: str | None) -> list[str | None]:
    if name is None or name not in frame.columns:
        return [None] * frame.height
    s = frame.get_column(name)
    if s.dtype not in _TEXT_DTYPES:
        raise _Unusual
    return s.to_list()


def _floats(frame: pl.DataFrame, name: str) -> list[float | None]:
    if name not in frame.columns:
        return [None] * frame.height
    s = frame.get_column(name)
    if s.dtype not in _FLOAT_DTYPES:
        raise _Unusual
    return s.to_list()


def _small_features(hgvs_c: list, hgvs_p: list, gene_symbol: list, af: list, fallback: list) -> SmallFeatures:
    aa_rows = _aa_property_rows()
    rows = [_row_features(c, p, a, f, aa_rows) for c, p, a, f in zip(hgvs_c, hgvs_p, af, fallback, strict=True)]
    values = np.array([r[4] for r in rows], dtype=np.float32).reshape(len(rows), _N_FLOAT)
    return SmallFeatures(
        gene_symbol, [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], [r[3] for r in rows], values
    )


def _small_hgvs_features(frame: pl.DataFrame) -> SmallFeatures | None:
    """`hgvs_features`' input frame -> its rows by the row form; None when the vectorised form must answer."""
    try:
        if not {"hgvs_c", "hgvs_p", "gene_symbol", "af", "consequence_fallback"} <= set(frame.columns):
            raise _Unusual  # the vectorised form raises polars' own error
        return _small_features(_texts(frame, "hgvs_c"), _texts(frame, "hgvs_p"), _texts(frame, "gene_symbol"),
                               _floats(frame, "af"), _texts(frame, "consequence_fallback"))
    except _Unusual:
        return None


def small_summary_features(summary: pl.DataFrame) -> SmallFeatures | None:
    """`features_from_summary` by the row form (None: a column type it does not reproduce; use the frame form)."""
    try:
        af = [g if g is not None else a for g, a in zip(_floats(summary, "gnomade_af"), _floats(summary, "af"), strict=True)]
        return _small_features(_texts(summary, "hgvsc"), _texts(summary, "hgvsp"), _texts(summary, "gene_symbol"),
                               af, _texts(summary, "most_severe_consequence"))
    except _Unusual:
        return None


def _small_hgvs_rows(df: pl.DataFrame) -> SmallFeatures | None:
    """`features_from_hgvs` by the row form."""
    try:
        n = df.height
        return _small_features(_texts(df, "hgvs_c"), _texts(df, "hgvs_p"), _texts(df, "symbol"), _floats(df, "af"), [None] * n)
    except _Unusual:
        return None
