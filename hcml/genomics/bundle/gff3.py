"""GFF3 (Ensembl, RefSeq): the same tables as from a GTF, transcripts joined to their parts by Parent."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from .feature_lines import _COLUMNS, _read_feature_lines
from .files import BundleError, _open_text
from .gtf import _ATTRS


def _is_gff3(path: Path) -> bool:
    """GFF3 by name (.gff3 / .gff) or by its '##gff-version 3' header."""
    name = path.name.lower().removesuffix(".gz")
    if name.endswith((".gff3", ".gff")):
        return True
    try:
        with _open_text(path) as fh:
            return fh.readline().startswith("##gff-version 3")
    except (OSError, UnicodeDecodeError):
        return False


# GFF3 attributes read, under every name the common producers use (Ensembl, GENCODE, RefSeq/NCBI); which
# one wins follows Ensembl VEP's GFF reader (AnnotationSource/File/GFF.pm and BaseGXF.pm)
_GFF3_KEYS = [
    "ID",
    "Name",
    "id",
    "name",
    "Parent",
    "parent",
    "transcript_id",
    "gene_id",
    "gene_name",
    "gene",
    "biotype",
    "transcript_type",
    "gene_type",
    "gene_biotype",
    "ncrna_class",
    "gbkey",
    "description",
    "version",
    "ccdsid",
    "protein_id",
    "tag",
    "transcript_support_level",
    "tsl",
    "Dbxref",
    "dbxref",
]
_GFF3_PARTS = {"exon": "exon", "cds": "CDS", "stop_codon": "stop_codon"}  # VEP: lc(type); other children ignored
# GFF3 spec: these characters are percent-encoded inside column 9 (',' only inside multi-value attributes)
_GFF3_ESCAPES = [
    ("09", "\t"),
    ("0A", "\n"),
    ("0D", "\r"),
    ("3B", ";"),
    ("3D", "="),
    ("26", "&"),
    ("2C", ","),
    ("25", "%"),
]


def _unescape(expr: pl.Expr) -> pl.Expr:
    for code, char in _GFF3_ESCAPES:  # %25 last, so '%253B' stays '%3B'
        expr = expr.str.replace_all(f"(?i)%{code}", char)
    return expr


def _strip_prefix(expr: pl.Expr) -> pl.Expr:
    """Ensembl's 'transcript:' / 'gene:' ID prefixes dropped, as VEP does (`s/^(gene|transcript)://i`)."""
    return expr.str.replace(r"(?i)^(gene|transcript):", "")


def _gff3_biotype() -> pl.Expr:
    """VEP's `_record_get_biotype`: the biotype / transcript_type attribute, else guessed from the feature type
    (mRNA -> protein_coding, ncRNA -> its ncrna_class, X_gene_segment -> IG_X_gene), a gene described as
    'microRNA...' -> miRNA, else the gbkey (RefSeq)."""
    kind = pl.col("feature").str.to_lowercase()
    segment = kind.str.extract(r"^([a-z]+)_gene_segment$", 1)
    return pl.coalesce(
        "biotype",
        "transcript_type",
        pl.when(kind == "mrna").then(pl.lit("protein_coding")),
        pl.when(kind == "ncrna").then(pl.col("ncrna_class")),
        pl.when(segment.is_not_null()).then(pl.lit("IG_") + segment.str.to_uppercase() + pl.lit("_gene")),
        pl.when(pl.col("g_description").str.starts_with("microRNA")).then(pl.lit("miRNA")),
        "gbkey",
    )


