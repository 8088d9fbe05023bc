"""The reference bundle: gene models, genome sequence, known variants and ClinVar compiled once from the
standard files a lab has (GTF + bgzipped FASTA + VEP-cache known variants + ClinVar TSV) into Parquet
tables, a raw-bytes sequence file and a manifest, so that loading it costs milliseconds.

Layout of a bundle directory:
    manifest.json            sources (path, sha256, version), built_at, hcml_version, bundle_sha256, contigs
    transcripts.parquet      one row per transcript (see `ReferenceBundle.transcripts`)
    exons.parquet            transcript_id, exon_number (transcript order), start, end
    cds.parquet              transcript_id, start, end, phase (GTF CDS rows; stop codons folded in)
    sequence.bin             the non-N segments of every contig, concatenated (uppercase ASCII)
    sequence_segments.parquet  chrom, start, end (1-based inclusive), offset into sequence.bin
    known_variants.parquet   VEP-style alleles (trimmed, '-' for empty) with 1000G / gnomAD AFs, CLIN_SIG
    clinvar.parquet          ClinVar on GRCh38 (VCF-style alleles as given by ClinVar)
"""

from __future__ import annotations

import datetime as _dt
import gzip
import hashlib
import json
import re
import warnings
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import polars as pl

from hcml.genomics.transcript_map import codon_table_of_contig

BUNDLE_FORMAT = 1
POPULATIONS_1KG = ["AFR", "AMR", "EAS", "EUR", "SAS"]
GNOMADE_POPS = ["AFR", "AMR", "ASJ", "EAS", "FIN", "MID", "NFE", "REMAINING", "SAS"]


class BundleError(ValueError):
    """A source file is missing or cannot be compiled; the message names the file and the problem."""


# --------------------------------------------------------------------------------------------- helpers
def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _open_text(path: Path):
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rt")
    return open(path, "rt")


def _guess_version(kind: str, path: Path) -> str:
    name = path.name
    if kind == "gtf":
        m = re.search(r"ensembl[_-]?(\d+)", name, re.I)
        return f"Ensembl {m.group(1)}" if m else "unknown"
    if kind == "fasta":
        m = re.search(r"(GRCh\d+|hg\d+)", name, re.I)
        return m.group(1) if m else "unknown"
    if kind == "clinvar":
        m = re.search(r"(\d{4}-\d{2}-\d{2})", name)
        return f"ClinVar {m.group(1)}" if m else "unknown"
    if kind == "known_variants":
        return "Ensembl VEP cache 84 (dbSNP, 1000 Genomes, gnomAD exomes)"
    return "unknown"


def normalise_contig(name: str) -> str:
    """'chr21' / 'CHR21' / '21' -> '21'; 'chrM' -> 'MT'."""
    n = name.strip()
    if n.lower().startswith("chr"):
        n = n[3:]
    if n in ("M", "m"):
        n = "MT"
    return n


# -------------------------------------------------------------------------------- GTF / GFF3 lines
_COLUMNS = ["chrom", "source", "feature", "start", "end", "score", "strand", "frame", "attributes"]


class BundleWarning(UserWarning):
    """Part of a source was left out (e.g. a transcript without exons); the bundle still builds and its
    manifest lists what was skipped and why."""


FEATURE_CHUNK_LINES = 1 << 18  # lines parsed at a time: a whole-genome GTF is never held as text


def _text_chunks(path: Path, kind: str, lines_per_chunk: int):
    """(first line number, lines) of a text / gzip / bgzip file, `lines_per_chunk` lines at a time."""
    try:
        with _open_text(path) as fh:
            first, buf = 1, []
            for line in fh:
                buf.append(line)
                if len(buf) == lines_per_chunk:
                    yield first, buf
                    first, buf = first + len(buf), []
            if buf:
                yield first, buf
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise BundleError(f"{path}: cannot read as a {kind} file ({exc})") from exc


def _read_feature_lines(path: Path, kind: str, extract=None, lines_per_chunk: int | None = None) -> pl.DataFrame:
    """The feature rows of a GTF / GFF3 as its nine columns plus `line` (1-based line in the file); comments,
    blank lines and a GFF3's embedded `##FASTA` section are not features. The file is read in chunks of
    lines and `extract` (frame -> frame) turns each chunk into the columns kept, so memory follows the gene
    model tables, not the file (a whole-genome Ensembl GTF is ~1.5 GB of text, mostly repeated attributes).
    A row that is not nine tab-separated columns, or whose start / end is not an integer, raises BundleError
    naming the file and line: GFF3 (spec 1.26, "Column 9") requires a tab inside an attribute to be written
    %09, so a tenth column means a malformed file, and guessing which tab was meant would hide other damage."""
    parts = []
    for first, lines in _text_chunks(path, kind, lines_per_chunk or FEATURE_CHUNK_LINES):
        df = pl.DataFrame({"text": lines}, schema={"text": pl.Utf8}).with_row_index("line", offset=first)
        df = df.with_columns(pl.col("line").cast(pl.Int64), pl.col("text").str.strip_chars_end("\r\n"))
        fasta = df.filter(pl.col("text").str.starts_with("##FASTA"))
        if fasta.height:
            df = df.filter(pl.col("line") < fasta["line"][0])
        df = _feature_columns(path, kind, df)
        if df.height:
            parts.append(extract(df) if extract is not None else df)
        if fasta.height:
            break
    if not parts:
        raise BundleError(f"{path}: not a {kind} file (no feature lines)")
    if isinstance(parts[0], tuple):  # an `extract` that splits each chunk: one frame per kind
        return tuple(pl.concat(kind_parts, how="vertical_relaxed") for kind_parts in zip(*parts))
    return pl.concat(parts, how="vertical_relaxed")


