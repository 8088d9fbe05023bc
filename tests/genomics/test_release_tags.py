"""What a full Ensembl release adds to the gene models: the mitochondrial genetic code, Selenocysteine rows,
transcript tags (Ensembl_canonical, MANE_Select, MANE_Plus_Clinical, basic, *_NF), transcript support level,
contig names with and without `chr`, and unplaced contigs left out on request.

Gene models are small GTF fragments written in Ensembl's GTF format (Ensembl GTF documentation: nine tab-
separated columns, `key "value";` attributes, one `tag` attribute per tag); the sequence is real: 300 bases of
GRCh38 chr21 (25,000,001-25,000,300) from ../shared/data/reference, placed on each test contig. The expected
values are written down from the rules' sources, named at each test."""

from __future__ import annotations

import json

import polars as pl
import pysam
import pytest

from hcml.genomics.bundle import feature_lines as bundle_lines
from hcml.genomics.annotate import annotate
from hcml.genomics.bundle import BundleError, ReferenceBundle, build_bundle
from hcml.genomics.transcript_map import TranscriptIndex

WINDOW = (25_000_000, 25_000_300)  # 0-based half-open on chr21: real, non-N bases


@pytest.fixture(scope="module")
def real_bases(data_root) -> str:
    with pysam.FastaFile(str(data_root / "reference" / "chr21_full_length_Nmasked.GRCh38.fa.gz")) as fa:
        seq = fa.fetch("21", *WINDOW).upper()
    assert len(seq) == 300 and "N" not in seq
    return seq


def _fasta(path, contigs: dict[str, str]):
    path.write_text("".join(f">{name}\n{seq}\n" for name, seq in contigs.items()))
    return path


def _gtf_row(chrom, feature, start, end, strand, frame, attrs: dict, tags=()):
    text = " ".join(f'{k} "{v}";' for k, v in attrs.items()) + "".join(f' tag "{t}";' for t in tags)
    return "\t".join([chrom, "ensembl", feature, str(start), str(end), ".", strand, frame, text])


def _transcript(chrom, gene, tid, exon, cds=None, tags=(), tsl=None, extra_rows=()):
    """A one-exon transcript's GTF rows (transcript, exon, CDS, plus `extra_rows` as (feature, start, end))."""
    attrs = {"gene_id": gene, "gene_version": "1", "transcript_id": tid, "transcript_version": "1",
             "gene_name": gene, "gene_biotype": "protein_coding", "transcript_biotype": "protein_coding"}
    if tsl is not None:
        attrs["transcript_support_level"] = tsl
    rows = [_gtf_row(chrom, "transcript", *exon, "+", ".", attrs, tags),
            _gtf_row(chrom, "exon", *exon, "+", ".", {**attrs, "exon_number": "1"}, tags)]
    if cds:
        rows.append(_gtf_row(chrom, "CDS", *cds, "+", "0", {**attrs, "protein_id": f"P{tid}"}, tags))
    for feature, s, e in extra_rows:
        rows.append(_gtf_row(chrom, feature, s, e, "+", "0", attrs, tags))
    return rows


def _build(tmp_path, name, rows, sequences, **kw) -> ReferenceBundle:
    gtf = tmp_path / f"{name}.gtf"
    gtf.write_text("\n".join(rows) + "\n")
    fasta = _fasta(tmp_path / f"{name}.fa", sequences)
    return ReferenceBundle.load(build_bundle(gtf, fasta, tmp_path / f"{name}_bundle", **kw))


INCOMPLETE = ("cds_start_NF", "cds_end_NF")  # the window does not begin with ATG nor end with a stop


@pytest.fixture(scope="module")
def code_bundle(tmp_path_factory, real_bases) -> ReferenceBundle:
    """The same model on chromosome 21 and on MT (names as a UCSC-style GTF writes them: chr21, chrM; the
    FASTA uses Ensembl's 21 / MT), and a copy on 21 whose codon 71 (a TGA) is a Selenocysteine row."""
    tmp = tmp_path_factory.mktemp("codes")
    rows = (_transcript("chr21", "G21", "T21", (1, 300), (1, 300), INCOMPLETE)
            + _transcript("chrM", "GMT", "TMT", (1, 300), (1, 300), INCOMPLETE)
            + _transcript("chr21", "GSEC", "TSEC", (1, 300), (1, 300), INCOMPLETE,
                          extra_rows=[("Selenocysteine", 211, 213)]))
    return _build(tmp, "codes", rows, {"21": real_bases, "MT": real_bases})


