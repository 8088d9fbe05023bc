"""The reference data the criteria read, compiled once per bundle into arrays keyed for vectorised look-ups.

- ClinVar (the bundle's release, every gene): each record's consequence class, amino-acid change and protein
  position come from its HGVS through `hcml.ml.features.features_from_hgvs`, the same reading the model and the
  annotator's variants get. Only records of at least `clinvar_min_stars` review stars, not conflicted, count.
  Look-ups are counts per key (gene; gene + residue; gene + residue + new amino acid) so that a variant's own
  record can be subtracted (`self_ids`): a variant is never its own evidence.
- Gene constraint: gnomAD v2.1 LOEUF and missense z (data/constraint).
- Transcript structure: per coding transcript, the cDNA position of its last exon-exon junction and the protein
  length (PVS1's NMD rule).
- Population data coverage: the span of the known-variants table per contig (absence means something only there).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from hcml.config import reference_data_dir

if TYPE_CHECKING:
    from hcml.genomics.bundle.load import ReferenceBundle

NULL_CLASSES = ("stop_gained", "frameshift", "splice_site", "start_lost")
GENE_COUNTS = ("n_plp_null", "n_plp_missense", "n_blb_missense", "n_plp")  # ClinVar evidence records per gene
STARS = {
    "practice guideline": 4,
    "reviewed by expert panel": 3,
    "criteria provided, multiple submitters, no conflicts": 2,
    "criteria provided, single submitter": 1,
    "criteria provided, conflicting interpretations": 1,
}
_POS_BITS = 20  # protein positions below 2**20
_AA_CODES = {aa: i + 1 for i, aa in enumerate("ACDEFGHIKLMNPQRSTVWY*")}


def constraint_path():
    """The full gnomAD constraint table when a part of the project copied it in, else the columns hcml.acmg ships."""
    base = reference_data_dir() / "constraint"
    full = base / "gnomad_v2.1_constraint_canonical.tsv.gz"
    return full if full.is_file() else base / "gnomad_v2.1_constraint_acmg_columns.tsv.gz"


def review_stars() -> pl.Expr:
    return (
        pl.col("review_status").fill_null("").str.to_lowercase().replace_strict(STARS, default=0, return_dtype=pl.Int8)
    )


class KeyIndex:
    """Sorted int64 keys -> row of a values table, looked up with searchsorted (-1: absent)."""

    def __init__(self, keys: np.ndarray) -> None:
        self.keys = np.asarray(keys, dtype=np.int64)

    def find(self, query: np.ndarray) -> np.ndarray:
        if len(self.keys) == 0:
            return np.full(len(query), -1, dtype=np.int64)
        at = np.minimum(np.searchsorted(self.keys, query), len(self.keys) - 1)
        return np.where(self.keys[at] == query, at, -1)


def gather(values: np.ndarray, at: np.ndarray, missing=0):
    """values[at] with `missing` where at == -1."""
    out = values[np.maximum(at, 0)] if len(values) else np.full(len(at), missing, dtype=values.dtype)
    return np.where(at >= 0, out, missing)


@dataclass
class AcmgReference:
    genes: dict[str, int]  # gene symbol -> gene index (every gene of ClinVar or the constraint table)
    loeuf: np.ndarray  # by gene index (NaN: unknown)
    mis_z: np.ndarray
    gene_counts: dict[str, np.ndarray]  # by gene index: GENE_COUNTS
    residue_index: KeyIndex  # gene + protein position
    residue_plp_missense: np.ndarray
    change_index: KeyIndex  # gene + protein position + new amino acid
    change_plp: np.ndarray
    records: pl.DataFrame  # evidence records: clinvar_id, gene, consequence_class, label, residue/change keys, hgvs_p
    record_index: dict[str, int]  # clinvar_id -> row of records
    record_arrays: dict[str, np.ndarray]  # gene_idx, label, residue_key, change_key, null, missense of records
    change_examples: Examples  # change key -> [(clinvar_id, p., significance)] P/LP missense
    residue_examples: Examples  # residue key -> [(id, p., significance, new aa)]
    allele_ids: dict[str, str]  # "chrom:pos:ref:alt" (GRCh38, as ClinVar gives it) -> the ClinVar id there
    transcripts: dict[str, tuple[int, int]]  # transcript id -> (cDNA position of the last junction, protein length)
    population_span: dict[str, tuple[int, int]]  # contig -> (first, last) position of the known-variants table
    constraint_source: str

    def __post_init__(self) -> None:
        """Per-gene evidence as two row-per-gene tables, compiled once: a row's gene data is one take
        (`gene_idx` -1, a gene the reference does not know, takes the last row: unknown constraint, no records)."""
        n = len(self.loeuf)
        self.gene_values = np.vstack([np.column_stack([self.loeuf, self.mis_z]), [[np.nan, np.nan]]]).reshape(n + 1, 2)
        counts = np.zeros((n + 1, len(GENE_COUNTS)), np.int64)
        for j, name in enumerate(GENE_COUNTS):
            counts[:n, j] = self.gene_counts[name]
        self.gene_count_table = counts
        self.population_regions = ", ".join(f"{c}:{a}-{b}" for c, (a, b) in sorted(self.population_span.items()))

    def gene_ids(self, genes: list) -> np.ndarray:
        get = self.genes.get
        return np.fromiter((get(g, -1) for g in genes), np.int64, len(genes))


def residue_keys(gene_idx: np.ndarray, position: np.ndarray) -> np.ndarray:
    """gene + protein position as one int64 (-1 when either is unknown)."""
    ok = (gene_idx >= 0) & (position > 0) & (position < (1 << _POS_BITS))
    return np.where(ok, (gene_idx.astype(np.int64) << _POS_BITS) | position.astype(np.int64), -1)


def change_keys(residue: np.ndarray, alt_aa: list | pl.Series) -> np.ndarray:
    """residue key + new amino acid as one int64 (-1 when either is unknown). A Series (a whole ClinVar release)
    is coded by polars; a request's few variants by a dict look-up, cheaper than a Series round trip."""
    if isinstance(alt_aa, pl.Series):
        codes = alt_aa.replace_strict(_AA_CODES, default=0, return_dtype=pl.Int64).fill_null(0).to_numpy()
    else:
        codes = np.fromiter((_AA_CODES.get(a or "", 0) for a in alt_aa), np.int64, len(alt_aa))
    return np.where((residue >= 0) & (codes > 0), residue * 32 + codes, -1)


