"""Gene models from any GFF3 / GTF producer, and unusual inputs, neither crash nor give silent garbage.

The fragments are real: the MRPL39 region of chr21 (GRCh38, minus strand, four coding transcripts, two of
them sharing exon rows through a two-valued Parent) cut from `data/reference` into a contig of its own that
starts with real sequence, its Ensembl 84 GFF3 / GTF rows shifted onto it. Variants are the saturation set's
(data/truth) in that region. Each rewrite of the GFF3 follows a documented format:
- GFF3 1.26 (Sequence Ontology): nine tab-separated columns; in column 9 a tab is written %09 (also ';' %3B,
  '=' %3D, '&' %26, ',' %2C); features are tied by ID / Parent, never by how IDs are spelt;
- NCBI RefSeq GFF3: gene -> mRNA -> exon / CDS, IDs `gene-…` / `rna-…`, the gene's Entrez id in
  `Dbxref=GeneID:…`, the symbol in `gene=`, no biotype attribute;
- GENCODE GFF3: versioned IDs (`ENST….11`) with `gene_type` / `transcript_type`, CDS rows without the stop
  codon and separate `stop_codon` rows;
and the expectations follow Ensembl VEP's GFF reader (ensembl-vep modules/Bio/EnsEMBL/VEP/AnnotationSource/
File/GFF.pm and BaseGXF.pm): transcript id from `transcript_id` else ID with `transcript:` / `gene:` dropped,
gene id from `gene_id`, else Dbxref GeneID, else the gene's; biotype `mRNA` -> protein_coding; a
protein_coding transcript without exon rows is warned about and left out.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import polars as pl
import pysam
import pytest
from click.testing import CliRunner

from hcml.genomics.annotate import annotate
from hcml.genomics.bundle import BundleError, BundleWarning, ReferenceBundle, build_bundle
from hcml.genomics.cli import reference
from hcml.genomics.inputs import parse_variant_strings, read_vcf
from hcml.genomics.transcript_map import TranscriptIndex, revcomp

DATA = Path(__file__).resolve().parents[2] / "data"
GFF3 = DATA / "reference" / "ensembl84_chr21.gff3.gz"
GTF = DATA / "reference" / "ensembl84_chr21_region.gtf.gz"
FASTA = DATA / "reference" / "chr21_full_length_Nmasked.GRCh38.fa.gz"
LO, HI = 25_584_656, 25_608_517  # MRPL39 (chr21:25,585,656-25,607,517) and 1 kb either side
CONTIG = "MRPL39_region"
MRPL39_ENTREZ = "54148"
VCF_HEADER = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
COMPARED = ["Consequence", "IMPACT", "cDNA_position", "CDS_position", "Protein_position", "Amino_acids", "Codons",
            "EXON", "INTRON", "HGVSp", "HGVSg", "DISTANCE", "STRAND", "FLAGS", "SYMBOL", "BIOTYPE", "CANONICAL"]


# ------------------------------------------------------------------------------------------- fragments
def _region_rows(path: Path) -> list[list[str]]:
    """The gene-model rows of a real GFF3 / GTF lying inside LO..HI, moved onto the fragment contig."""
    rows = []
    with gzip.open(path, "rt") as fh:
        for line in fh:
            if line.startswith("#"):
                continue
            f = line.rstrip("\n").split("\t")
            if f[2] in ("chromosome", "biological_region") or not (int(f[3]) >= LO and int(f[4]) <= HI):
                continue
            rows.append([CONTIG, f[1], f[2], str(int(f[3]) - LO + 1), str(int(f[4]) - LO + 1), *f[5:]])
    return rows


def _write(path: Path, rows: list[list[str]], gff3: bool = True) -> Path:
    head = f"##gff-version 3\n##sequence-region {CONTIG} 1 {HI - LO + 1}\n" if gff3 else ""
    path.write_text(head + "".join("\t".join(r) + "\n" for r in rows))
    return path


def _attrs(text: str) -> dict[str, str]:
    return dict(kv.split("=", 1) for kv in text.split(";") if kv)


def _join(attrs: dict[str, str]) -> str:
    return ";".join(f"{k}={v}" for k, v in attrs.items())


def _rewrite(rows, edit) -> list[list[str]]:
    """Rows with column 9 rewritten by `edit(feature, attrs) -> attrs | None` (None drops the row)."""
    out = []
    for r in rows:
        a = edit(r[2], _attrs(r[8]))
        if a is not None:
            out.append([*r[:8], _join(a)])
    return out


def _plain_ids(feature: str, a: dict[str, str]) -> dict[str, str]:
    """No `transcript:` / `gene:` prefixes, no exon rank, no versions: the GFF3 of a producer other than Ensembl."""
    for key in ("ID", "Parent"):
        if key in a:
            a[key] = ",".join(re.sub(r"^(transcript|gene):", "", x) for x in a[key].split(","))
    a.pop("rank", None)
    a.pop("version", None)
    return a


@pytest.fixture(scope="module")
def fragment(tmp_path_factory):
    """The fragment's FASTA, its real Ensembl rows, and a builder of bundles from rewritten rows."""
    root = tmp_path_factory.mktemp("fragment")
    with pysam.FastaFile(str(FASTA)) as fa:
        seq = fa.fetch("21", LO - 1, HI)
    assert "N" not in seq
    fasta = root / "fragment.fa"
    fasta.write_text(f">{CONTIG}\n" + "".join(seq[i : i + 60] + "\n" for i in range(0, len(seq), 60)))
    rows = _region_rows(GFF3)
    built: dict[str, ReferenceBundle] = {}

    def build(name: str, rows_: list[list[str]], gff3: bool = True) -> ReferenceBundle:
        if name not in built:
            src = _write(root / f"{name}.{'gff3' if gff3 else 'gtf'}", rows_, gff3)
            built[name] = ReferenceBundle.load(build_bundle(src, fasta, root / name))
        return built[name]

    return {"root": root, "fasta": fasta, "seq": seq, "rows": rows, "build": build}