def _codons(seq: str) -> list[str]:
    return [seq[i:i + 3] for i in range(0, len(seq) - 2, 3)]


def _annotate_one(bundle, chrom, pos, alt, feature):
    ref = bundle.fetch(chrom, pos, pos)
    v = pl.DataFrame({"chrom": [chrom], "pos": [pos], "ref": [ref], "alt": [alt]}).with_row_index("row").with_columns(
        variant_id=pl.lit("v"))
    out = annotate(v, bundle).filter(pl.col("Feature") == feature)
    assert out.height == 1
    return out.row(0, named=True)


def test_mitochondrial_genetic_code(code_bundle, real_bases):
    """NCBI genetic code 2 (vertebrate mitochondrial) differs from the standard code in exactly four codons:
    TGA = Trp (standard: stop), AGA / AGG = stop (standard: Arg), ATA = Met (standard: Ile). VEP translates
    with the seq region's `codon_table` attribute (ensembl-variation `_get_codon_table`), 2 on MT."""
    idx = TranscriptIndex.of(code_bundle)
    nuclear, mito = idx.protein("T21"), idx.protein("TMT")
    differs = {"TGA": ("*", "W"), "AGA": ("R", "*"), "AGG": ("R", "*"), "ATA": ("I", "M")}
    seen = set()
    for i, codon in enumerate(_codons(real_bases)):
        if codon in differs:
            assert (nuclear[i], mito[i]) == differs[codon], (i, codon)
            seen.add(codon)
        else:
            assert nuclear[i] == mito[i], (i, codon)
    assert {"TGA", "AGA", "AGG"} <= seen  # the window exercises the differences
    assert code_bundle.transcripts.filter(pl.col("chrom") == "MT")["codon_table"].to_list() == [2]


def test_mitochondrial_snv_consequences(code_bundle, real_bases):
    """Codon 48 is TGG (Trp): G>A at its third base makes TGA -- a stop in the standard code, Trp on MT.
    Codon 22 is AGC (Ser): C>A at its third base makes AGA -- Arg in the standard code, a stop on MT."""
    cod = _codons(real_bases)
    assert cod[47] == "TGG" and cod[21] == "AGC"
    trp_pos, ser_pos = 47 * 3 + 3, 21 * 3 + 3
    assert _annotate_one(code_bundle, "21", trp_pos, "A", "T21")["Consequence"] == "stop_gained"
    mt = _annotate_one(code_bundle, "MT", trp_pos, "A", "TMT")
    assert (mt["Consequence"], mt["Amino_acids"]) == ("synonymous_variant", "W")
    nuc = _annotate_one(code_bundle, "21", ser_pos, "A", "T21")
    assert (nuc["Consequence"], nuc["Amino_acids"]) == ("missense_variant", "S/R")
    mt = _annotate_one(code_bundle, "chrM", ser_pos, "A", "TMT")
    assert (mt["Consequence"], mt["Amino_acids"]) == ("stop_gained", "S/*")


def test_selenocysteine_row_reads_tga_as_sec(code_bundle, real_bases):
    """A GTF `Selenocysteine` row marks a TGA that the ribosome reads as Sec; Ensembl's translation carries U
    there (the `_selenocysteine` sequence edit of Bio::EnsEMBL::Translation). Codon 71 of the window is TGA:
    without the row the translation has a stop there; with it, U. A change of that codon is
    then a change of Sec (missense U/W), not the loss of a stop."""
    assert _codons(real_bases)[70] == "TGA"
    idx = TranscriptIndex.of(code_bundle)
    assert idx.protein("TSEC")[70] == "U" and idx.protein("T21")[70] == "*"
    assert idx.protein("TSEC").replace("U", "*") == idx.protein("T21")  # nothing else changes
    sec = _annotate_one(code_bundle, "21", 213, "G", "TSEC")  # TGA -> TGG
    assert (sec["Consequence"], sec["Amino_acids"]) == ("missense_variant", "U/W")
    assert sec["HGVSp"].endswith("p.Sec71Trp")
    plain = _annotate_one(code_bundle, "21", 213, "G", "T21")
    assert plain["Consequence"] == "stop_lost"


