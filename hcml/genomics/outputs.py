"""Writers over the annotations frame (docs/CONTRACTS.md): VEP tab, VCF with CSQ, Ensembl REST JSON, Parquet.

Each follows Ensembl VEP's own conventions so existing consumers keep working: VEP's column names and `-`
for missing in `--tab`; a `CSQ` INFO field with its `Format:` header in VCF (`&` joins lists, `%3B`/`%3D`
escapes); the Ensembl REST `/vep` response shape in JSON.  The tab, VCF and Parquet writers are polars
expressions over the whole frame (no Python loop per row); JSON builds nested objects per variant.

Every writer also takes a stream of `AnnotatedChunk`s (`hcml annotate` reads, annotates and writes a chunk
at a time).  A chunk holds each distinct allele's annotations once: the tab and VCF writers format those
rows once and copy the text to every record that carries the allele, so repeated sites (a cohort's calls)
cost a copy, not a second formatting.
"""

from __future__ import annotations

import datetime as _dt
import io
import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import IO, Any

import polars as pl

# VEP --tab column order: the fixed columns, then the extra fields in the order VEP prints them
VEP_TAB_COLUMNS = [
    "Uploaded_variation",
    "Location",
    "Allele",
    "Gene",
    "Feature",
    "Feature_type",
    "Consequence",
    "cDNA_position",
    "CDS_position",
    "Protein_position",
    "Amino_acids",
    "Codons",
    "Existing_variation",
    "IMPACT",
    "DISTANCE",
    "STRAND",
    "FLAGS",
    "VARIANT_CLASS",
    "SYMBOL",
    "BIOTYPE",
    "CANONICAL",
    "CCDS",
    "ENSP",
    "EXON",
    "INTRON",
    "HGVSc",
    "HGVSp",
    "HGVSg",
    "SIFT",
    "PolyPhen",
    "DOMAINS",
    "AF",
    "AFR_AF",
    "AMR_AF",
    "EAS_AF",
    "EUR_AF",
    "SAS_AF",
    "gnomADe_AF",
    "CLIN_SIG",
    "OverlapBP",
    "OverlapPC",
    "pathogenicity_score",
    "ACMG_class",
    "ACMG_points",
    "ACMG_criteria",
    "ACMG_evidence",
]
# structural-variant fields (hcml.genomics.structural): in the output only when the annotations have them
SV_FIELDS = ["OverlapBP", "OverlapPC"]
# ACMG/AMP classification fields (hcml.acmg, `hcml annotate --acmg`): in the output only when present
ACMG_FIELDS = ["ACMG_class", "ACMG_points", "ACMG_criteria", "ACMG_evidence"]
REQUIRED_COLUMNS = VEP_TAB_COLUMNS[:7]
# CSQ sub-fields, VEP's default order for the ones we produce
CSQ_FIELDS = [
    "Allele",
    "Consequence",
    "IMPACT",
    "SYMBOL",
    "Gene",
    "Feature_type",
    "Feature",
    "BIOTYPE",
    "EXON",
    "INTRON",
    "HGVSc",
    "HGVSp",
    "cDNA_position",
    "CDS_position",
    "Protein_position",
    "Amino_acids",
    "Codons",
    "Existing_variation",
    "DISTANCE",
    "STRAND",
    "FLAGS",
    "CANONICAL",
    "HGVSg",
    "AF",
    "AFR_AF",
    "AMR_AF",
    "EAS_AF",
    "EUR_AF",
    "SAS_AF",
    "gnomADe_AF",
    "CLIN_SIG",
]
COLUMN_DESCRIPTIONS = {
    "Uploaded_variation": "Identifier of uploaded variant",
    "Location": "Location of variant in standard coordinate format (chr:start or chr:start-end)",
    "Allele": "The variant allele used to calculate the consequence",
    "Gene": "Stable ID of affected gene",
    "Feature": "Stable ID of feature",
    "Feature_type": "Type of feature - Transcript, RegulatoryFeature or MotifFeature",
    "Consequence": "Consequence type",
    "cDNA_position": "Relative position of base pair in cDNA sequence",
    "CDS_position": "Relative position of base pair in coding sequence",
    "Protein_position": "Relative position of amino acid in protein",
    "Amino_acids": "Reference and variant amino acids",
    "Codons": "Reference and variant codon sequence",
    "Existing_variation": "Identifier(s) of co-located known variants",
    "IMPACT": "Subjective impact classification of consequence type",
    "DISTANCE": "Shortest distance from variant to transcript",
    "STRAND": "Strand of the feature (1/-1)",
    "FLAGS": "Transcript quality flags",
    "VARIANT_CLASS": "SO variant class",
    "SYMBOL": "Gene symbol (e.g. HGNC)",
    "BIOTYPE": "Biotype of transcript or regulatory feature",
    "CANONICAL": "Indicates if transcript is canonical for this gene",
    "CCDS": "Indicates if transcript is a CCDS transcript",
    "ENSP": "Protein identifer",
    "EXON": "Exon number(s) / total",
    "INTRON": "Intron number(s) / total",
    "HGVSc": "HGVS coding sequence name",
    "HGVSp": "HGVS protein sequence name",
    "HGVSg": "HGVS genomic sequence name",
    "SIFT": "SIFT prediction and/or score",
    "PolyPhen": "PolyPhen prediction and/or score",
    "AF": "Frequency of existing variant in 1000 Genomes combined population",
    "AFR_AF": "Frequency of existing variant in 1000 Genomes combined African population",
    "AMR_AF": "Frequency of existing variant in 1000 Genomes combined American population",
    "EAS_AF": "Frequency of existing variant in 1000 Genomes combined East Asian population",
    "EUR_AF": "Frequency of existing variant in 1000 Genomes combined European population",
    "SAS_AF": "Frequency of existing variant in 1000 Genomes combined South Asian population",
    "gnomADe_AF": "Frequency of existing variant in gnomAD exomes combined population",
    "CLIN_SIG": "ClinVar clinical significance of the dbSNP variant",
    "OverlapBP": "Number of base pairs overlapping with the corresponding structural variation feature",
    "OverlapPC": "Percentage of corresponding structural variation feature overlapped by the given input",
    "pathogenicity_score": "hcml model P(pathogenic) of the variant (hcml extension)",
    "ACMG_class": "ACMG/AMP class from the Tavtigian 2020 points (hcml extension, docs/acmg.md)",
    "ACMG_points": "ACMG/AMP Bayesian points of the met criteria (hcml extension)",
    "ACMG_criteria": "ACMG/AMP criteria met, with their strength (hcml extension)",
    "ACMG_evidence": "One line per met criterion naming its evidence, joined by ' & ' (hcml extension)",
}
FREQ_KEYS = {
    "AF": "af",
    "AFR_AF": "afr",
    "AMR_AF": "amr",
    "EAS_AF": "eas",
    "EUR_AF": "eur",
    "SAS_AF": "sas",
    "gnomADe_AF": "gnomade",
}