@pytest.fixture(scope="module")
def ensembl(fragment):
    return fragment["build"]("ensembl", fragment["rows"])


@pytest.fixture(scope="module")
def variants_vcf():
    """The saturation set's variants inside the fragment (every 3rd), on the fragment's contig."""
    with gzip.open(DATA / "truth" / "saturation.vcf.gz", "rt") as fh:
        recs = [line.rstrip("\n").split("\t") for line in fh if not line.startswith("#")]
    inside = [r for r in recs if LO <= int(r[1]) <= HI][::3]
    assert len(inside) > 1000
    return VCF_HEADER + "".join(f"{CONTIG}\t{int(r[1]) - LO + 1}\t{r[2]}\t{r[3]}\t{r[4]}\t.\t.\t.\n" for r in inside)


def _annotated(bundle, vcf: str) -> pl.DataFrame:
    parsed = read_vcf(vcf.encode(), bundle)
    assert parsed.rejects.height == 0, parsed.rejects
    return annotate(parsed.variants, bundle).filter(pl.col("Feature").is_not_null())


def _same(got: pl.DataFrame, want: pl.DataFrame, *cols) -> bool:
    """The same rows in the given columns (or expressions), in any order."""
    a, b = got.select(*cols), want.select(*cols)
    return a.sort(a.columns, nulls_last=True).equals(b.sort(b.columns, nulls_last=True))


def _unversioned(col: str) -> pl.Expr:
    """An HGVS / feature id without its `.N` version (`ENST00000307301.11:c.1A>G` -> `ENST00000307301:c.1A>G`)."""
    return pl.col(col).str.replace(r"^([A-Z]+\d+(?:_\d+)?)\.\d+", "$1")


def test_fragment_models_are_chr21s(ensembl, bundle):
    """The fixture itself: the fragment's Ensembl GFF3 gives the GTF bundle's MRPL39 models, moved by LO - 1."""
    cols = ["transcript_id", "transcript_version", "gene_id", "biotype", "start", "end", "strand", "cds_start",
            "cds_end", "canonical", "flags"]
    shift = [pl.col(c) - (LO - 1) for c in ("start", "end", "cds_start", "cds_end")]
    gtf = bundle.transcripts.filter(pl.col("gene_symbol") == "MRPL39").with_columns(shift).select(cols).sort("transcript_id")
    assert gtf.height == 4
    assert ensembl.transcripts.select(cols).sort("transcript_id").equals(gtf)


