"""Inputs: VCF, variant strings, HGVS c., raw sequence; REF checks, normalisation, rejects.

Expectations come from outside the code under test: the real VCFs' own lines, Ensembl VEP 115's HGVSc for
the saturation set, the genome bases, and the VEP parser's naming rule for variants without an ID.
"""

from __future__ import annotations

import gzip
import re

import polars as pl
import pysam
import pytest

from hcml.genomics.errors import InputError
from hcml.genomics.inputs import call_sequence, parse_variant_strings, read_input, read_vcf
from hcml.genomics.transcript_map import revcomp

pytestmark = pytest.mark.small_path  # the outcome depends on the path: CI runs it with each forced

CANONICAL_CODING = ["ENST00000346798", "ENST00000400532", "ENST00000307301", "ENST00000457143", "ENST00000354828"]


def _data_lines(path):
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt") as fh:
        return [line.rstrip("\n") for line in fh if not line.startswith("#") and line.strip()]



@pytest.fixture(scope="module")
def saturation(bundle, data_root):
    return read_vcf(data_root / "truth" / "saturation.vcf.gz", bundle)


def test_vcf_every_record_kept_with_its_id_and_line(saturation, data_root):
    lines = _data_lines(data_root / "truth" / "saturation.vcf.gz")
    assert saturation.n_input == len(lines) == saturation.variants.height
    assert saturation.rejects.height == 0
    ids = [line.split("\t")[2] for line in lines]
    assert saturation.variants["variant_id"].to_list() == ids
    # exact line numbers: 3 header lines, then the records
    assert saturation.variants["line"].head(3).to_list() == [4, 5, 6]
    assert saturation.variants["row"].to_list() == list(range(len(lines)))


def test_vcf_genotypes_and_samples(bundle, data_root):
    path = data_root / "samples" / "HG00096_chr21_region.vcf"
    parsed = read_vcf(path, bundle)
    assert parsed.samples == ["HG00096"]
    expected = [line.split("\t")[9].split(":")[0] for line in _data_lines(path)]
    assert parsed.genotypes.sort("row")["gt"].to_list() == expected
    assert parsed.header[0] == "##fileformat=VCFv4.1" and parsed.header[-1].startswith("#CHROM")


def test_vcf_chr_prefix_bgzip_and_text_agree(bundle, data_root, tmp_path):
    path = data_root / "samples" / "clinvar2016_chr21_region.vcf"
    plain = read_vcf(path, bundle)
    text = path.read_text()
    chr_text = "\n".join(("chr" + l if l and not l.startswith("#") else l) for l in text.splitlines()) + "\n"
    prefixed = read_vcf(chr_text, bundle)
    bgz = tmp_path / "in.vcf.gz"
    pysam.tabix_compress(str(path), str(bgz))
    compressed = read_vcf(bgz, bundle)
    cols = ["chrom", "pos", "ref", "alt", "norm_pos", "norm_ref", "norm_alt"]
    assert plain.variants.height == 27 and plain.rejects.height == 0
    assert prefixed.variants.select(cols).equals(plain.variants.select(cols))
    assert compressed.variants.equals(plain.variants)


def test_multiallelic_split_and_vep_default_ids(bundle):
    # real bases: 21:25891796 is C
    assert bundle.fetch("21", 25891796, 25891796) == "C"
    two = bundle.fetch("21", 25891795, 25891796)
    vcf = (
        "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\tS2\n"
        "21\t25891796\t.\tC\tT,G\t.\t.\t.\tGT\t1/2\t0|1\n"
        f"chr21\t25891795\t.\t{two}\t{two[0]}\t.\t.\t.\tGT:DP\t0/1:12\t./.:0\n"
    )
    parsed = read_vcf(vcf, bundle)
    v = parsed.variants
    assert v["alt"].to_list() == ["T", "G", two[0]]
    # VEP: {chr}_{start}_{allele_string}; multi-allelic records keep one allele string; indels lose the
    # shared first base (start + 1, '-' for the empty allele); the contig as given
    assert v["variant_id"].to_list() == ["21_25891796_C/T/G", "21_25891796_C/T/G", f"chr21_25891796_{two[1]}/-"]
    gts = parsed.genotypes.sort("row", "sample")
    assert gts.filter(pl.col("sample") == "S1")["gt"].to_list() == ["1/0", "0/1", "0/1"]
    assert gts.filter(pl.col("sample") == "S2")["gt"].to_list() == ["0|1", "0|0", "./."]