@dataclass
class AnnotatedChunk:
    """Annotations of a run of input records: `distinct` holds each distinct allele's rows once, under the
    `row` of its first record; `reps` maps every record's row to that row (None: every record is its own).
    `parsed` is the chunk's ParsedInput (VCF records for the VCF writer), when there is one."""

    distinct: pl.DataFrame
    reps: pl.DataFrame | None = None  # row, rep
    parsed: Any = None

    def annotations(self) -> pl.DataFrame:
        """The annotations frame of every record (rows of a shared allele repeated with each record's row)."""
        if self.reps is None:
            return self.distinct
        return (
            self.reps.join(self.distinct.rename({"row": "rep"}), on="rep", how="inner", maintain_order="left_right")
            .drop("rep")
            .select(self.distinct.columns)
        )

    def annotation_parts(self, max_rows: int) -> Iterable[pl.DataFrame]:
        """`annotations()` in consecutive parts of about `max_rows` rows (each expanded only when needed)."""
        if self.reps is None:
            if not self.distinct.height:  # an empty input still has its columns
                yield self.distinct
                return
            yield from self.distinct.iter_slices(max_rows)
            return
        per_record = max(1, max_rows * self.reps.height // max(1, self._expanded_rows()))
        for reps in self.reps.iter_slices(per_record):
            yield AnnotatedChunk(self.distinct, reps).annotations()

    def _expanded_rows(self) -> int:
        counts = self.distinct.group_by("row").len().rename({"row": "rep"})
        return int(self.reps.join(counts, on="rep", how="inner")["len"].sum())

    def per_record(self, per_row: pl.DataFrame, name: str) -> pl.DataFrame:
        """`per_row` (row, `name`: one value per distinct allele) as one value per record (row, `name`)."""
        if self.reps is None:
            return per_row
        return self.reps.join(per_row.rename({"row": "rep"}), on="rep", how="inner", maintain_order="left").select(
            "row", name
        )


def as_chunks(annotations) -> Iterable[AnnotatedChunk]:
    """A frame, a chunk, or an iterable of either, as a stream of chunks."""
    if isinstance(annotations, (pl.DataFrame, AnnotatedChunk)):
        annotations = [annotations]
    for item in annotations:
        yield item if isinstance(item, AnnotatedChunk) else AnnotatedChunk(item)


def _check(annotations: pl.DataFrame) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in annotations.columns]
    if missing:
        raise ValueError(f"annotations frame lacks VEP columns {missing}")


