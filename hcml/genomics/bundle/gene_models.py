"""Transcripts, exons and CDS as VEP uses them: canonical choice, exon order, merged CDS, *_NF flags."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from hcml.genomics.transcript_map import codon_table_of_contig

from .files import BundleError
from .gff3 import _is_gff3, _read_gff3
from .gtf import _read_gtf

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

        def upto(x, s=s, e=e, before=before):  # real bases at positions <= x (this segment group)
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