# ------------------------------------------------------------------------------ CDS without exon rows
@pytest.mark.parametrize("fmt", ["gff3", "gtf"])
def test_cds_without_exon_rows_is_left_out_with_a_warning(fragment, ensembl, variants_vcf, fmt):
    """VEP (BaseGXF.pm `_create_transcript`): "No exons found for protein_coding transcript", and the
    transcript is not used; the others annotate as before."""
    gone = "ENST00000352957"
    rows = fragment["rows"] if fmt == "gff3" else _region_rows(GTF)
    cut = [r for r in rows if not (r[2] == "exon" and gone in r[8])]
    assert len(cut) < len(rows)
    line = next(i for i, r in enumerate(cut) if r[2] == "transcript" and gone in r[8]) + (3 if fmt == "gff3" else 1)
    with pytest.warns(BundleWarning, match=rf"1 transcript\(s\) left out: {gone} \(line {line}: CDS rows but no exon rows\)"):
        b = fragment["build"](f"no_exons_{fmt}", cut, fmt == "gff3")
    assert b.manifest["skipped_transcripts"] == [{"transcript_id": gone, "line": line, "reason": "CDS rows but no exon rows"}]
    # `hcml reference build` says it as one plain warning line
    src = next(fragment["root"].glob(f"no_exons_{fmt}.*"))
    run = CliRunner().invoke(reference, ["build", "--gtf", str(src), "--fasta", str(fragment["fasta"]),
                                         "--out", str(fragment["root"] / f"cli_{fmt}")])
    assert run.exit_code == 0, run.output
    assert f"warning: {src}: 1 transcript(s) left out: {gone} (line {line}: CDS rows but no exon rows)" in run.output
    assert gone not in b.transcripts["transcript_id"].to_list() and b.transcripts.height == 3
    got = _annotated(b, variants_vcf)
    assert gone not in got["Feature"].to_list()
    whole = ensembl if fmt == "gff3" else fragment["build"]("gtf", rows, False)  # GTF: protein versions too
    want = _annotated(whole, variants_vcf).filter(pl.col("Feature") != gone)
    key = ["Uploaded_variation", "Feature"]
    assert _same(got, want, *key, *COMPARED, "HGVSc")


def test_transcript_without_any_child_rows_is_listed(fragment):
    """VEP skips a transcript that has no child rows at all without a word; hcml lists it."""
    gone = "ENST00000352957"
    cut = [r for r in fragment["rows"] if r[2] == "transcript" or gone not in r[8]]
    line = next(i for i, r in enumerate(cut) if r[2] == "transcript" and gone in r[8]) + 3
    with pytest.warns(BundleWarning, match=rf"left out: {gone} \(line {line}: no exon rows\)"):
        b = fragment["build"]("childless", cut)
    assert b.transcripts.height == 3 and b.manifest["counts"]["skipped_transcripts"] == 1


def test_gencode_style_gtf_and_rows_without_their_transcript(fragment, variants_vcf):
    """GENCODE's GTF says `transcript_type` / `gene_type` where Ensembl's says `*_biotype` (VEP's GTF.pm
    reads either); exon / CDS rows whose transcript has no `transcript` row are listed, not used."""
    gone = "ENST00000352957"
    rows = _region_rows(GTF)
    gencode = [[*r[:8], r[8].replace('transcript_biotype "', 'transcript_type "').replace('gene_biotype "', 'gene_type "')]
               for r in rows if not (r[2] == "transcript" and gone in r[8])]
    assert not any("_biotype" in r[8] for r in gencode)
    line = next(i for i, r in enumerate(gencode) if gone in r[8] and r[2] in ("exon", "CDS")) + 1
    with pytest.warns(BundleWarning, match=rf"left out: {gone} \(line {line}: exon / CDS rows but no transcript row\)"):
        b = fragment["build"]("gencode_gtf", gencode, False)
    ensembl_gtf = fragment["build"]("gtf", rows, False)
    cols = ["transcript_id", "biotype", "gene_biotype", "cds_start", "cds_end", "canonical"]
    assert b.transcripts.select(cols).equals(ensembl_gtf.transcripts.filter(pl.col("transcript_id") != gone).select(cols))
    key = ["Uploaded_variation", "Feature"]
    want = _annotated(ensembl_gtf, variants_vcf).filter(pl.col("Feature") != gone)
    assert _same(_annotated(b, variants_vcf), want, *key, *COMPARED, "HGVSc")