def _open(out: str | Path | IO, binary: bool = True):
    if out is None or out == "-":
        return sys.stdout.buffer if binary else sys.stdout, False
    if isinstance(out, (str, Path)):
        return open(out, "wb" if binary else "w"), True
    return out, False


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("hcml")
    except Exception:  # pragma: no cover - not installed as a package
        return "dev"


def vep_tab_frame(annotations: pl.DataFrame) -> pl.DataFrame:
    """The VEP --tab columns present in `annotations`; missing (null or empty) values are null, which the
    writer prints as '-'. Numbers stay typed (polars formats them; no per-cell casts on the hot path)."""
    _check(annotations)
    cols = [c for c in VEP_TAB_COLUMNS if c in annotations.columns]
    return annotations.select(
        [
            pl.when(pl.col(c) != "").then(pl.col(c)).alias(c) if annotations.schema[c] == pl.Utf8 else pl.col(c)
            for c in cols
        ]
    )


def write_vep(annotations, out: str | Path | IO, meta: dict | None = None) -> None:
    """Ensembl VEP `--tab` output: `##` header lines, `#Uploaded_variation...` then one row per consequence.

    `annotations` may also be an iterable of frames or `AnnotatedChunk`s (same columns), streamed in order.
    """
    chunks = iter(as_chunks(annotations))
    first = next(chunks)
    columns = vep_tab_frame(first.distinct.head(0)).columns
    now = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    lines = [
        f"## ENSEMBL VARIANT EFFECT PREDICTOR format, written by hcml {_version()} (offline annotator)",
        f"## Output produced at {now}",
    ]
    for key, value in (meta or {}).items():
        lines.append(f"## {key}: {value}")
    lines.append("## Column descriptions:")
    lines += [f"## {c} : {COLUMN_DESCRIPTIONS.get(c, c)}" for c in columns]
    lines.append("#" + "\t".join(columns))
    fh, close = _open(out)
    try:
        fh.write(("\n".join(lines) + "\n").encode())
        for chunk in chain([first], chunks):
            _write_vep_rows(chunk, columns, fh)
    finally:
        if close:
            fh.close()