def _feature_columns(path: Path, kind: str, df: pl.DataFrame) -> pl.DataFrame:
    """One chunk of lines (`line`, `text`) -> its feature rows as the nine columns (errors name the line)."""
    df = df.filter(~pl.col("text").str.starts_with("#") & (pl.col("text").str.strip_chars() != ""))
    df = df.with_columns(pl.col("text").str.split("\t").alias("_f")).with_columns(_n=pl.col("_f").list.len())
    bad = df.filter(pl.col("_n") != 9)
    if bad.height:
        line, n = bad["line"][0], bad["_n"][0]
        hint = " (a tab inside an attribute must be written %09)" if n > 9 else ""
        more = f"; {bad.height - 1} more such lines" if bad.height > 1 else ""
        raise BundleError(f"{path}:{line}: {n} tab-separated columns where {kind} has 9{hint}{more}")
    df = df.select("line", *[pl.col("_f").list.get(i).alias(c) for i, c in enumerate(_COLUMNS)])
    for col in ("start", "end"):
        as_int = pl.col(col).str.strip_chars().cast(pl.Int64, strict=False)
        bad = df.filter(as_int.is_null())
        if bad.height:
            raise BundleError(f"{path}:{bad['line'][0]}: {col} '{bad[col][0][:40]}' is not an integer")
        df = df.with_columns(as_int.alias(col))
    return df.with_columns(
        pl.col("chrom").replace_strict(
            {c: normalise_contig(c) for c in df["chrom"].unique().to_list()}, return_dtype=pl.Utf8
        )
    )


# ------------------------------------------------------------------------------------------ GTF parsing
_ATTRS = [
    "gene_id",
    "gene_version",
    "gene_name",
    "gene_biotype",
    "transcript_id",
    "transcript_version",
    "transcript_name",
    "transcript_biotype",
    "transcript_source",
    "transcript_support_level",
    "exon_number",
    "ccds_id",
    "protein_id",
    "protein_version",
]


# GTF rows the gene model is compiled from (gene, UTR, start_codon rows carry nothing the bundle keeps)
_GTF_FEATURES = ["transcript", "exon", "CDS", "stop_codon", "Selenocysteine"]


def _read_gtf(gtf: Path) -> tuple[pl.DataFrame, list[dict]]:
    """A GTF (Ensembl or GENCODE) as the long frame of `_gene_models`, plus the transcripts left out: exon /
    CDS rows whose transcript has no `transcript` row (VEP's GTF reader ties rows by transcript_id too, and
    warns about parents it does not find). Biotypes as VEP's GTF.pm `_record_get_biotype` takes them."""
    extra = ["transcript_type", "gene_type", "biotype"]  # GENCODE's names

    def extract(df: pl.DataFrame) -> pl.DataFrame:
        """A chunk's attributes: transcript and gene attributes from transcript rows only (exon / CDS rows
        repeat them), the transcript id, protein id and tags from every row."""
        df = df.filter(pl.col("feature").is_in(_GTF_FEATURES))
        on_tx = pl.col("feature") == "transcript"
        every_row = {"transcript_id", "protein_id", "protein_version", "source"}
        return (
            df.with_columns(
                [
                    pl.col("attributes").str.extract(rf'(?:^|; ){a} "([^"]*)"', 1).alias(a)
                    if a in every_row
                    else pl.when(on_tx).then(pl.col("attributes").str.extract(rf'(?:^|; ){a} "([^"]*)"', 1)).alias(a)
                    for a in _ATTRS + extra
                ]
                + [
                    pl.col("attributes")
                    .str.extract_all(r'tag "[^"]*"')
                    .list.eval(pl.element().str.slice(5).str.strip_chars('"'))
                    .alias("tags"),
                ]
            )
            .with_columns(
                transcript_biotype=pl.coalesce("transcript_biotype", "transcript_type", "biotype", "source"),
                gene_biotype=pl.coalesce("gene_biotype", "gene_type"),
            )
            .drop(extra, "attributes")
        )

    df = _read_feature_lines(gtf, "GTF", extract)
    # some GTFs list several transcripts on one exon/CDS row ("ENST1,ENST1_1"): the row belongs to each
    df = df.with_columns(pl.col("transcript_id").str.split(",")).explode("transcript_id")
    has_row = df.filter(pl.col("feature") == "transcript")["transcript_id"].implode()
    orphans = (
        df.filter(pl.col("feature").is_in(["exon", "CDS", "stop_codon"]) & ~pl.col("transcript_id").is_in(has_row))
        .group_by("transcript_id", maintain_order=True)
        .agg(pl.col("line").first())
    )
    skipped = [
        {"transcript_id": tid, "line": line, "reason": "exon / CDS rows but no transcript row"}
        for tid, line in orphans.iter_rows()
    ]
    return df, skipped


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


_STOPS = {"TAA", "TAG", "TGA"}