# ------------------------------------------------------------ other producers: no prefixes, rank, version
def test_gff3_without_prefixes_ranks_or_versions(fragment, ensembl, variants_vcf):
    b = fragment["build"]("plain", _rewrite(fragment["rows"], _plain_ids))
    # exon numbers follow the exons along the transcript (5'->3'), which is what Ensembl's `rank` says
    assert b.exons.sort("transcript_id", "start").equals(ensembl.exons.sort("transcript_id", "start"))
    assert b.transcripts["transcript_version"].null_count() == b.transcripts.height
    got, want = _annotated(b, variants_vcf), _annotated(ensembl, variants_vcf)
    key = ["Uploaded_variation", "Feature"]
    assert got.height == want.height > 2000
    assert _same(got, want, *key, *COMPARED)
    assert got["EXON"].drop_nulls().str.contains(r"^\d+(-\d+)?/\d+$").all()
    assert got["EXON"].drop_nulls().len() > 500
    # no version -> the bare id (VEP prints the reference sequence as the model names it)
    coding = got.filter(pl.col("HGVSc").is_not_null())
    assert coding["HGVSc"].str.contains(r"^ENST\d+(_\d+)?:[cn]\.").all()
    assert _same(got, want, *key, _unversioned("HGVSc"))
    assert want["HGVSc"].drop_nulls().str.contains(r"^ENST\d+(_\d+)?\.\d+:[cn]\.").all()
    # HGVS input names the transcript as the model does: bare where it has no version
    ref = TranscriptIndex.of(ensembl).coding_sequence("ENST00000307301")[99]
    alt = "A" if ref != "A" else "G"
    bare = parse_variant_strings([f"ENST00000307301:c.100{ref}>{alt}", f"ENST00000307301.11:c.100{ref}>{alt}"], b)
    versioned = parse_variant_strings([f"ENST00000307301.11:c.100{ref}>{alt}"], ensembl)
    assert bare.variants.select("pos", "ref", "alt").equals(versioned.variants.select("pos", "ref", "alt"))
    assert "gives no version: write ENST00000307301" in bare.rejects["reason"][0]


def _refseq(rows: list[list[str]]) -> list[list[str]]:
    """The Ensembl rows as NCBI writes its GFF3: gene-/rna-/exon-/cds- IDs, transcripts typed mRNA, no biotype."""
    def edit(feature, a):
        if feature == "gene":
            return {"ID": f"gene-{a['Name']}", "Dbxref": f"GeneID:{MRPL39_ENTREZ},HGNC:HGNC:14027", "Name": a["Name"],
                    "gbkey": "Gene", "gene": a["Name"], "gene_biotype": a["biotype"]}
        if feature == "transcript":
            tid = a["ID"].removeprefix("transcript:")
            return {"ID": f"rna-{tid}", "Parent": "gene-MRPL39", "Dbxref": f"GeneID:{MRPL39_ENTREZ}", "Name": tid,
                    "gbkey": "mRNA", "gene": "MRPL39", "transcript_id": tid}
        parents = ",".join("rna-" + p.removeprefix("transcript:") for p in a["Parent"].split(","))
        if feature == "exon":
            return {"ID": f"exon-{a['Name']}", "Parent": parents, "gbkey": "mRNA", "gene": "MRPL39"}
        if feature == "CDS":
            return {"ID": f"cds-{a['protein_id']}", "Parent": parents, "gbkey": "CDS", "gene": "MRPL39",
                    "protein_id": a["protein_id"]}
        return None  # NCBI writes no UTR rows

    out = _rewrite(rows, edit)
    return [[*r[:2], "mRNA" if r[2] == "transcript" else r[2], *r[3:]] for r in out]