class Examples:
    """Key -> the ClinVar records of that key (tuples, in release order), as sorted keys over row ranges: one
    table per bundle instead of thousands of small lists (built in milliseconds, nothing for the collector)."""

    def __init__(self, keys: np.ndarray, rows: list[tuple]) -> None:
        order = np.argsort(keys, kind="stable")
        self.keys = np.asarray(keys, np.int64)[order]
        self.rows = [rows[i] for i in order.tolist()]

    def get(self, key: int, default=None) -> list[tuple]:
        lo, hi = int(np.searchsorted(self.keys, key, "left")), int(np.searchsorted(self.keys, key, "right"))
        return self.rows[lo:hi] if hi > lo else default

    def __len__(self) -> int:
        return len(self.rows)


def _constraint(genes: dict[str, int], n: int) -> tuple[np.ndarray, np.ndarray, str]:
    path = constraint_path()
    df = pl.read_csv(path, separator="\t", infer_schema=False, null_values=["NA", ""]).select(
        pl.col("gene"), pl.col("oe_lof_upper").cast(pl.Float64), pl.col("mis_z").cast(pl.Float64)
    )
    # a symbol on several canonical rows: the most constrained one
    df = df.group_by("gene").agg(pl.col("oe_lof_upper").min(), pl.col("mis_z").max())
    loeuf, mis_z = np.full(n, np.nan), np.full(n, np.nan)
    at = df["gene"].replace_strict(genes, return_dtype=pl.Int64).to_numpy()
    loeuf[at] = df["oe_lof_upper"].fill_null(np.nan).to_numpy()
    mis_z[at] = df["mis_z"].fill_null(np.nan).to_numpy()
    return loeuf, mis_z, path.name