def _write_vep_rows(chunk: AnnotatedChunk, columns: list[str], fh) -> None:
    table = vep_tab_frame(chunk.distinct).select(columns)
    options = {"separator": "\t", "include_header": False, "quote_style": "never", "null_value": "-"}
    if chunk.reps is None:
        table.write_csv(fh, **options)
        return
    # each distinct allele's rows formatted once (by the same writer), then copied to each of its records
    text = table.write_csv(None, **options)
    rows = pl.DataFrame({"rep": chunk.distinct["row"], "text": text.split("\n")[:-1]})
    blocks = rows.group_by("rep", maintain_order=True).agg(pl.col("text").str.join("\n"))
    chunk.per_record(blocks.rename({"rep": "row"}), "text").select("text").write_csv(
        fh, include_header=False, quote_style="never"
    )


def _csq_field(annotations: pl.DataFrame, name: str) -> pl.Expr:
    """One field of a CSQ entry as text: '|' (the separator of the entry's fields) as '&', null as empty."""
    if name not in annotations.columns:
        return pl.lit("")
    col = pl.col(name).cast(pl.Utf8)
    if not annotations.schema[name].is_numeric():
        col = col.str.replace_all("|", "&", literal=True)
    return col.fill_null("")


def _csq_escape(entry: pl.Expr) -> pl.Expr:
    """VEP's CSQ escaping: lists joined by '&', ';' and '=' percent-encoded, whitespace as '_' ('|' is done per
    field).  None of these characters is the fields' separator '|' or made by another replacement, so a
    whole entry is escaped at once, the same as field by field."""
    return (
        entry.str.replace_all(",", "&", literal=True)
        .str.replace_all(";", "%3B", literal=True)
        .str.replace_all("=", "%3D", literal=True)
        .str.replace_all(r"\s", "_")
    )


def csq_header(fields: list[str] | None = None) -> str:
    fields = fields or CSQ_FIELDS
    return (
        '##INFO=<ID=CSQ,Number=.,Type=String,Description="Consequence annotations from Ensembl VEP '
        f'(hcml offline annotator). Format: {"|".join(fields)}">'
    )


def csq_fields(annotations: pl.DataFrame) -> list[str]:
    """CSQ_FIELDS, then the structural-variant fields where the annotations have them."""
    return CSQ_FIELDS + [f for f in SV_FIELDS + ACMG_FIELDS if f in annotations.columns]


def csq_per_row(annotations: pl.DataFrame) -> pl.DataFrame:
    """row -> CSQ value (one '|'-joined entry per consequence, entries joined by ',')."""
    _check(annotations)
    parts = [_csq_field(annotations, f) for f in csq_fields(annotations)]
    return (
        annotations.select("row", _csq_escape(pl.concat_str(parts, separator="|")).alias("csq"))
        .group_by("row", maintain_order=True)
        .agg(pl.col("csq").str.join(","))
    )


def write_vcf(parsed, annotations, out: str | Path | IO) -> None:
    """The input VCF with a CSQ INFO field added to every annotated record (and its ##INFO header).

    Records of a VCF input are written as they came (rejected ones unchanged, split multi-allelic records
    joined again); other inputs (variant strings, sequences) become a minimal sites-only VCF.
    `annotations` may be a frame, an iterable of frames (batches of `parsed`'s variants) or a stream of
    `AnnotatedChunk`s that carry their own `parsed` (then `parsed` may be None).
    """
    fh, close = _open(out)
    try:
        for k, (chunk_parsed, fields, csq) in enumerate(_csq_chunks(parsed, annotations)):
            header, lines = _vcf_lines(chunk_parsed, fields, csq)
            if k == 0:
                fh.write(("\n".join(header) + "\n").encode())
            pl.DataFrame({"l": lines}).write_csv(fh, include_header=False, quote_style="never")
    finally:
        if close:
            fh.close()