def _derive_nf_flags(tr: pl.DataFrame, cds: pl.DataFrame, segs: pl.DataFrame, seq: np.ndarray) -> pl.DataFrame:
    """GFF3 files carry no cds_start_NF / cds_end_NF tags: derive them as Ensembl sets them. Start not
    found: the 5'-most CDS segment has a non-zero phase or the CDS does not begin with ATG; end not found:
    the CDS (after the phase) is not whole codons or does not end with a stop. Sequence checks are skipped
    where the CDS has an N. Vectorised over every transcript: the bases are read from the compiled sequence
    (`segs` + `seq`, as the bundle stores them) at the genomic places of CDS offsets."""
    c = (
        cds.join(tr.select("transcript_id", "chrom", "strand"), on="transcript_id", how="inner")
        .with_columns(along=pl.when(pl.col("strand") == 1).then(pl.col("start")).otherwise(-pl.col("start")))
        .sort("transcript_id", "along")
        .with_columns(length=pl.col("end") - pl.col("start") + 1)
    )
    if c.height == 0:
        return tr.with_columns(flags=pl.lit(None, pl.Utf8))
    c = c.with_columns(
        goff=pl.col("length").cum_sum() - pl.col("length"),
        n_bases=c["length"].to_numpy()
        - _covered(c["chrom"].to_numpy(), c["start"].to_numpy(), c["end"].to_numpy(), segs),
    )
    per = c.group_by("transcript_id", maintain_order=True).agg(
        chrom=pl.col("chrom").first(),
        strand=pl.col("strand").first(),
        phase=pl.col("phase").first().fill_null(0),
        base=pl.col("goff").first(),
        total=pl.col("length").sum(),
        n_bases=pl.col("n_bases").sum(),
    )
    goff, g_start, g_end, g_strand = (c[x].to_numpy() for x in ("goff", "start", "end", "strand"))
    g_chrom = c["chrom"].to_numpy()
    phase = per["phase"].to_numpy().astype(np.int64)
    length = per["total"].to_numpy() - phase  # CDS after the phase
    base = per["base"].to_numpy()
    whole = length - length % 3

    def codon(k0: np.ndarray) -> list[np.ndarray]:
        """Bases (transcript strand) at CDS offsets k0, k0+1, k0+2 (after the phase); 'N' past the end."""
        out = []
        for j in range(3):
            k = k0 + j
            ok = (k >= 0) & (k < length)
            q = base + phase + np.where(ok, k, 0)
            row = np.searchsorted(goff, q, "right") - 1
            fwd = g_strand[row] == 1
            pos = np.where(fwd, g_start[row] + (q - goff[row]), g_end[row] - (q - goff[row]))
            b = _bases_at(g_chrom[row], pos, segs, seq)
            b = np.where(fwd, b, _COMPLEMENT[b])
            out.append(np.where(ok, b, ord("N")))
        return out

    def spells(bases: list[np.ndarray], words: set[str]) -> np.ndarray:
        text = np.stack(bases, axis=1).astype(np.uint8)
        return np.isin(text.view("S3").ravel(), np.array([w.encode() for w in words], dtype="S3"))

    known = per["n_bases"].to_numpy() == 0
    start_nf = (phase != 0) | (known & ~spells(codon(np.zeros(len(phase), np.int64)), {"ATG"}))
    end_nf = (length % 3 != 0) | (known & ~(spells(codon(whole - 3), _STOPS) & (whole >= 3)))
    flags = pl.DataFrame({"transcript_id": per["transcript_id"], "start_nf": start_nf, "end_nf": end_nf}).select(
        "transcript_id",
        flags=pl.concat_list(
            pl.when("start_nf").then(pl.lit("cds_start_NF")), pl.when("end_nf").then(pl.lit("cds_end_NF"))
        )
        .list.drop_nulls()
        .list.join(","),
    )
    return (
        tr.drop("flags")
        .join(flags, on="transcript_id", how="left", maintain_order="left")
        .with_columns(flags=pl.when(pl.col("flags") == "").then(None).otherwise(pl.col("flags")))
        .select(tr.columns)
    )


_COMPLEMENT = np.arange(256, dtype=np.uint8)
for _a, _b in zip(b"ACGTNacgtn", b"TGCANtgcan"):
    _COMPLEMENT[_a] = _b


def _bases_at(chrom: np.ndarray, pos: np.ndarray, segs: pl.DataFrame, seq: np.ndarray) -> np.ndarray:
    """Bases (uint8) at 1-based positions of the compiled sequence; N outside its non-N segments."""
    out = np.full(len(pos), ord("N"), np.uint8)
    for (name,), grp in segs.sort("start").group_by("chrom"):
        sel = np.flatnonzero(chrom == name)
        if not len(sel):
            continue
        s, e, off = (grp[x].to_numpy() for x in ("start", "end", "offset"))
        i = np.minimum(np.searchsorted(e, pos[sel], "left"), len(e) - 1)
        inside = (s[i] <= pos[sel]) & (pos[sel] <= e[i])
        out[sel[inside]] = seq[off[i[inside]] + pos[sel][inside] - s[i[inside]]]
    return out


def _covered(chrom: np.ndarray, start: np.ndarray, end: np.ndarray, segs: pl.DataFrame) -> np.ndarray:
    """Real (non-N) bases of each interval start..end: the difference of the running count of real bases."""
    out = np.zeros(len(start), np.int64)
    for (name,), grp in segs.sort("start").group_by("chrom"):
        sel = np.flatnonzero(chrom == name)
        if not len(sel):
            continue
        s, e = grp["start"].to_numpy(), grp["end"].to_numpy()
        before = np.concatenate(([0], np.cumsum(e - s + 1)))  # real bases before each segment

        def upto(x):  # real bases at positions <= x
            i = np.searchsorted(s, x, "right") - 1
            return np.where(
                i >= 0,
                before[np.maximum(i, 0)] + np.clip(x - s[np.maximum(i, 0)] + 1, 0, (e - s + 1)[np.maximum(i, 0)]),
                0,
            )

        out[sel] = upto(end[sel]) - upto(start[sel] - 1)
    return out


