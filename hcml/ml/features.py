"""Variant features for the pathogenicity model, derived from HGVS c./p. notation.

One code path: ClinVar training rows (HGVS on RefSeq NM_/NP_) and variants annotated in the clinic
(HGVSc/HGVSp on Ensembl ENST/ENSP from `hcml.genomics.annotate`) both go through `hgvs_features()`,
so a variant gets exactly the features it would have had in training. The annotator's consequence string
is only a fall-back for variants with no HGVS at all (intergenic, upstream...), which ClinVar rows never
use for classification (they have no consequence column; they get class `other`).

Everything is polars expressions (no Python loops over rows); amino-acid tables are joined in.
"""

from __future__ import annotations

import functools

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

_AA_TABLE_CACHE: dict[str, pl.DataFrame] = {}


def _aa_table() -> pl.DataFrame:
    """Per (ref, alt) residue pair: the substitution-property features."""
    if "t" not in _AA_TABLE_CACHE:
        rows = []
        for a in AMINO_ACIDS:
            for b in AMINO_ACIDS:
                rows.append(
                    {
                        "ref_aa": a,
                        "alt_aa": b,
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
                )
        _AA_TABLE_CACHE["t"] = pl.DataFrame(rows)
    return _AA_TABLE_CACHE["t"]


def _clean(col: str) -> pl.Expr:
    """Null for VEP's '-' / empty; URL-decoded '=' (VEP writes p.Gln668%3D)."""
    c = pl.col(col).cast(pl.Utf8).str.strip_chars()
    return (
        pl.when(c.is_in(["-", "", "."]) | c.is_null())
        .then(None)
        .otherwise(c.str.replace_all("%3D", "=", literal=True))
    )


def hgvs_features(frame: pl.DataFrame) -> pl.DataFrame:
    """The shared core: frame with `hgvs_c`, `hgvs_p`, `gene_symbol`, `af` (nullable) and
    `consequence_fallback` (nullable SO term) -> one feature row per input row (same order).

    Output: `gene_symbol`, `consequence_class`, `ref_aa`, `alt_aa`, `protein_position`,
    then every name in VARIANT_FEATURES and POPULATION_FEATURES (Float32, never null).
    """
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
        .str.replace(r"^(?:[^:]*:)?p\.", "")
        .str.replace_all(r"[()]", "")
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
        change.str.contains(r"^[ACGTN]>[ACGTN]$").alias("_snv"),
        change.str.contains(r"^del[ACGTN]*ins").alias("_delins"),
        (change.str.contains(r"^del") & ~change.str.contains(r"^del[ACGTN]*ins")).alias("_del"),
        change.str.contains(r"^ins").alias("_ins"),
        change.str.contains(r"^dup").alias("_dup"),
        change.str.extract(r"^del([ACGTN]+)", 1).str.len_chars().alias("_del_seq_len"),
        change.str.extract(r"ins([ACGTN]+)", 1).str.len_chars().alias("_ins_seq_len"),
        change.str.extract(r"^dup([ACGTN]+)", 1).str.len_chars().alias("_dup_seq_len"),
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
        rest.str.contains(r"^(?:del|ins|dup|delins)").alias("_p_indel"),
        rest.str.extract(r"^([A-Z][a-z]{2}|\*)$", 1).replace({"*": "Ter"}).alias("p_alt3"),
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
        .when(pl.col("intron_offset").is_not_null() & (pl.col("intron_offset") <= 2))
        .then(pl.lit("splice_site"))
        .when(
            pl.col("intron_offset").is_not_null()
            & ((pl.col("intron_offset") <= 8) | (~pl.col("_donor").fill_null(False) & (pl.col("intron_offset") <= 17)))
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
    utr_distance = pl.when(pl.col("c_prefix").is_in(["-", "*"])).then(pl.col("c_start"))
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
        (pl.col("intron_offset").fill_null(99) <= 2).cast(pl.Float32).alias("intron_offset_le2"),
        (pl.col("intron_offset").fill_null(99) <= 8).cast(pl.Float32).alias("intron_offset_le8"),
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
        .then(pl.col("af").clip(1e-6, 1.0).log10())
        .otherwise(0.0)
        .cast(pl.Float32)
        .alias("log10_af"),
    )
    return clean, (parsed, protein, changes, lengths, classes, missense), output


def features_from_hgvs(df: pl.DataFrame) -> pl.DataFrame:
    """ClinVar-shaped rows (`hgvs_c`, `hgvs_p`, `symbol`, optional `af`) -> feature rows."""
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