def test_release_tags_and_support_level(tmp_path, real_bases):
    """Ensembl GTF tags (GENCODE tag vocabulary): `Ensembl_canonical` marks the gene's canonical transcript
    (used as given, even where the pre-MANE length rule would choose the longer one), MANE_Select and
    MANE_Plus_Clinical, basic, mRNA_start_NF / mRNA_end_NF; `transcript_support_level` is 1-5 or NA, with a
    note in brackets when assigned to a previous version."""
    rows = (_transcript("21", "GA", "TLONG", (1, 300), (1, 300), INCOMPLETE + ("MANE_Plus_Clinical", "mRNA_start_NF"),
                        tsl="NA")
            + _transcript("21", "GA", "TSHORT", (1, 150), (1, 150),
                          INCOMPLETE + ("Ensembl_canonical", "MANE_Select", "basic", "mRNA_end_NF"),
                          tsl="1 (assigned to previous version 2)")
            + _transcript("21", "GB", "TOTHER", (1, 300), (1, 300), INCOMPLETE + ("Ensembl_canonical",), tsl="3"))
    tr = _build(tmp_path, "tags", rows, {"21": real_bases}).transcripts.sort("transcript_id")
    got = {r["transcript_id"]: r for r in tr.iter_rows(named=True)}
    assert got["TSHORT"]["canonical"] and not got["TLONG"]["canonical"] and got["TOTHER"]["canonical"]
    assert (got["TSHORT"]["mane_select"], got["TLONG"]["mane_select"]) == (True, False)
    assert (got["TLONG"]["mane_plus_clinical"], got["TSHORT"]["mane_plus_clinical"]) == (True, False)
    assert (got["TSHORT"]["basic"], got["TLONG"]["basic"]) == (True, False)
    assert (got["TLONG"]["mrna_start_nf"], got["TLONG"]["mrna_end_nf"]) == (True, False)
    assert (got["TSHORT"]["mrna_start_nf"], got["TSHORT"]["mrna_end_nf"]) == (False, True)
    assert [got[t]["tsl"] for t in ("TLONG", "TSHORT", "TOTHER")] == [None, 1, 3]
    assert got["TSHORT"]["flags"] == "cds_start_NF,cds_end_NF"  # VEP FLAGS: cds_start_NF before cds_end_NF


def test_mane_select_is_canonical_without_canonical_tags(tmp_path, real_bases):
    """A release that tags MANE_Select but not Ensembl_canonical: the canonical transcript is the MANE Select
    one (Ensembl's canonical definition since MANE: "the MANE Select transcript where one exists"), which the
    summary then shows among equally severe consequences; without MANE the pre-MANE rule (longest CDS)."""
    rows = (_transcript("21", "GA", "TLONG", (1, 300), (1, 300), INCOMPLETE)
            + _transcript("21", "GA", "TSHORT", (1, 150), (1, 150), INCOMPLETE + ("MANE_Select",))
            + _transcript("21", "GB", "TB1", (1, 300), (1, 300), INCOMPLETE)
            + _transcript("21", "GB", "TB2", (1, 150), (1, 150), INCOMPLETE))
    b = _build(tmp_path, "mane", rows, {"21": real_bases})
    canon = dict(b.transcripts.select("transcript_id", "canonical").iter_rows())
    assert canon == {"TLONG": False, "TSHORT": True, "TB1": True, "TB2": False}
    from hcml.genomics.annotate import summarise

    v = pl.DataFrame({"chrom": ["21"], "pos": [66], "ref": [b.fetch("21", 66, 66)], "alt": ["A"]}).with_row_index(
        "row").with_columns(variant_id=pl.lit("v"))  # codon 22 AGC>AGA: missense on all four
    s = summarise(annotate(v, b).filter(pl.col("Gene") == "GA"))
    assert s["transcript_id"].to_list() == ["TSHORT"]