def _canonical(tr: pl.DataFrame) -> pl.Series:
    """Ensembl's canonical-transcript rule for releases that do not tag it, per gene: the MANE Select
    transcript when the release marks one (Ensembl's canonical definition since MANE, release 104 glossary:
    "the MANE Select transcript where one exists"); otherwise the rule before MANE (releases up to ~100):
    protein-coding genes: the longest CCDS translation, else the longest Ensembl/Havana merged translation,
    else the longest translation; genes without translations: the longest transcript. Ties: longer
    transcript (cDNA), then the lower stable id."""
    ranked = tr.with_columns(
        has_tl=pl.col("cds_length").is_not_null() & (pl.col("biotype") == "protein_coding"),
        is_ccds=pl.col("ccds").is_not_null(),
        is_merged=pl.col("source") == "ensembl_havana",
    ).with_columns(
        tier=pl.when(pl.col("mane_select").fill_null(False) if "mane_select" in tr.columns else pl.lit(False))
        .then(-1)
        .when(pl.col("has_tl") & pl.col("is_ccds"))
        .then(0)
        .when(pl.col("has_tl") & pl.col("is_merged"))
        .then(1)
        .when(pl.col("has_tl"))
        .then(2)
        .otherwise(3),
        tl_len=pl.when(pl.col("has_tl")).then(pl.col("cds_length")).otherwise(0),
    )
    best = (
        ranked.sort(
            ["gene_id", "tier", "tl_len", "cdna_length", "transcript_id"], descending=[False, False, True, True, False]
        )
        .group_by("gene_id", maintain_order=True)
        .first()
        .select("transcript_id")
    )
    return tr["transcript_id"].is_in(best["transcript_id"].implode()).alias("canonical")


def _without_exons(g: pl.DataFrame) -> pl.DataFrame:
    """Transcripts with no exon rows (transcript_id, line, reason). Ensembl VEP warns and leaves such a
    transcript out ("No exons found for protein_coding transcript", BaseGXF.pm `_create_transcript`); hcml
    does the same for every biotype, as a model without exons has no cDNA to map a variant onto."""
    has_exon = g.filter(pl.col("feature") == "exon")["transcript_id"].unique().implode()
    lonely = g.filter((pl.col("feature") == "transcript") & ~pl.col("transcript_id").is_in(has_exon))
    with_cds = g.filter(pl.col("feature") == "CDS")["transcript_id"].unique().implode()
    return lonely.select(
        "transcript_id",
        "line",
        reason=pl.when(pl.col("transcript_id").is_in(with_cds))
        .then(pl.lit("CDS rows but no exon rows"))
        .otherwise(pl.lit("no exon rows")),
    )


def _exon_order(exons: pl.DataFrame) -> pl.Series:
    """Exon numbers from the exons' order along the transcript (5' to 3': ascending start on the + strand,
    descending on the - strand), as Ensembl ranks them; a file's own rank / exon_number is not needed."""
    along = pl.when(pl.col("strand") == "-").then(-pl.col("start")).otherwise(pl.col("start"))
    return exons.select(along.rank("ordinal").over("transcript_id").cast(pl.Int32).alias("exon_number")).to_series()


# Ensembl / GENCODE transcript tags kept as boolean columns (GENCODE "tag" vocabulary; MANE: the
# NCBI/EMBL-EBI MANE project's Select and Plus Clinical sets)
_TAG_COLUMNS = {
    "ensembl_canonical": "Ensembl_canonical",
    "mane_select": "MANE_Select",
    "mane_plus_clinical": "MANE_Plus_Clinical",
    "mrna_start_nf": "mRNA_start_NF",
    "mrna_end_nf": "mRNA_end_NF",
}


def _merge_cds(cds: pl.DataFrame) -> pl.DataFrame:
    """CDS and stop_codon rows -> one interval per run of touching / overlapping rows of a transcript
    (transcript_id, start, end, phase). The phase is the CDS row's frame: on the + strand the first one given
    along the run, on the - strand the last (the phase belongs to the 5' row, the higher one)."""
    phase = pl.when((pl.col("feature") == "CDS") & (pl.col("frame") != ".")).then(
        pl.col("frame").cast(pl.Int8, strict=False)
    )
    return (
        cds.select("transcript_id", "start", "end", "strand", phase=phase)
        .sort("transcript_id", "start", maintain_order=True)
        .with_columns(reach=pl.col("end").cum_max().shift(1).over("transcript_id"))
        .with_columns(run=(pl.col("reach").is_null() | (pl.col("start") > pl.col("reach") + 1)).cum_sum())
        .group_by("transcript_id", "run", maintain_order=True)
        .agg(
            start=pl.col("start").min(),
            end=pl.col("end").max(),
            phase=pl.when(pl.col("strand").first() == "-")
            .then(pl.col("phase").drop_nulls().last())
            .otherwise(pl.col("phase").drop_nulls().first()),
        )
        .select(
            "transcript_id", pl.col("start").cast(pl.Int64), pl.col("end").cast(pl.Int64), pl.col("phase").cast(pl.Int8)
        )
    )