def _csq_chunks(parsed, annotations):
    """(parsed input, CSQ fields, row -> CSQ value) per chunk of `write_vcf`'s input."""
    if isinstance(annotations, (pl.DataFrame, AnnotatedChunk)):
        annotations = [annotations]
    items = iter(annotations)
    first = next(items, None)
    if first is None:
        return
    if isinstance(first, pl.DataFrame):  # batches of one parsed input: only their CSQ strings are kept
        yield parsed, csq_fields(first), pl.concat([csq_per_row(batch) for batch in chain([first], items)])
        return
    for chunk in chain([first], items):
        csq = chunk.per_record(csq_per_row(chunk.distinct), "csq")
        yield (chunk.parsed if chunk.parsed is not None else parsed), csq_fields(chunk.distinct), csq


def _vcf_lines(parsed, fields: list[str], csq: pl.DataFrame) -> tuple[list[str], pl.Series]:
    """(header lines, record lines) of `parsed`'s VCF with `csq` (row -> CSQ value) in INFO."""
    variants = parsed.variants
    records = getattr(parsed, "records", None)
    if records is not None and parsed.header:
        meta = [h for h in parsed.header[:-1] if not h.startswith("##INFO=<ID=CSQ,")]
        header = meta + [csq_header(fields), parsed.header[-1]]
        per_row = variants.select("row", "line").join(csq, on="row", how="inner", maintain_order="left")
        if per_row["line"].n_unique() != per_row.height:  # split multi-allelic records: one CSQ per line
            per_row = per_row.group_by("line", maintain_order=True).agg(pl.col("csq").str.join(","))
        body = records.join(per_row.select("line", "csq"), on="line", how="left", maintain_order="left")
        # a line's output follows from its text (the same text: the same alleles, so the same CSQ): each
        # distinct text is rewritten once and copied to its repeats
        first = pl.col("text").is_first_distinct()
        body = body.with_columns((first.cum_sum() - 1).alias("_d")).with_columns(pl.col("_d").first().over("text"))
        distinct = body.filter(first)
        # the first 7 fields, INFO, the rest (FORMAT and samples); lines of fewer than 8 fields stay as read
        split = pl.col("text").str.splitn("\t", 9)
        distinct = distinct.with_columns(split.alias("_f"))
        info = (
            pl.col("_f")
            .struct.field("field_7")
            # re-annotation: an existing CSQ is replaced, not duplicated
            .str.replace_all(r"(^|;)CSQ=[^;]*", "")
            .str.strip_chars(";")
            .replace("", ".")
        )
        new_info = (
            pl.when(info.is_in([".", ""]))
            .then(pl.lit("CSQ=") + pl.col("csq"))
            .otherwise(info + pl.lit(";CSQ=") + pl.col("csq"))
        )
        lines = distinct.select(
            pl.when(pl.col("csq").is_null() | pl.col("_f").struct.field("field_7").is_null())
            .then(pl.col("text"))
            .otherwise(
                pl.concat_str(
                    *[pl.col("_f").struct.field(f"field_{k}") for k in range(7)],
                    new_info,
                    pl.col("_f").struct.field("field_8"),
                    separator="\t",
                    ignore_nulls=True,
                )
            )
            .alias("out")
        ).to_series()
        if distinct.height != body.height:
            lines = lines.gather(body["_d"])
        return header, lines
    contigs = variants["chrom"].unique(maintain_order=True).to_list()
    header = ["##fileformat=VCFv4.2", "##source=hcml"] + [f"##contig=<ID={c}>" for c in contigs]
    header += [csq_header(fields), "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"]
    body = variants.join(csq, on="row", how="left", maintain_order="left")
    lines = body.select(
        pl.concat_str(
            "chrom",
            pl.col("pos").cast(pl.Utf8),
            pl.col("variant_id").str.replace_all(r"[\s;]", "_"),
            "ref",
            "alt",
            pl.lit("."),
            pl.lit("."),
            pl.when(pl.col("csq").is_null()).then(pl.lit(".")).otherwise(pl.lit("CSQ=") + pl.col("csq")),
            separator="\t",
        )
    ).to_series()
    return header, lines


