"""Padded indel alleles annotate exactly like their minimal form, as in Ensembl VEP 115.

VEP's rule, read in the Ensembl sources (written down here and transcribed by `vep_reduced` below,
independently of hcml's code):
1. ensembl-vep `Parser/VCF.pm` (create_VariationFeatures): a biallelic record whose REF and ALT differ in
   length and share their first base loses that base; start moves one base on ('-' for an empty allele).
2. ensembl-vep `Parser.pm` (post_process_vfs): an allele pair still of unequal length and without '-' goes
   through `minimise_alleles`, i.e. ensembl-variation `Utils/Sequence.pm` `trim_sequences(ref, alt, start,
   end, 1)`: shared *leading* bases are removed first (start + 1 each), then shared *trailing* bases
   (end - 1 each), each only while both alleles are non-empty. Equal-length pairs are left whole.
3. The reduced VariationFeature replaces the parsed one before anything else (validate_vf, which names a
   variant without an ID, runs afterwards): Location, Allele, every consequence predicate, positions and
   HGVS describe the reduced variant. A padded allele in a repeat therefore reduces to the copy its
   leading bases reach (prefix first), which can lie to the right of the unpadded record; HGVS, 3'-shifted,
   is the same either way.

So: the annotation of a padded record equals, field for field, that of the anchored VCF record of its
reduced form. Proved on every indel of the saturation set padded several ways (shared prefix and suffix
bases from the reference, into repeats), and on real multi-allelic sites built from the known variants
(VEP v84 cache, data/population) split into biallelic records by hcml's VCF reader."""

from __future__ import annotations

import gzip
from collections import defaultdict

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from hcml.genomics.annotate import annotate, vep_alleles
from hcml.genomics.inputs import read_vcf
from hcml.small_inputs import forced

# identity columns: they name the input record (padded or not), everything else must be equal
IDENTITY = ["row", "pos", "ref", "alt", "Uploaded_variation"]
# (prefix, suffix) bases of reference added around an anchored indel; prefix -1: the anchor base dropped
PADDINGS = [(1, 0), (0, 1), (0, 3), (2, 2), (4, 7), (-1, 2)]


def vep_reduced(pos: int, ref: str, alt: str) -> tuple[int, int, str, str]:
    """Steps 1 and 2 of the module docstring: (start, end, ref, alt) with '' for an empty allele."""
    start, end = pos, pos + len(ref) - 1
    if len(ref) != len(alt) and ref[:1] == alt[:1]:  # Parser/VCF.pm
        ref, alt, start = ref[1:], alt[1:], start + 1
    if len(ref) != len(alt) and ref and alt:  # post_process_vfs -> trim_sequences, leading bases first
        while ref and alt and ref[0] == alt[0]:
            ref, alt, start = ref[1:], alt[1:], start + 1
        while ref and alt and ref[-1] == alt[-1]:
            ref, alt, end = ref[:-1], alt[:-1], end - 1
    return start, end, ref, alt


def anchored(bundle, chrom: str, pos: int, ref: str, alt: str) -> tuple[str, int, str, str]:
    """The VCF record of a variant's reduced form: an indel written with the base before it."""
    start, _, r, a = vep_reduced(pos, ref, alt)
    if len(r) == len(a):
        return chrom, start, r, a
    base = bundle.fetch(chrom, start - 1, start - 1)
    return chrom, start - 1, base + r, base + a


def frame(records) -> pl.DataFrame:
    return pl.DataFrame(list(records), schema={"chrom": pl.Utf8, "pos": pl.Int64, "ref": pl.Utf8, "alt": pl.Utf8},
                        orient="row").with_row_index("row").with_columns(
        variant_id=pl.format("{}_{}_{}/{}", "chrom", "pos", "ref", "alt"))


def assert_same_annotation(padded: pl.DataFrame, minimal: pl.DataFrame, bundle) -> pl.DataFrame:
    got, want = annotate(padded, bundle), annotate(minimal, bundle)
    assert got["row"].to_list() == want["row"].to_list()  # the same rows per record, in the same order
    assert_frame_equal(got.drop(IDENTITY), want.drop(IDENTITY))
    return got