def _gene_models(gtf: Path) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, list[dict]]:
    """(transcripts, exons, CDS intervals, skipped transcripts) of a GTF or GFF3."""
    g, skipped = _read_gff3(gtf) if _is_gff3(gtf) else _read_gtf(gtf)
    lonely = _without_exons(g)
    skipped = skipped + lonely.to_dicts()
    g = g.filter(~pl.col("transcript_id").is_in(lonely["transcript_id"].implode()))
    tx_rows = g.filter(pl.col("feature") == "transcript")
    if tx_rows.height == 0:
        raise BundleError(f"{gtf}: no transcripts with exons (is it a GTF / GFF3 of gene models?)")
    exons = (
        g.filter(pl.col("feature") == "exon")
        .join(tx_rows.select("transcript_id", tx_strand="strand"), on="transcript_id", how="inner")
        .select("transcript_id", "start", "end", strand="tx_strand")
    )
    exons = exons.with_columns(_exon_order(exons))
    cds = g.filter(
        pl.col("feature").is_in(["CDS", "stop_codon"])
        & pl.col("transcript_id").is_in(tx_rows["transcript_id"].implode())
    )
    # fold stop codons into the CDS intervals (Ensembl GTF CDS rows exclude the stop codon)
    cds_tab = _merge_cds(cds)
    cds_span = cds_tab.group_by("transcript_id").agg(
        cds_start=pl.col("start").min(),
        cds_end=pl.col("end").max(),
        cds_length=(pl.col("end") - pl.col("start") + 1).sum(),
    )
    exon_len = exons.group_by("transcript_id").agg(
        cdna_length=(pl.col("end") - pl.col("start") + 1).sum(), n_exons=pl.len()
    )
    prot = (
        g.filter(pl.col("feature") == "CDS")
        .group_by("transcript_id")
        .agg(protein_id=pl.col("protein_id").first(), protein_version=pl.col("protein_version").first())
    )
    sec = (
        g.filter(pl.col("feature") == "Selenocysteine")
        .group_by("transcript_id")
        .agg(selenocysteine=pl.col("start").unique().sort())
    )
    tags = (
        g.filter(pl.col("feature").is_in(["transcript", "exon", "CDS"]))
        .group_by("transcript_id")
        .agg(tags=pl.col("tags").list.explode(keep_nulls=False, empty_as_null=False).unique())
    )
    tr = (
        tx_rows.select(
            "transcript_id",
            pl.col("transcript_version").cast(pl.Int32),
            "gene_id",
            pl.col("gene_version").cast(pl.Int32),
            pl.col("gene_name").alias("gene_symbol"),
            pl.col("transcript_biotype").alias("biotype"),
            "gene_biotype",
            "transcript_name",
            pl.col("transcript_source").alias("source"),
            # "1", "1 (assigned to previous version 5)", "NA": the level is the leading digit (Ensembl GTF)
            pl.col("transcript_support_level").str.extract(r"^\s*([1-5])\b", 1).cast(pl.Int8).alias("tsl"),
            "chrom",
            "start",
            "end",
            pl.when(pl.col("strand") == "-").then(-1).otherwise(1).cast(pl.Int8).alias("strand"),
            pl.col("ccds_id").alias("ccds"),
        )
        .join(cds_span, on="transcript_id", how="left")
        .join(exon_len, on="transcript_id", how="left")
        .join(prot, on="transcript_id", how="left")
        .join(tags, on="transcript_id", how="left")
        .join(sec, on="transcript_id", how="left")
        .with_columns(
            # VEP's FLAGS order: cds_start_NF before cds_end_NF
            flags=pl.concat_list(
                pl.when(pl.col("tags").list.contains("cds_start_NF")).then(pl.lit("cds_start_NF")),
                pl.when(pl.col("tags").list.contains("cds_end_NF")).then(pl.lit("cds_end_NF")),
            )
            .list.drop_nulls()
            .list.join(","),
            basic=pl.col("tags").list.contains("basic"),
            **{col: pl.col("tags").list.contains(tag).fill_null(False) for col, tag in _TAG_COLUMNS.items()},
            codon_table=pl.col("chrom").replace_strict(
                {c: codon_table_of_contig(c) for c in tx_rows["chrom"].unique().to_list()}, return_dtype=pl.Int8
            ),
        )
        .with_columns(flags=pl.when(pl.col("flags") == "").then(None).otherwise(pl.col("flags")))
        .drop("tags")
        .sort("chrom", "start", "end", "transcript_id")
    )
    # the release's own canonical transcripts when it marks them (Ensembl >= 104 GTF / GFF3 tag
    # Ensembl_canonical, one per gene); older releases: Ensembl's earlier rule, computed
    tagged = tr["ensembl_canonical"].any()
    tr = tr.with_columns(pl.col("ensembl_canonical").alias("canonical") if tagged else _canonical(tr))
    exons = exons.select("transcript_id", "exon_number", "start", "end").sort("transcript_id", "exon_number")
    return tr, exons, cds_tab.sort("transcript_id", "start"), skipped


# --------------------------------------------------------------------------------------------- sequence
PRIMARY_CONTIGS = [str(i) for i in range(1, 23)] + ["X", "Y", "MT"]


def _keep_contig(name: str, contigs: str) -> bool:
    """`contigs` 'all' keeps every contig; 'primary' keeps the human primary assembly's chromosomes (1-22, X,
    Y, MT, by bundle name: 'chr1' / 'chrM' read as '1' / 'MT') and leaves out unplaced, unlocalised and alt
    contigs (KI270728.1, GL000009.2, chr1_KI270706v1_random, HLA-..., ...)."""
    return contigs == "all" or name in PRIMARY_CONTIGS