BAD_VCF = (
    "##fileformat=VCFv4.2\n"
    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
    "21\t25891796\tgood\tC\tT\t.\t.\t.\n"  # line 3
    "21\tabc\tbadpos\tC\tT\t.\t.\t.\n"  # 4
    "21\t25891796\tshort\tC\n"  # 5
    "21\t25891796\tbadref\tG\tT\t.\t.\t.\n"  # 6
    "22\t25891796\tcontig\tC\tT\t.\t.\t.\n"  # 7
    "21\t25891796\tnonacgt\tC\tX\t.\t.\t.\n"  # 8
    "21\t46709984\tpastend\tC\tT\t.\t.\t.\n"  # 9
    "21\t25891796\tsymbolic\tC\t<DEL>\t.\t.\t.\n"  # 10
    "21\t25891796\tmulti\tC\tT,N\t.\t.\t.\n"  # 11: one allele good, one rejected
    "21\t1000\tnoseq\tC\tT\t.\t.\t.\n"  # 12: outside the bundle's sequenced region
)


def test_bad_records_are_rejected_with_line_field_and_reason(bundle):
    parsed = read_vcf(BAD_VCF, bundle)
    assert parsed.n_input == 11 == parsed.variants.height + parsed.rejects.height
    assert parsed.variants["variant_id"].to_list() == ["good", "multi"]
    rej = {r["line"]: r for r in parsed.rejects.iter_rows(named=True)}
    assert sorted(rej) == [4, 5, 6, 7, 8, 9, 10, 11, 12]
    assert rej[4]["field"] == "POS" and "'abc'" in rej[4]["reason"]
    assert rej[5]["field"] == "line" and "expected 8" in rej[5]["reason"] and "found 4" in rej[5]["reason"]
    assert rej[6]["field"] == "REF" and "'G'" in rej[6]["reason"] and "'C'" in rej[6]["reason"]
    assert rej[7]["field"] == "CHROM" and "'22'" in rej[7]["reason"]
    assert rej[8]["field"] == "ALT" and "'X'" in rej[8]["reason"]
    assert rej[9]["field"] == "POS" and "past the end" in rej[9]["reason"]
    assert rej[10]["field"] == "INFO" and "needs INFO END or SVLEN" in rej[10]["reason"]  # a structural allele
    assert rej[11]["field"] == "ALT" and "'N'" in rej[11]["reason"]
    assert rej[12]["field"] == "REF" and "no sequence" in rej[12]["reason"]
    assert rej[6]["text"].startswith("21\t25891796\tbadref")


@pytest.mark.parametrize(
    "source, message",
    [
        ("/nonexistent/x.vcf", "not found"),
        ("this is not a vcf\nat all\n", "not a VCF"),
        ("", "empty"),
    ],
)
def test_whole_input_errors(bundle, source, message):
    with pytest.raises(InputError, match=message):
        read_vcf(source if source else b"", bundle)


def test_wrong_bundle_is_a_whole_input_error(data_root):
    with pytest.raises(InputError, match="not a reference bundle"):
        read_vcf(data_root / "samples" / "HG00096_chr21_region.vcf", object())