@pytest.fixture(scope="module")
def saturation_indels(bundle, data_root) -> list[tuple[str, int, str, str]]:
    v = read_vcf(data_root / "truth" / "saturation.vcf.gz", bundle).variants
    ind = v.filter(pl.col("ref").str.len_bytes() != pl.col("alt").str.len_bytes())
    return list(ind.select("chrom", "pos", "ref", "alt").iter_rows())


def pad(bundle, chrom, pos, ref, alt, k, m):
    """The record with k reference bases added before it (k = -1: its anchor base removed) and m after."""
    end = pos + len(ref) - 1
    after = bundle.fetch(chrom, end + 1, end + m) if m else ""
    if k < 0:
        return chrom, pos + 1, ref[1:] + after, alt[1:] + after
    before = bundle.fetch(chrom, pos - k, pos - 1) if k else ""
    return chrom, pos - k, before + ref + after, before + alt + after


def test_rule_examples(bundle):
    """The shapes of the issue, by the rule (expected values from the docstring's steps, by hand)."""
    got = vep_alleles(frame([
        ("21", 100, "CCC", "CC"),   # one C deleted: leading C, C shared -> the last C
        ("21", 100, "CAT", "CT"),   # a split multi-allelic CAT>CT,C: leading C, then trailing T -> A deleted
        ("21", 100, "CAT", "C"),    # anchored: only the first base goes
        ("21", 100, "ACGT", "AGT"),  # A, then T, G trailing -> C deleted
        ("21", 100, "C", "CAA"),    # insertion: start = end + 1
        ("21", 100, "CAT", "CGT"),  # equal length: kept whole (an MNV for VEP)
        ("21", 100, "AC", "G"),     # nothing shared
    ])).select("vstart", "vend", "vref", "valt").rows()
    assert got == [(102, 102, "C", "-"), (101, 101, "A", "-"), (101, 102, "AT", "-"), (101, 101, "C", "-"),
                   (101, 100, "-", "AA"), (100, 102, "CAT", "CGT"), (100, 101, "AC", "G")]


@pytest.mark.parametrize("k,m", PADDINGS)
def test_padded_saturation_indels_annotate_like_their_minimal_form(bundle, saturation_indels, k, m):
    """Every indel of the saturation set, padded: every output field (Consequence, IMPACT, cDNA / CDS /
    Protein positions, codons, amino acids, EXON / INTRON, HGVSc / HGVSp / HGVSg, Location, Allele,
    DISTANCE, known-variant columns ...) equals that of its reduced form's anchored record."""
    padded = [pad(bundle, *r, k, m) for r in saturation_indels]
    padded = [r for r in padded if r[2] and r[3]]  # an insertion without its anchor has no REF left
    minimal = [anchored(bundle, *r) for r in padded]
    # the reduced form is the original record unless the padding reaches into a repeat (then it is the
    # copy the shared leading bases reach): both kinds must occur for suffix paddings
    moved = sum(p_m != o for p_m, o in zip(minimal, saturation_indels)) if k >= 0 else None
    assert len(padded) > 3000
    if m >= 3:
        assert 0 < moved < len(padded) // 2
    assert_same_annotation(frame(padded), frame(minimal), bundle)


def test_padded_indels_small_path_equals_vectorised(bundle, saturation_indels):
    """The small-input twin reduces with the same rule: padded records in realtime-sized calls give the
    frames of the vectorised path."""
    padded = [pad(bundle, *r, k, m) for r in saturation_indels[::25] for k, m in PADDINGS]
    padded = [r for r in padded if r[2] and r[3]]
    for s0 in range(0, len(padded), 16):
        call = frame(padded[s0: s0 + 16])
        with forced("vectorised"):
            want = annotate(call, bundle)
        with forced("small"):
            got = annotate(call, bundle)
        assert_frame_equal(got, want)