def test_refseq_style_gff3(fragment, ensembl, variants_vcf):
    b = fragment["build"]("refseq", _refseq(fragment["rows"]))
    tx = b.transcripts.sort("transcript_id")
    assert tx["biotype"].to_list() == ["protein_coding"] * 4  # mRNA -> protein_coding (GFF.pm)
    assert set(tx["gene_id"]) == {MRPL39_ENTREZ} and set(tx["gene_symbol"]) == {"MRPL39"}  # Dbxref GeneID, gene=
    got, want = _annotated(b, variants_vcf), _annotated(ensembl, variants_vcf)
    key = ["Uploaded_variation", "Feature"]
    assert _same(got, want, *key, *COMPARED)
    assert set(got["Gene"]) == {MRPL39_ENTREZ}


def _stop_codon_apart(rows: list[list[str]], seq: str) -> list[list[str]]:
    """GENCODE's CDS rows stop before the stop codon, which has rows of its own: peel the last three coding
    bases (5'->3' on the minus strand: the lowest positions) off each transcript whose CDS ends in a stop."""
    out = [r for r in rows if r[2] != "CDS"]
    cds: dict[str, list[list[str]]] = {}
    for r in rows:
        if r[2] == "CDS":
            for p in _attrs(r[8])["Parent"].split(","):
                cds.setdefault(p, []).append([*r[:8], _join({**_attrs(r[8]), "Parent": p})])
    peeled = 0
    for parent, segs in cds.items():
        segs.sort(key=lambda r: int(r[3]))  # minus strand: the 3' end is the lowest start
        assert all(s[6] == "-" for s in segs)
        coding = "".join(seq[int(s[3]) - 1 : int(s[4])] for s in segs)
        if revcomp(coding)[-3:] in ("TAA", "TAG", "TGA"):
            need = 3
            for s in segs:
                take = min(need, int(s[4]) - int(s[3]) + 1)
                out.append([*s[:2], "stop_codon", s[3], str(int(s[3]) + take - 1), s[5], s[6], "0",
                            _join({"Parent": parent})])
                s[3] = str(int(s[3]) + take)
                need -= take
                if not need:
                    break
            peeled += 1
        out.extend(s for s in segs if int(s[3]) <= int(s[4]))
    assert peeled == 2  # the two complete transcripts; the cds_end_NF pair has no stop
    return out


def _gencode(rows: list[list[str]], seq: str) -> list[list[str]]:
    versions = {a["ID"]: a.get("version") for a in (_attrs(r[8]) for r in rows) if "ID" in a}

    def vid(x: str) -> str:
        return f"{x.split(':', 1)[1]}.{versions[x]}"

    def edit(feature, a):
        if feature == "gene":
            return {"ID": vid(a["ID"]), "gene_id": vid(a["ID"]), "gene_type": a["biotype"], "gene_name": a["Name"]}
        if feature == "transcript":
            return {"ID": vid(a["ID"]), "Parent": vid(a["Parent"]), "gene_id": vid(a["Parent"]),
                    "transcript_id": vid(a["ID"]), "gene_type": "protein_coding", "gene_name": "MRPL39",
                    "transcript_type": a["biotype"], "transcript_name": a["Name"],
                    **({"ccdsid": a["ccdsid"]} if "ccdsid" in a else {}), **({"tag": a["tag"]} if "tag" in a else {})}
        if feature in ("exon", "CDS", "stop_codon", "five_prime_UTR", "three_prime_UTR"):
            return {**{k: v for k, v in a.items() if k in ("protein_id", "rank")},
                    "Parent": ",".join(vid(p) for p in a["Parent"].split(","))}
        return None

    return _rewrite(_stop_codon_apart(rows, seq), edit)