def _apply(bundle, pos, ref, alt, lo, hi):
    """The haplotype chrom:lo-hi with a VCF-style allele applied."""
    seq = bundle.fetch("21", lo, hi)
    i = pos - lo
    assert seq[i : i + len(ref)] == ref
    return seq[:i] + alt + seq[i + len(ref) :]


def test_normalised_indels_are_equivalent_leftmost_and_trimmed(saturation, bundle):
    indels = saturation.variants.filter(pl.col("ref").str.len_bytes() != pl.col("alt").str.len_bytes())
    assert indels.height > 5000
    moved = 0
    for r in indels.iter_rows(named=True):
        lo, hi = r["pos"] - 200, r["pos"] + 200
        assert _apply(bundle, r["pos"], r["ref"], r["alt"], lo, hi) == _apply(
            bundle, r["norm_pos"], r["norm_ref"], r["norm_alt"], lo, hi
        )
        ref, alt = r["norm_ref"], r["norm_alt"]
        assert ref[0] == alt[0] and min(len(ref), len(alt)) == 1  # one anchor base, nothing else shared
        event = ref[1:] or alt[1:]
        # leftmost: the anchor base differs from the event's last base (else it could shift left)
        assert ref[0] != event[-1]
        moved += r["norm_pos"] != r["pos"]
    assert moved > 100  # the saturation set has indels in repeats: some must move


def test_hgvs_c_from_vep_maps_to_the_same_variant(saturation, bundle, data_root):
    """VEP 115 wrote HGVSc (3'-shifted) for every saturation variant; reading them back must give the
    same normalised variant as the VCF record, on the canonical coding transcripts (same model in both)."""
    truth = (
        pl.read_csv(data_root / "truth" / "saturation.vep115.tsv.gz", separator="\t", infer_schema=False)
        .filter(pl.col("Feature").is_in(CANONICAL_CODING), pl.col("HGVSc") != "-")
        .select("Uploaded_variation", "HGVSc")
        .unique(subset="HGVSc", keep="first", maintain_order=True)
    )
    parsed = parse_variant_strings(truth["HGVSc"].to_list(), bundle)
    assert parsed.rejects.height == 0, parsed.rejects.head()
    got = parsed.variants.select(pl.col("variant_id").alias("HGVSc"), "norm_pos", "norm_ref", "norm_alt")
    want = truth.join(
        saturation.variants.select(pl.col("variant_id").alias("Uploaded_variation"), "norm_pos", "norm_ref", "norm_alt"),
        on="Uploaded_variation",
    ).drop("Uploaded_variation")
    joined = want.join(got, on="HGVSc", suffix="_hgvs")
    assert joined.height == truth.height > 30000
    for col in ("norm_pos", "norm_ref", "norm_alt"):
        assert (joined[col] == joined[f"{col}_hgvs"]).all(), col


def test_variant_string_forms_agree(bundle):
    # Ensembl VEP 115 (saturation output): 25891784_C_T at 21:25891784 is ENST00000346798.7:c.2149G>A
    forms = ["21-25891784-C-T", "chr21:25891784:C:T", "21:g.25891784C>T", "NC_000021.9:g.25891784C>T",
             "ENST00000346798.7:c.2149G>A", "ENST00000346798:c.2149G>A"]
    parsed = parse_variant_strings(forms, bundle)
    assert parsed.rejects.height == 0
    assert set(parsed.variants.select("chrom", "norm_pos", "norm_ref", "norm_alt").rows()) == {("21", 25891784, "C", "T")}
    assert parsed.variants["variant_id"].to_list() == forms
    assert parsed.variants["line"].to_list() == list(range(1, 7))


def test_hgvs_g_indels(bundle):
    s = bundle.fetch("21", 25891790, 25891800)  # hand-check against these bases
    parsed = parse_variant_strings(
        ["21:g.25891796del", "21:g.25891796_25891797insAA", "21:g.25891796dup", "21:g.25891796_25891797delinsG"], bundle
    )
    v = parsed.variants.select("pos", "ref", "alt").rows()
    i = 25891796 - 25891790
    assert v[0] == (25891795, s[i - 1 : i + 1], s[i - 1])
    assert v[1] == (25891796, s[i], s[i] + "AA")
    assert v[2] == (25891796, s[i], s[i] + s[i])
    assert v[3] == (25891796, s[i : i + 2], "G")