def test_incomplete_terminal_codon(tmp_path, real_bases):
    """cds_end_NF with a CDS of 299 bases: the last codon has two bases. A change in it is
    incomplete_terminal_codon_variant + coding_sequence_variant with no amino acids (VEP VariationEffect.pm
    `partial_codon`: the variant lies in the last, incomplete codon of a CDS whose length is not a multiple
    of three)."""
    rows = _transcript("21", "GP", "TPART", (1, 300), (1, 299), INCOMPLETE)
    b = _build(tmp_path, "partial", rows, {"21": real_bases})
    ref = b.fetch("21", 298, 298)
    alt = "A" if ref != "A" else "C"
    row = _annotate_one(b, "21", 298, alt, "TPART")
    assert set(row["Consequence"].split(",")) == {"incomplete_terminal_codon_variant", "coding_sequence_variant"}
    assert row["Amino_acids"] is None and row["FLAGS"] == "cds_start_NF,cds_end_NF"
    full = _annotate_one(b, "21", 295, "A" if b.fetch("21", 295, 295) != "A" else "C", "TPART")
    assert "incomplete_terminal_codon_variant" not in full["Consequence"]


def test_primary_contigs_only(tmp_path, real_bases):
    """`contigs='primary'` keeps 1-22, X, Y, MT (any `chr` spelling) and leaves out unplaced / alt contigs
    with their transcripts, counted in the manifest; 'all' keeps them."""
    rows = (_transcript("chr21", "G21", "T21", (1, 300), (1, 300), INCOMPLETE)
            + _transcript("chrY", "GY", "TY", (1, 300), (1, 300), INCOMPLETE)
            + _transcript("KI270728.1", "GUN", "TUN", (1, 300), (1, 300), INCOMPLETE)
            + _transcript("chr1_KI270706v1_random", "GR", "TR", (1, 300), (1, 300), INCOMPLETE))
    contigs = {"chr21": real_bases, "chrY": real_bases, "KI270728.1": real_bases, "chr1_KI270706v1_random": real_bases}
    primary = _build(tmp_path, "primary", rows, contigs, contigs="primary")
    assert sorted(primary.transcripts["transcript_id"].to_list()) == ["T21", "TY"]
    assert sorted(primary.contigs) == ["21", "Y"]
    mf = json.loads((primary.path / "manifest.json").read_text())
    assert mf["transcripts_on_contigs_left_out"] == {"1_KI270706v1_random": 1, "KI270728.1": 1}
    everything = _build(tmp_path, "all", rows, contigs)
    assert everything.transcripts.height == 4 and everything.fetch("KI270728.1", 1, 10) == real_bases[:10]
    with pytest.raises(BundleError, match="contigs must be"):
        build_bundle(tmp_path / "all.gtf", tmp_path / "all.fa", tmp_path / "x", contigs="most")


def test_streamed_read_equals_whole_read(tmp_path, data_root, sources, monkeypatch):
    """The real whole-chr21 Ensembl GFF3 (2,414 transcripts) read 1,000 lines at a time gives the same tables
    as read in one chunk: no feature, Parent link or line number is lost at a chunk boundary."""
    gff3 = data_root / "reference" / "ensembl84_chr21.gff3.gz"
    monkeypatch.setattr(bundle_lines, "FEATURE_CHUNK_LINES", 10_000_000)
    whole = ReferenceBundle.load(build_bundle(gff3, sources["fasta"], tmp_path / "whole"))
    monkeypatch.setattr(bundle_lines, "FEATURE_CHUNK_LINES", 1000)
    chunked = ReferenceBundle.load(build_bundle(gff3, sources["fasta"], tmp_path / "chunked"))
    assert whole.transcripts.height > 2000
    for name in ("transcripts", "exons", "cds"):
        assert getattr(chunked, name).equals(getattr(whole, name)), name
    assert chunked.manifest["skipped_transcripts"] == whole.manifest["skipped_transcripts"]