def _compile_sequence(fasta: Path, out: Path, contigs: str = "all") -> tuple[dict[str, int], pl.DataFrame]:
    import pysam

    try:
        fa = pysam.FastaFile(str(fasta))
    except Exception as exc:
        raise BundleError(f"{fasta}: cannot open as an indexed FASTA ({exc})") from exc
    kept: dict[str, int] = {}
    segs = []
    offset = 0
    with fa, open(out / "sequence.bin", "wb") as bin_out:
        for ref, length in zip(fa.references, fa.lengths):
            name = normalise_contig(ref)
            if not _keep_contig(name, contigs):
                continue
            kept[name] = int(length)
            arr = np.frombuffer(fa.fetch(ref).upper().encode("ascii"), dtype=np.uint8)
            real = arr != ord("N")
            if not real.any():
                continue
            edges = np.flatnonzero(np.diff(np.concatenate(([False], real, [False])).astype(np.int8)))
            for s0, e0 in zip(edges[0::2], edges[1::2]):  # 0-based half-open runs of non-N
                chunk = arr[s0:e0].tobytes()
                bin_out.write(chunk)
                segs.append({"chrom": name, "start": int(s0) + 1, "end": int(e0), "offset": offset})
                offset += len(chunk)
    seg_tab = pl.DataFrame(segs, schema={"chrom": pl.Utf8, "start": pl.Int64, "end": pl.Int64, "offset": pl.Int64})
    return kept, seg_tab


# ------------------------------------------------------------------------------------ known variants
def _trim_vep(ref: str, alt: str, pos: int) -> tuple[int, str, str]:
    """VCF-style alleles -> VEP-style (shared prefix, then suffix, removed; empty -> '-')."""
    i = 0
    while i < min(len(ref), len(alt)) and ref[i] == alt[i]:
        i += 1
    ref, alt, pos = ref[i:], alt[i:], pos + i
    j = 0
    while j < min(len(ref), len(alt)) and ref[-1 - j] == alt[-1 - j]:
        j += 1
    if j:
        ref, alt = ref[: len(ref) - j], alt[: len(alt) - j]
    return pos, ref or "-", alt or "-"


def _compile_known_variants(path: Path) -> pl.DataFrame:
    df = pl.read_csv(path, separator="\t", infer_schema=False, null_values=["."], quote_char=None)
    need = {"chrom", "variation_name", "start", "end", "allele_string"}
    if not need <= set(df.columns):
        raise BundleError(f"{path}: not a known-variants table (missing columns {sorted(need - set(df.columns))})")
    freq_cols = {
        "AF": "AF",
        **{p: f"{p}_AF" for p in POPULATIONS_1KG},
        "gnomADe": "gnomADe_AF",
        **{f"gnomADe_{p}": f"gnomADe_{p}_AF" for p in GNOMADE_POPS},
    }
    freq_cols = {k: v for k, v in freq_cols.items() if k in df.columns}
    base = (
        df.with_row_index("kv")
        .with_columns(
            chrom=pl.col("chrom").map_elements(normalise_contig, return_dtype=pl.Utf8),
            pos=pl.col("start").cast(pl.Int64),
            end=pl.col("end").cast(pl.Int64),
            alleles=pl.col("allele_string").str.split("/"),
        )
        .with_columns(ref=pl.col("alleles").list.first(), alt=pl.col("alleles").list.slice(1))
    )
    rows = (
        base.select(
            "kv",
            "chrom",
            "pos",
            "end",
            "ref",
            "alt",
            pl.col("variation_name").alias("variant_name"),
            pl.col("clin_sig").alias("CLIN_SIG")
            if "clin_sig" in df.columns
            else pl.lit(None, pl.Utf8).alias("CLIN_SIG"),
        )
        .explode("alt")
        .filter(pl.col("alt").is_not_null())
    )
    for src, dst in freq_cols.items():
        f = (
            base.select("kv", pl.col(src).str.split(",").alias("f"))
            .explode("f")
            .drop_nulls("f")
            .with_columns(pl.col("f").str.split_exact(":", 1).struct.rename_fields(["alt", "v"]))
            .unnest("f")
            .select("kv", "alt", pl.col("v").cast(pl.Float64, strict=False).alias(dst))
            .unique(["kv", "alt"])
        )
        rows = rows.join(f, on=["kv", "alt"], how="left")
    return rows.drop("kv").sort("chrom", "pos", "ref", "alt")


def _compile_clinvar(path: Path) -> pl.DataFrame:
    df = pl.read_csv(path, separator="\t", infer_schema=False, quote_char=None)
    need = {"chrom_grch38", "pos_grch38", "ref", "alt", "clinical_significance"}
    if not need <= set(df.columns):
        raise BundleError(f"{path}: not a ClinVar table (missing columns {sorted(need - set(df.columns))})")
    keep = ["review_status", "hgvs_c", "hgvs_p", "symbol", "measureset_id", "pathogenic", "conflicted"]
    return (
        df.filter(pl.col("chrom_grch38").is_not_null() & pl.col("pos_grch38").is_not_null())
        .select(
            pl.col("chrom_grch38").map_elements(normalise_contig, return_dtype=pl.Utf8).alias("chrom"),
            pl.col("pos_grch38").cast(pl.Int64, strict=False).alias("pos"),
            "ref",
            "alt",
            "clinical_significance",
            *[pl.col(c) for c in keep if c in df.columns],
        )
        .drop_nulls("pos")
        .sort("chrom", "pos")
    )