def test_bad_variant_strings_are_rejects(bundle):
    items = ["nonsense", "ENST00000999999.1:c.1A>G", "ENST00000346798.6:c.2149G>A", "ENST00000346798.7:c.2149T>A",
             "21:g.25891796X>T", "ENST00000346798.7:c.99999999G>A", "21-25891796-C-T"]
    parsed = parse_variant_strings(items, bundle)
    assert parsed.n_input == 7 and parsed.variants.height == 1
    rej = {r["line"]: r for r in parsed.rejects.iter_rows(named=True)}
    assert "cannot parse" in rej[1]["reason"]
    assert "unknown transcript" in rej[2]["reason"]
    assert "version 7" in rej[3]["reason"]
    assert rej[4]["field"] == "REF"
    assert "malformed" in rej[5]["reason"]
    assert rej[6]["field"] == "hgvs"


def test_sequence_calls_snv_and_indels_on_both_strands(bundle):
    lo = 25891700
    ref = bundle.fetch("21", lo, lo + 400)
    # a read carrying: SNV at 25891796, deletion of the 2 bases at 25891850-1, insertion of AG after 25891900
    read = ref[:96] + ("T" if ref[96] != "T" else "G") + ref[97:150] + ref[152:201] + "AG" + ref[201:]
    edits = [
        f"21-25891796-{ref[96]}-{'T' if ref[96] != 'T' else 'G'}",
        f"21-25891849-{ref[149:152]}-{ref[149]}",
        f"21-25891900-{ref[200]}-{ref[200]}AG",
    ]
    expected = set(parse_variant_strings(edits, bundle).variants.select("norm_pos", "norm_ref", "norm_alt").rows())
    for text in (read, ">patient read\n" + revcomp(read)):
        parsed = call_sequence(text, bundle)
        assert parsed.rejects.height == 0
        assert set(parsed.variants.select("norm_pos", "norm_ref", "norm_alt").rows()) == expected


def test_sequence_errors(bundle):
    with pytest.raises(InputError, match="could not be located"):
        call_sequence("ACGT" * 30, bundle)
    with pytest.raises(InputError, match="position 3"):
        call_sequence("ACXGT" * 10, bundle)
    with pytest.raises(InputError, match="too short"):
        call_sequence("ACGT", bundle)


def test_read_input_sniffs_the_kind(bundle, data_root):
    assert read_input(data_root / "samples" / "HG00096_chr21_region.vcf", bundle).kind == "vcf"
    assert read_input("21-25891796-C-T\n21:g.25891796C>T\n", bundle).kind == "variants"
    assert read_input(bundle.fetch("21", 25891700, 25891800), bundle).kind == "sequence"


@pytest.mark.parametrize(
    "vcf, expected",
    [
        ("tests/genomics/test_inputs_data/known_indels.vcf.gz", "tests/genomics/test_inputs_data/known_indels.bcftools_norm.tsv.gz"),
        ("data/truth/saturation.vcf.gz", "tests/genomics/test_inputs_data/saturation.bcftools_norm.tsv.gz"),
    ],
)
def test_normalisation_equals_bcftools_norm(bundle, repo_root, vcf, expected):
    """bcftools norm (left-align + trim against the same FASTA) is the field's reference implementation."""
    from collections import Counter

    parsed = read_vcf(repo_root / vcf, bundle)
    assert parsed.rejects.height == 0
    ours = Counter(parsed.variants.select("variant_id", "norm_pos", "norm_ref", "norm_alt").rows())
    theirs = Counter()
    with gzip.open(repo_root / expected, "rt") as fh:
        for line in fh:
            _chrom, pos, vid, ref, alt = line.rstrip("\n").split("\t")
            theirs[(vid, int(pos), ref, alt)] += 1
    assert sum(theirs.values()) == parsed.n_input
    assert ours == theirs
    assert sum(1 for v in parsed.variants.iter_rows(named=True) if v["norm_pos"] != v["pos"]) > 100