def _read_gff3(path: Path) -> tuple[pl.DataFrame, list[dict]]:
    """A GFF3 of gene models from any producer as the same long frame `_read_gtf` returns (so both formats
    compile through one code path), plus the transcripts left out (transcript_id, line, reason).

    The model is read from the feature types and Parent links, never from ID spellings: a transcript is any
    feature that exon / CDS / stop_codon rows name as Parent (Ensembl's `transcript`, `lincRNA`, ...,
    RefSeq's mRNA / lnc_RNA / C_gene_segment, GENCODE's transcript); its gene is its own Parent. IDs,
    symbols and biotypes are taken as VEP's GFF reader takes them (BaseGXF.pm `_create_transcript`,
    `_add_identifiers`; GFF.pm `_record_get_id`, `_record_get_biotype`). Ensembl's GFF3 CDS rows already
    include the stop codon; GENCODE's do not and carry stop_codon rows, folded in like a GTF's."""

    def attr(key: str) -> pl.Expr:
        return pl.col("attributes").str.extract(rf"(?:^|;)\s*{key}=([^;]*)", 1)

    def attr_list(key: str) -> pl.Expr:
        return attr(key).str.split(",").list.eval(_unescape(pl.element()))

    def extract(df: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        """A chunk as (exon / CDS / stop_codon rows with the few columns they need, the other rows that have
        an ID with every attribute read): rows of neither kind (UTRs, biological_region, ...) link nothing."""
        df = df.with_columns(
            part=pl.col("feature").str.to_lowercase().replace_strict(_GFF3_PARTS, default=None),
            rid=_unescape(pl.coalesce(attr("ID"), attr("Name"), attr("id"), attr("name"))),
        )
        parts = df.filter(pl.col("part").is_not_null()).select(
            *_COLUMNS[:-1],
            "line",
            "part",
            "rid",
            protein_id=_unescape(attr("protein_id")),
            parents=pl.coalesce(attr_list("Parent"), attr_list("parent")),
        )
        records = (
            df.filter(pl.col("part").is_null() & pl.col("rid").is_not_null())
            .with_columns(
                [
                    _unescape(attr(k)).alias(k)
                    for k in _GFF3_KEYS
                    if k not in ("Parent", "parent", "tag", "Dbxref", "dbxref")
                ]
                + [attr_list(k).alias(k) for k in ("Parent", "parent", "tag", "Dbxref", "dbxref")]
            )
            .drop("attributes")
            .with_columns(parents=pl.coalesce("Parent", "parent"))
        )
        return parts, records

    parts, df = _read_feature_lines(path, "GFF3", extract)
    parts = parts.explode("parents").rename({"parents": "parent_id"})
    skipped: list[dict] = []
    known_ids = pl.concat([df["rid"], parts["rid"]]).drop_nulls().implode()
    orphans = parts.filter(pl.col("parent_id").is_null() | ~pl.col("parent_id").is_in(known_ids))
    for line, feature, pid in (
        orphans.select("line", "feature", "parent_id").unique("parent_id", keep="first").iter_rows()
    ):
        why = (
            f"{feature} rows name Parent '{pid}', which no feature has as ID"
            if pid
            else f"{feature} row without a Parent"
        )
        skipped.append({"transcript_id": pid, "line": line, "reason": why})
    tx_rid = parts["parent_id"].drop_nulls().unique().implode()
    genes = (
        df.filter(pl.col("rid").is_not_null())
        .unique("rid", keep="first", maintain_order=True)
        .select(
            gene_rid="rid",
            g_gene_id="gene_id",
            g_name=pl.coalesce("Name", "name"),
            g_version="version",
            g_biotype=pl.coalesce("biotype", "gene_type", "gene_biotype"),
            g_description="description",
        )
    )
    tx = (
        df.filter(pl.col("part").is_null() & pl.col("rid").is_in(tx_rid))
        .with_columns(gene_rid=pl.col("parents").list.first())
        .join(genes, on="gene_rid", how="left", maintain_order="left")
        .with_columns(
            gene_dbxref=pl.col("Dbxref")
            .fill_null(pl.col("dbxref"))
            .list.eval(pl.element().str.extract(r"^GeneID:(.+)$", 1))
            .list.drop_nulls()
            .list.first()
        )
        .select(
            "line",
            "chrom",
            "source",
            pl.lit("transcript").alias("feature"),
            "start",
            "end",
            "score",
            "strand",
            "frame",
            "rid",
            transcript_id=_strip_prefix(pl.coalesce("transcript_id", "rid")),
            gene_id=pl.coalesce("gene_id", "gene_dbxref", "g_gene_id", _strip_prefix(pl.col("gene_rid"))),
            gene_version="g_version",
            gene_name=pl.coalesce("gene_name", "gene", "g_name"),
            gene_biotype="g_biotype",
            transcript_version="version",
            transcript_name=pl.col("Name"),
            transcript_biotype=_gff3_biotype(),
            transcript_source="source",
            transcript_support_level=pl.coalesce("transcript_support_level", "tsl"),
            ccds_id=pl.col("ccdsid").str.replace(r"\.\d+$", ""),
            tags=pl.col("tag").fill_null(pl.lit([], dtype=pl.List(pl.Utf8))),
        )
    )
    # siblings of transcripts (children of their genes) with no exon / CDS rows at all: VEP skips them
    # silently (`return unless $tr_record->{_children}`); they are listed here, not lost
    gene_rid = df.filter(pl.col("rid").is_in(tx_rid))["parents"].list.first().drop_nulls().unique().implode()
    childless = df.filter(
        pl.col("part").is_null() & ~pl.col("rid").is_in(tx_rid) & pl.col("parents").list.first().is_in(gene_rid)
    )
    for tid, line in childless.select(_strip_prefix(pl.coalesce("transcript_id", "rid")), "line").iter_rows():
        skipped.append({"transcript_id": tid, "line": line, "reason": "no exon rows"})
    dup = tx.filter(pl.col("transcript_id").is_duplicated())
    if dup.height:
        lines = ", ".join(str(x) for x in dup["line"].head(4))
        raise BundleError(
            f"{path}: transcript '{dup['transcript_id'][0]}' is defined more than once (lines {lines}): "
            "GFF3 IDs must be unique"
        )
    no_biotype = tx.filter(pl.col("transcript_biotype").is_null())
    for tid, line in no_biotype.select("transcript_id", "line").iter_rows():
        skipped.append(
            {
                "transcript_id": tid,
                "line": line,
                "reason": "no biotype (no biotype / transcript_type attribute, and none follows from its type)",
            }
        )
    tx = tx.filter(pl.col("transcript_biotype").is_not_null())
    children = parts.join(tx.select(parent_id="rid", tid="transcript_id"), on="parent_id", how="inner").select(
        "line",
        "chrom",
        "source",
        pl.col("part").alias("feature"),
        "start",
        "end",
        "score",
        "strand",
        "frame",
        "protein_id",
        transcript_id="tid",
    )  # the transcript's attributes stay on its transcript row: the gene model reads them there
    out = pl.concat([tx.drop("rid"), children], how="diagonal_relaxed")
    for a in _ATTRS:
        if a not in out.columns:
            out = out.with_columns(pl.lit(None, pl.Utf8).alias(a))
    return out.select("line", *_COLUMNS[:-1], *_ATTRS, "tags"), skipped