# ------------------------------------------------------------------------------------------------ build
def build_bundle(
    gtf: Path,
    fasta: Path,
    out: Path,
    known_variants: Path | None = None,
    clinvar: Path | None = None,
    contigs: str = "all",
) -> Path:
    """Compile the sources into `out` (created; existing bundle files are replaced). Returns `out`.
    `contigs`: 'all', or 'primary' to leave out unplaced / alt contigs and the transcripts on them (their
    count per contig goes to the manifest)."""
    if contigs not in ("all", "primary"):
        raise BundleError(f"contigs must be 'all' or 'primary', not {contigs!r}")
    sources = {"gtf": gtf, "fasta": fasta, "known_variants": known_variants, "clinvar": clinvar}
    for kind, p in sources.items():
        if p is not None and not Path(p).is_file():
            raise BundleError(f"{kind} file not found: {p}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    fasta = Path(fasta)
    tr, exons, cds, skipped = _gene_models(Path(gtf))
    left_out = {}
    if contigs != "all":
        keep = pl.col("chrom").is_in(PRIMARY_CONTIGS)
        left_out = dict(tr.filter(~keep).group_by("chrom").len().sort("chrom").iter_rows())
        tr = tr.filter(keep)
        ids = tr["transcript_id"].implode()
        exons, cds = exons.filter(pl.col("transcript_id").is_in(ids)), cds.filter(pl.col("transcript_id").is_in(ids))
    if skipped:
        shown = "; ".join(f"{s['transcript_id']} (line {s['line']}: {s['reason']})" for s in skipped[:5])
        more = f"; {len(skipped) - 5} more, listed in manifest.json" if len(skipped) > 5 else ""
        warnings.warn(BundleWarning(f"{gtf}: {len(skipped)} transcript(s) left out: {shown}{more}"), stacklevel=2)
    contig_lengths, segs = _compile_sequence(fasta, out, contigs)
    unknown = set(tr["chrom"].unique()) - set(contig_lengths)
    if unknown:
        raise BundleError(f"{gtf}: contigs {sorted(unknown)} are not in the FASTA {fasta}")
    if _is_gff3(Path(gtf)):
        seq_file = out / "sequence.bin"
        seq = np.memmap(seq_file, dtype=np.uint8, mode="r") if seq_file.stat().st_size else np.zeros(1, np.uint8)
        tr = _derive_nf_flags(tr, cds, segs, seq)
    tr.write_parquet(out / "transcripts.parquet")
    exons.write_parquet(out / "exons.parquet")
    cds.write_parquet(out / "cds.parquet")
    segs.write_parquet(out / "sequence_segments.parquet")
    kv = _compile_known_variants(Path(known_variants)) if known_variants else _empty_known()
    kv.write_parquet(out / "known_variants.parquet")
    cv = _compile_clinvar(Path(clinvar)) if clinvar else _empty_clinvar()
    cv.write_parquet(out / "clinvar.parquet")

    # the annotator's allele-keyed lookup (known variants + ClinVar), precomputed for fast cold starts
    from hcml.genomics.annotate import LOOKUP_FILE, variant_lookup

    stub = ReferenceBundle(path=out, manifest={}, contigs=contig_lengths, transcripts=tr, exons=exons, cds=cds)
    stub.__dict__["known_variants"], stub.__dict__["clinvar"] = kv, cv
    (out / LOOKUP_FILE).unlink(missing_ok=True)
    variant_lookup(stub).write_parquet(out / LOOKUP_FILE)
    from hcml.genomics.transcript_map import CODING_FILE, CODING_TABLE, write_coding_sequences

    for name in (CODING_FILE, CODING_TABLE):
        (out / name).unlink(missing_ok=True)
    write_coding_sequences(ReferenceBundle.load_tables(out, contig_lengths, tr, exons, cds, segs), out)
    files = [
        "transcripts.parquet",
        "exons.parquet",
        "cds.parquet",
        "sequence_segments.parquet",
        "sequence.bin",
        "known_variants.parquet",
        "clinvar.parquet",
        LOOKUP_FILE,
        CODING_FILE,
        CODING_TABLE,
    ]
    bundle_hash = hashlib.sha256()
    for f in files:
        bundle_hash.update(f.encode() + b"\0" + _sha256(out / f).encode() + b"\n")
    try:
        from importlib.metadata import version

        hcml_version = version("hcml")
    except Exception:
        hcml_version = "0+unknown"
    manifest = {
        "format": BUNDLE_FORMAT,
        "sources": {
            k: {"path": str(Path(p).resolve()), "sha256": _sha256(Path(p)), "version": _guess_version(k, Path(p))}
            for k, p in sources.items()
            if p is not None
        },
        "built_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "hcml_version": hcml_version,
        "bundle_sha256": bundle_hash.hexdigest(),
        "contigs": contig_lengths,
        "counts": {
            "transcripts": tr.height,
            "genes": tr["gene_id"].n_unique(),
            "exons": exons.height,
            "known_variants": kv.height,
            "clinvar": cv.height,
            "sequence_bases": int((segs["end"] - segs["start"] + 1).sum() or 0),
            "skipped_transcripts": len(skipped),
        },
        "skipped_transcripts": skipped,
        "transcripts_on_contigs_left_out": left_out,
        "files": files,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return out


def _empty_known() -> pl.DataFrame:
    cols = {
        "chrom": pl.Utf8,
        "pos": pl.Int64,
        "end": pl.Int64,
        "ref": pl.Utf8,
        "alt": pl.Utf8,
        "variant_name": pl.Utf8,
        "CLIN_SIG": pl.Utf8,
        "AF": pl.Float64,
    }
    cols.update({f"{p}_AF": pl.Float64 for p in POPULATIONS_1KG})
    cols["gnomADe_AF"] = pl.Float64
    cols.update({f"gnomADe_{p}_AF": pl.Float64 for p in GNOMADE_POPS})
    return pl.DataFrame(schema=cols)


def _empty_clinvar() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "chrom": pl.Utf8,
            "pos": pl.Int64,
            "ref": pl.Utf8,
            "alt": pl.Utf8,
            "clinical_significance": pl.Utf8,
            "review_status": pl.Utf8,
            "hgvs_c": pl.Utf8,
            "hgvs_p": pl.Utf8,
            "symbol": pl.Utf8,
        }
    )