def _transcripts(bundle: ReferenceBundle) -> dict[str, tuple[int, int]]:
    """transcript id -> (cDNA position of the last exon-exon junction, protein length in codons)."""
    tx = bundle.transcripts.filter(pl.col("cds_start").is_not_null()).select("transcript_id", "cds_start", "cds_end")
    ex = bundle.exons.join(tx, on="transcript_id", how="inner").sort("transcript_id", "exon_number")
    per = ex.group_by("transcript_id").agg(
        ((pl.col("end") - pl.col("start") + 1).sum() - (pl.col("end") - pl.col("start") + 1).last()).alias("junction"),
        (pl.min_horizontal("end", "cds_end") - pl.max_horizontal("start", "cds_start") + 1)
        .clip(0, None)
        .sum()
        .alias("cds_len"),
    )
    return {t: (int(j), int(c) // 3 - 1) for t, j, c in per.iter_rows()}  # less the stop codon


CACHE_VERSION = "1"


def _clinvar_records(bundle: ReferenceBundle) -> pl.DataFrame:
    """Every ClinVar record of the bundle with its label, review stars and HGVS reading (consequence class, new
    amino acid, protein position: `hcml.ml.features.hgvs_block`, the model's reading). Reading 117k HGVS
    strings takes seconds (4 s of a container's 5 s cold start), so the result is kept in the bundle's own
    cache/ (written by `hcml reference build`, so that a read-only image starts without it) or else under
    data_dir()/cache, keyed by the bundle's sha256 and the reading code's: a service starting again on the
    same bundle and code only reads it."""
    import hashlib

    import hcml.ml.features as features
    import hcml.ml.hgvs_text as hgvs_text
    from hcml.config import data_dir

    code = hashlib.sha256(b"".join(Path(m.__file__).read_bytes() for m in (features, hgvs_text))).hexdigest()
    key = (
        f"acmg_clinvar_{CACHE_VERSION}_{str(bundle.manifest.get('bundle_sha256', 'unknown'))[:16]}_{code[:12]}.parquet"
    )
    places = [Path(bundle.path) / "cache", data_dir() / "cache"]
    for place in places:
        f = place / key
        if f.is_file():
            try:
                return pl.read_parquet(f)
            except Exception:  # noqa: BLE001 - a torn cache file is rebuilt
                pass
    records = _read_clinvar_records(bundle)
    for place in places:
        try:
            place.mkdir(parents=True, exist_ok=True)
            tmp = place / f".{key}.tmp"
            records.write_parquet(tmp)
            tmp.replace(place / key)
            break
        except OSError:
            continue
    return records


def _read_clinvar_records(bundle: ReferenceBundle) -> pl.DataFrame:
    from hcml.ml.data import label_expr
    from hcml.ml.features import hgvs_block

    cv = bundle.clinvar
    if "conflicted" not in cv.columns:
        cv = cv.with_columns(pl.lit("0").alias("conflicted"))
    cv = cv.with_columns(
        label_expr().alias("label"),
        review_stars().alias("stars"),
        pl.col("measureset_id").cast(pl.Utf8).alias("clinvar_id")
        if "measureset_id" in cv.columns
        else pl.int_range(pl.len()).cast(pl.Utf8).alias("clinvar_id"),
    ).filter(pl.col("symbol").is_not_null())
    block = hgvs_block(cv.select("hgvs_c", "hgvs_p", "symbol"))
    pos = np.asarray(block.protein_position, dtype=np.float64)
    return pl.DataFrame(
        {
            "clinvar_id": cv["clinvar_id"],
            "gene": cv["symbol"],
            "label": cv["label"],
            "stars": cv["stars"],
            "hgvs_p": cv["hgvs_p"].str.replace(r"^[^:]*:", ""),
            "hgvs_c": cv["hgvs_c"],
            "significance": cv["clinical_significance"].str.replace_all(";", "/"),
            "consequence_class": pl.Series(block.consequence_class.tolist(), dtype=pl.Utf8),
            "alt_aa": pl.Series(list(block.alt_aa), dtype=pl.Utf8),
            "protein_position": pl.Series(np.nan_to_num(pos, nan=0.0).astype(np.int64)),
            "chrom": cv["chrom"],
            "pos": cv["pos"],
            "ref": cv["ref"],
            "alt": cv["alt"],
        }
    )


def build_reference(bundle: ReferenceBundle, min_stars: int = 1) -> AcmgReference:
    rec = _clinvar_records(bundle)
    constraint_genes = pl.read_csv(constraint_path(), separator="\t", columns=["gene"])["gene"]
    symbols = pl.concat([rec["gene"], constraint_genes]).unique().sort().to_list()
    genes = dict(zip(symbols, range(len(symbols)), strict=True))
    loeuf, mis_z, source = _constraint(genes, len(symbols))

    gidx = rec["gene"].replace_strict(genes, return_dtype=pl.Int64).to_numpy()
    residue = residue_keys(gidx, rec["protein_position"].fill_null(0).to_numpy())
    change = change_keys(residue, rec["alt_aa"])
    rec = rec.with_columns(
        pl.Series("gene_idx", gidx), pl.Series("residue_key", residue), pl.Series("change_key", change)
    )
    # evidence: labelled records of enough review stars (the label already excludes conflicted records)
    rec = rec.filter(pl.col("label").is_not_null())
    evid = rec.filter(pl.col("stars") >= min_stars)
    # one record per variant (gene + c. change): every ClinVar id of a variant names that one record, so a
    # variant submitted under several ids is still never its own evidence
    same = (
        pl.when(pl.col("hgvs_c").is_not_null())
        .then(pl.col("clinvar_id").first().over("gene", "hgvs_c"))
        .otherwise(pl.col("clinvar_id"))
    )
    evid = evid.with_columns(same.alias("rep_id"))
    aliases = evid.select("clinvar_id", "rep_id")
    evid = evid.filter(pl.col("clinvar_id") == pl.col("rep_id")).drop("rep_id")
    plp = pl.col("label") == 1
    counts = evid.group_by("gene_idx").agg(
        (plp & pl.col("consequence_class").is_in(NULL_CLASSES)).sum().alias("n_plp_null"),
        (plp & (pl.col("consequence_class") == "missense")).sum().alias("n_plp_missense"),
        (~plp & (pl.col("consequence_class") == "missense")).sum().alias("n_blb_missense"),
        plp.sum().alias("n_plp"),
    )
    gene_counts = {}
    for c in GENE_COUNTS:
        arr = np.zeros(len(symbols), np.int64)
        arr[counts["gene_idx"].to_numpy()] = counts[c].to_numpy()
        gene_counts[c] = arr
    mis = evid.filter(plp & (pl.col("consequence_class") == "missense") & (pl.col("residue_key") >= 0))
    res = mis.group_by("residue_key").agg(pl.len().alias("n")).sort("residue_key")
    chg = mis.group_by("change_key").agg(pl.len().alias("n")).sort("change_key")
    ex = mis.select(
        "change_key", "residue_key", "clinvar_id", pl.coalesce("hgvs_p", "hgvs_c"), "significance", "alt_aa"
    )
    rows = ex.drop("change_key", "residue_key").rows()
    change_examples = Examples(ex["change_key"].to_numpy(), [r[:3] for r in rows])
    residue_examples = Examples(ex["residue_key"].to_numpy(), rows)
    alleles = rec.select(pl.concat_str("chrom", "pos", "ref", "alt", separator=":"), "clinvar_id").drop_nulls()
    alleles = alleles.unique(subset="chrom", keep="first")
    allele_ids = dict(zip(alleles["chrom"].to_list(), alleles["clinvar_id"].to_list(), strict=True))
    kv = bundle.known_variants
    span = (
        {
            c: (int(lo), int(hi))
            for c, lo, hi in kv.group_by("chrom")
            .agg(pl.col("pos").min().alias("lo"), pl.col("pos").max().alias("hi"))
            .iter_rows()
        }
        if kv.height
        else {}
    )
    evid = evid.with_columns(pl.col("stars").cast(pl.Int64))
    return AcmgReference(
        genes=genes,
        loeuf=loeuf,
        mis_z=mis_z,
        gene_counts=gene_counts,
        residue_index=KeyIndex(res["residue_key"].to_numpy()),
        residue_plp_missense=res["n"].to_numpy().astype(np.int64),
        change_index=KeyIndex(chg["change_key"].to_numpy()),
        change_plp=chg["n"].to_numpy().astype(np.int64),
        change_examples=change_examples,
        residue_examples=residue_examples,
        allele_ids=allele_ids,
        records=evid,
        record_arrays={
            **{c: evid[c].to_numpy() for c in ("gene_idx", "label", "residue_key", "change_key")},
            "null": evid["consequence_class"].is_in(NULL_CLASSES).fill_null(False).to_numpy(),
            "missense": (evid["consequence_class"] == "missense").fill_null(False).to_numpy(),
        },
        record_index=_alias_index(evid, aliases),
        transcripts=_transcripts(bundle),
        population_span=span,
        constraint_source=source,
    )


def _alias_index(records: pl.DataFrame, aliases: pl.DataFrame) -> dict[str, int]:
    """Every ClinVar id of an evidence record -> that record's row."""
    rows = records.select("clinvar_id").with_row_index("row")
    at = aliases.join(rows, left_on="rep_id", right_on="clinvar_id", how="inner", maintain_order="left")
    return dict(zip(at["clinvar_id"].to_list(), at["row"].to_list(), strict=True))