def _span(value: str | None) -> tuple[int | None, int | None]:
    """'123' -> (123, 123); '123-125' -> (123, 125); '?-125' -> (None, 125); '-' / None -> (None, None)."""
    if value is None or value in ("", "-"):
        return None, None
    a, _, b = value.partition("-")
    to_int = lambda s: int(s) if s and s.isdigit() else None  # noqa: E731
    return (to_int(a), to_int(b)) if b else (to_int(a), to_int(a))


def _vep_alleles(pos: int, ref: str, alt: str) -> tuple[int, int, str]:
    """VEP's start, end and allele string of a VCF-style allele (reduced as `annotate` reduces it)."""
    from hcml.genomics.annotate import _vep_allele

    start, end, r, a = _vep_allele(pos, ref, alt)
    return start, end, f"{r}/{a}"


def json_records(annotations: pl.DataFrame, parsed=None, assembly: str = "GRCh38") -> list[dict]:
    """The Ensembl REST `/vep` response: one object per variant with its consequences and co-located variants."""
    _check(annotations)
    inputs = {}
    if parsed is not None and getattr(parsed, "records", None) is not None:
        rows = annotations["row"].unique()
        wanted = parsed.variants.filter(pl.col("row").is_in(rows.implode())).select("row", "line")
        texts = wanted.join(parsed.records, on="line", how="left")
        inputs = dict(zip(texts["row"].to_list(), texts["text"].to_list()))
    groups: dict[int, list[dict]] = {}
    for r in annotations.to_dicts():  # one pass; polars per-group frames are far slower here
        groups.setdefault(r["row"], []).append(r)
    out: list[dict] = []
    for row, group in groups.items():
        first = group[0]
        if (first["alt"] or "").startswith("<"):  # a structural allele: VEP's start / end / ALT
            start, end = _span(first["Location"].rpartition(":")[2])
            allele_string = first["alt"]
        else:
            start, end, allele_string = _vep_alleles(first["pos"], first["ref"], first["alt"])
        rec: dict = {
            "input": inputs.get(row) or first["Uploaded_variation"],
            "id": first["Uploaded_variation"],
            "seq_region_name": first["chrom"],
            "start": start,
            "end": end,
            "strand": 1,
            "allele_string": allele_string,
            "assembly_name": assembly,
            "most_severe_consequence": first.get("most_severe_consequence"),
        }
        transcripts, intergenic = [], []
        for r in group:
            terms = (r["Consequence"] or "").split(",")
            if r.get("Feature") is None:
                intergenic.append(
                    {"variant_allele": r["Allele"], "consequence_terms": terms, "impact": r.get("IMPACT")}
                )
                continue
            tc = {
                "variant_allele": r["Allele"],
                "gene_id": r.get("Gene"),
                "gene_symbol": r.get("SYMBOL"),
                "transcript_id": r["Feature"],
                "biotype": r.get("BIOTYPE"),
                "consequence_terms": terms,
                "impact": r.get("IMPACT"),
                "strand": r.get("STRAND"),
                "distance": r.get("DISTANCE"),
                "exon": r.get("EXON"),
                "intron": r.get("INTRON"),
                "hgvsc": r.get("HGVSc"),
                "hgvsp": r.get("HGVSp"),
                "amino_acids": r.get("Amino_acids"),
                "codons": r.get("Codons"),
                "canonical": 1 if r.get("CANONICAL") == "YES" else None,
                "flags": r["FLAGS"].split(",") if r.get("FLAGS") else None,
                "bp_overlap": r.get("OverlapBP"),
                "percentage_overlap": float(r["OverlapPC"]) if r.get("OverlapPC") else None,
            }
            for key, col in (("cdna", "cDNA_position"), ("cds", "CDS_position"), ("protein", "Protein_position")):
                a, b = _span(r.get(col))
                tc[f"{key}_start"], tc[f"{key}_end"] = a, b
            transcripts.append({k: v for k, v in tc.items() if v is not None})
        if transcripts:
            rec["transcript_consequences"] = transcripts
        if intergenic:
            rec["intergenic_consequences"] = intergenic
        known = first.get("Existing_variation")
        if known:
            freqs = {FREQ_KEYS[c]: first[c] for c in FREQ_KEYS if first.get(c) is not None}
            for name in known.split(","):
                co = {"id": name, "start": start, "end": end, "allele_string": allele_string, "strand": 1}
                if freqs:
                    co["frequencies"] = {first["Allele"]: freqs}
                if first.get("CLIN_SIG"):
                    co["clin_sig"] = [s.strip() for s in first["CLIN_SIG"].replace("&", ",").split(",") if s.strip()]
                rec.setdefault("colocated_variants", []).append(co)
        if first.get("ACMG_class") is not None:
            rec["acmg"] = {
                "class": first["ACMG_class"],
                "points": first.get("ACMG_points"),
                "criteria": first.get("ACMG_criteria"),
                "evidence": (first.get("ACMG_evidence") or "").split(" & ") if first.get("ACMG_evidence") else [],
            }
        out.append({k: v for k, v in rec.items() if v is not None})
    return out