# ------------------------------------------------------------------------------------------------- load
@dataclass
class ReferenceBundle:
    """A compiled bundle. Tables load eagerly except the two large variant tables (on first use)."""

    path: Path
    manifest: dict
    contigs: dict[str, int]
    transcripts: pl.DataFrame
    exons: pl.DataFrame
    cds: pl.DataFrame
    _segments: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = field(repr=False, default_factory=dict)
    _seq: np.ndarray | None = field(repr=False, default=None)

    @classmethod
    def load(cls, path: Path | str) -> "ReferenceBundle":
        path = Path(path)
        mf = path / "manifest.json"
        if not mf.is_file():
            raise BundleError(
                f"{path}: not a reference bundle (no manifest.json); build one with `hcml reference build`"
            )
        manifest = json.loads(mf.read_text())
        b = cls.load_tables(
            path,
            {k: int(v) for k, v in manifest["contigs"].items()},
            pl.read_parquet(path / "transcripts.parquet"),
            pl.read_parquet(path / "exons.parquet"),
            pl.read_parquet(path / "cds.parquet"),
            pl.read_parquet(path / "sequence_segments.parquet"),
        )
        b.manifest = manifest
        return b

    @classmethod
    def load_tables(
        cls,
        path: Path,
        contigs: dict[str, int],
        transcripts: pl.DataFrame,
        exons: pl.DataFrame,
        cds: pl.DataFrame,
        segs: pl.DataFrame,
    ) -> "ReferenceBundle":
        """A bundle over tables in memory and the sequence.bin in `path` (what `load` reads; the build uses it
        before the manifest exists)."""
        seg_map = {}
        for (chrom,), grp in segs.group_by("chrom"):
            grp = grp.sort("start")
            seg_map[chrom] = (grp["start"].to_numpy(), grp["end"].to_numpy(), grp["offset"].to_numpy())
        seq_file = path / "sequence.bin"
        seq = np.memmap(seq_file, dtype=np.uint8, mode="r") if seq_file.stat().st_size else np.zeros(0, np.uint8)
        return cls(
            path=path,
            manifest={},
            contigs=contigs,
            transcripts=transcripts,
            exons=exons,
            cds=cds,
            _segments=seg_map,
            _seq=seq,
        )

    @cached_property
    def known_variants(self) -> pl.DataFrame:
        """VEP-style alleles: pos/end as VEP (insertions: pos = end + 1), ref/alt trimmed, '-' when empty."""
        return pl.read_parquet(self.path / "known_variants.parquet")

    @cached_property
    def clinvar(self) -> pl.DataFrame:
        return pl.read_parquet(self.path / "clinvar.parquet")

    def contig_name(self, name: str) -> str | None:
        """'chr21' / '21' -> '21' (the bundle's name); None when the bundle has no such contig."""
        if name in self.contigs:
            return name
        n = normalise_contig(name)
        return n if n in self.contigs else None

    def fetch(self, chrom: str, start: int, end: int) -> str:
        """Reference bases chrom:start-end (1-based, inclusive), uppercase; 'N' where the bundle has no
        sequence. Empty string when end < start. Raises ValueError for unknown contigs or past the end."""
        return self.fetch_bytes(chrom, start, end).decode("ascii")

    def fetch_bytes(self, chrom: str, start: int, end: int) -> bytes:
        name = self.contig_name(chrom)
        if name is None:
            raise ValueError(f"unknown contig {chrom!r}")
        length = self.contigs[name]
        if start < 1 or end > length:
            raise ValueError(f"{name}:{start}-{end} is outside the contig (1-{length})")
        if end < start:
            return b""
        out = np.full(end - start + 1, ord("N"), dtype=np.uint8)
        seg = self._segments.get(name)
        if seg is not None:
            s, e, off = seg
            i = int(np.searchsorted(e, start))  # first segment ending at/after start
            while i < len(s) and s[i] <= end:
                a, b = max(start, int(s[i])), min(end, int(e[i]))
                out[a - start : b - start + 1] = self._seq[off[i] + a - s[i] : off[i] + b - s[i] + 1]
                i += 1
        return out.tobytes()

    def sequence_array(self, chrom: str) -> tuple[np.ndarray, int]:
        """(uint8 array, first position) covering every real-sequence segment of a contig (N between) for
        vectorised lookups: base at pos = arr[pos - first]. Cached for the CONTIG_CACHE most recent contigs
        (a genome's contigs copied whole would hold ~3 GB; sorted input visits each once)."""
        cache = self.__dict__.setdefault("_arrays", {})
        name = self.contig_name(chrom)
        if name not in cache:
            _make_room(cache)
            seg = self._segments.get(name)
            if seg is None:
                cache[name] = (np.full(1, ord("N"), np.uint8), 1)
            else:
                lo, hi = int(seg[0][0]), int(seg[1][-1])
                cache[name] = (np.frombuffer(self.fetch_bytes(name, lo, hi), dtype=np.uint8), lo)
        return cache[name]

    def contig_text(self, chrom: str) -> tuple[str, int]:
        """(sequence as str, first position) covering the contig's real sequence, for per-variant scans
        (indel shifting, duplication checks) without a fetch per step. Cached as `sequence_array`."""
        cache = self.__dict__.setdefault("_texts", {})
        name = self.contig_name(chrom)
        if name not in cache:
            _make_room(cache)
            arr, first = self.sequence_array(name)
            cache[name] = (arr.tobytes().decode("ascii"), first)
        return cache[name]


CONTIG_CACHE = 2


def _make_room(cache: dict) -> None:
    """Drop the oldest cached contigs so that one more fits within CONTIG_CACHE."""
    while len(cache) >= CONTIG_CACHE:
        cache.pop(next(iter(cache)))