def test_gencode_style_gff3(fragment, ensembl, variants_vcf):
    b = fragment["build"]("gencode", _gencode(fragment["rows"], fragment["seq"]))
    # VEP takes the transcript_id attribute as the stable id: GENCODE's carries the version
    assert sorted(b.transcripts["transcript_id"]) == sorted(
        f"{t}.{v}" for t, v in ensembl.transcripts.select("transcript_id", "transcript_version").iter_rows())
    # the stop codon rows are folded into the CDS: the same coding span as Ensembl's CDS rows (stop included)
    cds = ["start", "end", "cds_start", "cds_end", "flags"]
    assert b.transcripts.sort("transcript_id").select(cds).equals(ensembl.transcripts.sort("transcript_id").select(cds))
    got = _annotated(b, variants_vcf).with_columns(_unversioned("Feature"), _unversioned("Gene"))
    want = _annotated(ensembl, variants_vcf)
    key = ["Uploaded_variation", "Feature"]
    # the versioned id is the HGVS reference: HGVSc equals Ensembl's ENST….version form exactly
    assert _same(got, want, *key, *COMPARED, "HGVSc", "Gene")


# ------------------------------------------------------------------------------------ column 9 syntax
def test_tab_inside_an_attribute_names_file_and_line(fragment):
    rows = [list(r) for r in fragment["rows"]]
    k = next(i for i, r in enumerate(rows) if r[2] == "transcript")
    rows[k][8] = rows[k][8].replace("Name=", "Name=MRPL39\t", 1)
    src = _write(fragment["root"] / "tab.gff3", rows)
    with pytest.raises(BundleError, match=rf"tab\.gff3:{k + 3}: 10 tab-separated columns where GFF3 has 9 "
                                          r"\(a tab inside an attribute must be written %09\)"):
        build_bundle(src, fragment["fasta"], fragment["root"] / "tab")


@pytest.mark.parametrize("column, value, message", [
    (3, "1O0", "start '1O0' is not an integer"),
    (4, "", "end '' is not an integer"),
])
def test_bad_coordinates_name_file_and_line(fragment, column, value, message):
    rows = [list(r) for r in fragment["rows"]]
    rows[5][column] = value
    src = _write(fragment["root"] / "coords.gff3", rows)
    with pytest.raises(BundleError, match=rf"coords\.gff3:8: {message}"):
        build_bundle(src, fragment["fasta"], fragment["root"] / "coords")


def test_embedded_fasta_section_is_not_read_as_features(fragment, ensembl):
    """GFF3 1.26: `##FASTA` ends the features; the sequences after it are not nine-column rows."""
    src = fragment["root"] / "with_fasta.gff3"
    _write(src, fragment["rows"])
    src.write_text(src.read_text() + f"##FASTA\n>{CONTIG}\n{fragment['seq'][:120]}\n")
    b = ReferenceBundle.load(build_bundle(src, fragment["fasta"], fragment["root"] / "with_fasta"))
    assert b.transcripts.equals(ensembl.transcripts) and b.exons.equals(ensembl.exons)


def test_percent_escapes_are_decoded(fragment):
    """%09, %3B, %3D, %2C inside values are the characters themselves (GFF3 1.26, column 9); ',' separates the
    values of Parent, so an escaped comma inside an ID stays inside it."""
    def edit(feature, a):
        if feature == "transcript" and a["ID"] == "transcript:ENST00000307301":
            a["Name"] = "MRPL39%09two%3Bparts%3Done%2Cname"
            a["ID"] = a["transcript_id"] = "ENST00000307301%2Cx"
        if feature in ("exon", "CDS", "three_prime_UTR", "five_prime_UTR"):
            a["Parent"] = a["Parent"].replace("transcript:ENST00000307301", "ENST00000307301%2Cx")
        return a

    b = fragment["build"]("escapes", _rewrite(fragment["rows"], edit))
    tx = b.transcripts.filter(pl.col("transcript_id") == "ENST00000307301,x")
    assert tx.height == 1 and tx["transcript_name"][0] == "MRPL39\ttwo;parts=one,name"
    assert b.exons.filter(pl.col("transcript_id") == "ENST00000307301,x").height == 11  # as Ensembl's