def write_json(annotations, out: str | Path | IO, parsed=None) -> None:
    """A JSON array of REST /vep objects; `annotations` may be an iterable of batches or chunks (streamed)."""
    fh, close = _open(out, binary=False)
    try:
        fh.write("[")
        first = True
        for chunk in as_chunks(annotations):
            for record in json_records(chunk.annotations(), chunk.parsed if chunk.parsed is not None else parsed):
                if not first:
                    fh.write(",")
                fh.write(json.dumps(record, separators=(",", ":")))
                first = False
        fh.write("]\n")
    finally:
        if close:
            fh.close()


def write_parquet(annotations, out: str | Path | IO) -> None:
    """One row per variant x feature, the annotations frame as it is (typed), zstd-compressed.

    `annotations` may also be an iterable of frames or chunks (same columns): they are streamed into one
    file, one row group per batch, so memory stays bounded by the batch.
    """
    if isinstance(annotations, AnnotatedChunk):
        annotations = annotations.annotations()
    if not isinstance(annotations, pl.DataFrame):
        parts = (part for chunk in as_chunks(annotations) for part in chunk.annotation_parts(ROW_GROUP_ROWS))
        _write_parquet_batches(parts, out)
        return
    _check(annotations)
    if out is None or out == "-":
        buf = io.BytesIO()
        annotations.write_parquet(buf, compression="zstd")
        sys.stdout.buffer.write(buf.getvalue())
        return
    annotations.write_parquet(out, compression="zstd", statistics=True)


ROW_GROUP_ROWS = 65_536


def _write_parquet_batches(batches, out: str | Path) -> None:
    import pyarrow.parquet as pq

    writer = None
    schema = None
    compat = pl.CompatLevel.oldest()  # plain Arrow strings: cheaper to export and to write than views
    try:
        for batch in batches:
            _check(batch)
            if writer is None:
                schema = batch.schema
                # min/max statistics where readers filter (row, position, gene, transcript); computing them
                # for every free-text column costs a third of the write time and prunes nothing
                stats = [c for c in ("row", "chrom", "pos", "Gene", "Feature", "SYMBOL") if c in batch.columns]
                writer = pq.ParquetWriter(
                    str(out),
                    batch.head(0).to_arrow(compat_level=compat).schema,
                    compression="zstd",
                    write_statistics=stats,
                )
            writer.write_table(batch.cast(schema).to_arrow(compat_level=compat))
    finally:
        if writer is not None:
            writer.close()
    if writer is None:
        raise ValueError("no annotation batches to write")


WRITERS = {"vep": write_vep, "vcf": write_vcf, "json": write_json, "parquet": write_parquet}