def known_multiallelic_sites(bundle, data_root) -> list[tuple[str, int, str, list[str]]]:
    """Real sites with several indel alleles: the VEP cache's known variants (data/population) grouped by
    chromosome and VEP start (one entry's several alleles, or several entries at one start). Each site is
    written as a VCF record the way callers write one: REF spans the longest deleted sequence after the
    anchor base, each ALT is the anchor + its allele + the rest of REF (shared suffixes)."""
    alleles: dict[tuple[str, int], set[tuple[str, str]]] = defaultdict(set)
    with gzip.open(data_root / "population" / "known_variants_chr21_25-26Mb.tsv.gz", "rt") as fh:
        head = fh.readline().rstrip("\n").split("\t")
        col = {c: i for i, c in enumerate(head)}
        for line in fh:
            f = line.rstrip("\n").split("\t")
            parts = f[col["allele_string"]].split("/")
            ref, alts = parts[0], parts[1:]
            if not all(set(x) <= set("ACGT-") for x in parts):
                continue
            for a in alts:
                r_, a_ = ref.replace("-", ""), a.replace("-", "")
                if len(r_) != len(a_):
                    alleles[(f[col["chrom"]], int(f[col["start"]]))].add((r_, a_))
    sites = []
    for (chrom, start), pairs in sorted(alleles.items()):
        if len(pairs) < 2:
            continue
        span = max(len(r) for r, _ in pairs)
        genome = bundle.fetch(chrom, start, start + span - 1) if span else ""
        if any(genome[: len(r)] != r for r, _ in pairs):
            continue
        base = bundle.fetch(chrom, start - 1, start - 1)
        alts = sorted({base + a + genome[len(r):] for r, a in pairs})
        sites.append((chrom, start - 1, base + genome, alts))
    return sites


def test_real_multiallelic_sites_split_into_biallelic_records(bundle, data_root):
    sites = known_multiallelic_sites(bundle, data_root)
    assert len(sites) > 300
    body = "".join(f"{c}\t{p}\t.\t{r}\t{','.join(a)}\t.\t.\t.\n" for c, p, r, a in sites)
    vcf = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n" + body
    split = read_vcf(vcf.encode(), bundle).variants  # one row per ALT, REF and ALT as written
    records = list(split.select("chrom", "pos", "ref", "alt").iter_rows())
    assert len(records) == sum(len(a) for *_, a in sites)
    # the split records carry shared suffixes: with only their first base removed they would be
    # delins / longer deletions, not the cache's minimal alleles
    padded = [r for r in records if len(r[2]) > 1 and len(r[3]) > 1 and r[2][-1] == r[3][-1]]
    assert len(padded) > 100
    minimal = [anchored(bundle, *r) for r in records]
    assert_same_annotation(frame(records), frame(minimal), bundle)


def test_default_names_follow_the_reduction(bundle, saturation_indels):
    """A record without an ID is named `{chr}_{start}_{REF}/{ALT}` by VEP's validate_vf, which runs after
    step 2: a padded biallelic indel gets its reduced start and alleles ('-' for empty); a multi-allelic
    record keeps the parser's string (only the shared first base dropped), its alleles being reduced later
    (InputBuffer::split_variants). Both reader paths (vectorised and small) are checked."""
    padded = [r for r in (pad(bundle, *r, 2, 2) for r in saturation_indels[::40]) if "N" not in r[2]]
    body = "".join(f"{c}\t{p}\t.\t{r}\t{a}\t.\t.\t.\n" for c, p, r, a in padded)
    c, p, r, a = padded[0]
    body += f"{c}\t{p}\t.\t{r}\t{a},{r[0]}\t.\t.\t.\n"  # the first one again, with a second ALT
    vcf = ("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n" + body).encode()
    want = []
    for c_, p_, r_, a_ in padded:
        start, _, rr, aa = vep_reduced(p_, r_, a_)
        want.append(f"{c_}_{start}_{rr or '-'}/{aa or '-'}")
    strip = all(x[0] == r[0] for x in (a, r[0]))
    multi = f"{c}_{p + strip}_{r[strip:] or '-'}/{a[strip:] or '-'}/{r[0][strip:] or '-'}"
    want += [multi, multi]
    for mode in ("vectorised", "small"):
        with forced(mode):
            got = read_vcf(vcf, bundle).variants["variant_id"].to_list()
        assert got == want, mode