# ------------------------------------------------------------------------------ the first base of a contig
@pytest.mark.parametrize("small_path_max", ["256", "0"])  # the row-by-row twin and the vectorised form
def test_indels_at_the_first_base_of_a_contig(ensembl, fragment, monkeypatch, small_path_max):
    """VCF 4.3 (section 1.6.1, REF): an event at position 1 has no base before it, so REF and ALT carry the
    base after it. Such a record is read and annotated like any other; the rest of the file too."""
    monkeypatch.setenv("HCML_SMALL_INPUT_MAX", small_path_max)
    seq = fragment["seq"]
    b1, b2 = seq[0], seq[1]
    new = next(x for x in "ACGT" if x not in (b1, b2))  # inserted after base 2, it cannot shift left
    records = [
        (1, f"{b1}", f"T{b1}"),            # T inserted before base 1
        (1, f"{b1}{b2}", f"{b2}"),         # base 1 deleted
        (1, f"{b1}", "C" if b1 != "C" else "G"),  # an SNV at base 1
        (2, f"{b2}", f"{b2}{new}"),        # an insertion after base 2: anchored as usual
    ] + [(p, seq[p - 1], "A" if seq[p - 1] != "A" else "C") for p in range(1000, 20000, 997)]
    vcf = VCF_HEADER + "".join(f"{CONTIG}\t{p}\t.\t{r}\t{a}\t.\t.\t.\n" for p, r, a in records)
    parsed = read_vcf(vcf.encode(), ensembl)
    assert parsed.n_input == len(records) == parsed.variants.height + parsed.rejects.height
    assert parsed.rejects.height == 0
    norm = parsed.variants.select("norm_pos", "norm_ref", "norm_alt").rows()
    assert norm[0] == (1, b1, "T" + b1) and norm[1] == (1, b1 + b2, b2) and norm[3] == (2, b2, b2 + new)
    assert all(p >= 1 for p, _, _ in norm)
    for (p, r, a), (np_, nr, na) in zip(records, norm):  # the same haplotype, written either way
        assert seq[: p - 1] + a + seq[p - 1 + len(r) :] == seq[: np_ - 1] + na + seq[np_ - 1 + len(nr) :]
    out = annotate(parsed.variants, ensembl)
    assert set(out["row"]) == set(parsed.variants["row"])
    # VEP writes an insertion as the two bases around it: before base 1 that is "0-1"
    assert out.filter(pl.col("row") == 0)["Location"].unique().to_list() in ([f"{CONTIG}:1"], [f"{CONTIG}:0-1"])
    assert (out["Location"].str.extract(r"(\d+)$", 1).cast(pl.Int64) >= 1).all()


# ------------------------------------------------------------------------------------- the whole chr21
@pytest.fixture(scope="module")
def chr21_pair(tmp_path_factory):
    """The real whole-chr21 Ensembl GFF3 and the same file without prefixes, exon ranks and versions."""
    root = tmp_path_factory.mktemp("chr21")
    plain = root / "chr21_plain.gff3"
    with gzip.open(GFF3, "rt") as fh, open(plain, "w") as out:
        for line in fh:
            if line.startswith("#"):
                out.write(line)
                continue
            f = line.rstrip("\n").split("\t")
            out.write("\t".join([*f[:8], _join(_plain_ids(f[2], _attrs(f[8])))]) + "\n")
    real = ReferenceBundle.load(build_bundle(GFF3, FASTA, root / "real"))
    rewritten = ReferenceBundle.load(build_bundle(plain, FASTA, root / "plain"))
    return real, rewritten


def test_whole_chr21_gff3_with_and_without_ensembl_spellings(chr21_pair):
    real, plain = chr21_pair
    assert real.transcripts.height == 2414 and real.manifest["skipped_transcripts"] == []
    assert plain.transcripts.height == 2414 and plain.manifest["skipped_transcripts"] == []
    assert plain.transcripts.drop("transcript_version", "gene_version").equals(
        real.transcripts.drop("transcript_version", "gene_version"))
    assert plain.exons.equals(real.exons) and plain.cds.equals(real.cds)
    parsed = read_vcf(DATA / "truth" / "saturation.vcf.gz", real)
    assert parsed.variants.height > 30_000
    got, want = annotate(parsed.variants, plain), annotate(parsed.variants, real)
    key = ["row", "Feature"]
    assert got.height == want.height
    assert _same(got, want, *key, "Gene", *COMPARED, _unversioned("HGVSc"))
    assert want["HGVSc"].drop_nulls().str.contains(r"^ENST\d+(_\d+)?\.\d+:").all()
    assert got["HGVSc"].drop_nulls().str.contains(r"^ENST\d+(_\d+)?:").all()