def test_crlf_lowercase_and_blank_lines(bundle):
    vcf = (
        "##fileformat=VCFv4.2\r\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\r\n"
        "21\t25891784\tv1\tc\tt\t.\t.\t.\r\n\r\n"
        "21\t25891784\tv2\tC\tA\t.\t.\t.\r\n"
    )
    parsed = read_vcf(vcf, bundle)
    assert parsed.rejects.height == 0
    assert parsed.variants.select("line", "ref", "alt").rows() == [(3, "C", "T"), (5, "C", "A")]


def test_sequence_junk_ends_are_clipped_and_reported_not_called(bundle):
    import random

    rng = random.Random(7)
    junk = "".join(rng.choice("ACGT") for _ in range(30))
    ref = bundle.fetch("21", 25891700, 25892000)
    read = junk + ref[:96] + ("T" if ref[96] != "T" else "G") + ref[97:] + junk[:12]
    parsed = call_sequence(read, bundle)
    assert parsed.variants.select("pos").to_series().to_list() == [25891796]  # the one real difference
    # junk may match the genome by chance for a base or two next to the real sequence: clipped ends are
    # the junk, give or take those bases, and start at the read's first / end at its last base
    spans = sorted(
        tuple(int(x) for x in re.match(r"read bases (\d+)-(\d+) do not align", reason).groups())
        for reason in parsed.rejects["reason"].to_list()
    )
    assert spans[0][0] == 1 and 27 <= spans[0][1] <= 30
    assert spans[1][1] == len(read) and 9 <= len(read) - spans[1][0] + 1 <= 12
    assert parsed.n_input == 3


def test_vcf_from_another_assembly_is_a_whole_input_error(bundle):
    # GRCh37's chromosome 21 is 48,129,895 bp; the bundle is GRCh38 (46,709,983 bp)
    vcf = (
        "##fileformat=VCFv4.2\n##contig=<ID=chr21,length=48129895,assembly=hg19>\n"
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n21\t25891784\t.\tC\tT\t.\t.\t.\n"
    )
    with pytest.raises(InputError, match="wrong reference.*48,129,895.*46,709,983"):
        read_vcf(vcf, bundle)


@pytest.mark.parametrize("path", ["small", "vectorised"])
def test_positions_past_any_contig_are_rejects_not_crashes(bundle, path):
    """Positions beyond 2^62 (and beyond 64 bits) once raised polars / numpy errors for the whole input;
    they are per-line rejects now, and the good lines beside them still parse."""
    from hcml.small_inputs import forced

    header = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
    records = ["21\t9223372036854775807\t.\tCCC\tT\t.\t.\t.", "21\t4611686018427387905\t.\tCCCC\tT\t.\t.\t.",
               "21\t25891796\t.\tC\tT\t.\t.\t."]
    with forced(path):
        parsed = read_vcf((header + "\n".join(records) + "\n").encode(), bundle)
        strings = parse_variant_strings(["21-100000000000000000000-C-T", "21-25891796-C-T"], bundle)
    assert parsed.variants["pos"].to_list() == [25891796]
    assert parsed.rejects.select("line", "field").rows() == [(3, "POS"), (4, "POS")]
    assert all("past the end of every contig" in r for r in parsed.rejects["reason"])
    assert strings.variants["pos"].to_list() == [25891796]
    assert strings.rejects.select("line", "field").rows() == [(1, "POS")]
    assert "100000000000000000000" in strings.rejects["reason"][0]
