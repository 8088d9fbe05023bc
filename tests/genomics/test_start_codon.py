"""Indels and MNVs at the start codon follow Ensembl VEP's start-codon predicates.

The rule, read in ensembl-variation `Utils/VariationEffect.pm` and written down here (`vep_start_terms`
transcribes it on the transcript's own sequence, built below from the bundle's exon table and genome, not
from hcml's transcript code). cDNA coordinates are VEP's cdna_start / cdna_end (an insertion has start =
end + 1); U = the 5' UTR, T = the translateable sequence (CDS incl. stop), E = U + T with the allele
spliced over cdna_start..cdna_end.
- `_overlaps_start_codon`: not cds_start_NF, both cDNA ends defined (no end in an intron), and
  overlap(cdna_start, cdna_end, |U| + 1, |U| + 3).
- `_ins_del_start_altered`: overlaps, the length changes, and E is shorter than T or does not end with T.
- `_inv_start_altered`: overlaps, U is not empty, and E[|U| .. |U| + 2] is not ATG.
- `start_lost`: overlaps and (start altered and not (inframe_insertion or inframe_deletion); or
  _inv_start_altered; or the first codon is hit (translation_start 1) and the alt peptide neither starts
  nor ends with the ref peptide). Codons and peptides exist only for a variant wholly in the CDS.
- `start_retained_variant`: the length changes, overlaps, and not `_ins_del_start_altered`.
- `inframe_deletion`: in frame, alt codon shorter, and the ref codon starts or ends with it, or trimming
  their shared ends leaves no alt and a multiple of 3 of ref. `inframe_insertion`: in frame, alt codon
  longer, not (start retained and the alt peptide ends with the ref one), not start_lost, and the alt
  peptide (cut after its first stop) starts or ends with the ref one.
- `coding_unknown` (coding_sequence_variant) never holds together with start_lost / start_retained_variant /
  frameshift / inframe_deletion: a UTR/CDS-boundary deletion is start_lost or start_retained_variant.
- 5_prime_UTR_variant: part of the variant in the 5' UTR (an insertion: both flanks there or just before
  the start codon).

Shapes, on every complete coding transcript of the five coding genes of chr21 (MRPL39, JAM2, ATP5J/ATP5PF,
GABPA, APP; both strands) whose start codon sits in an exon with UTR and CDS around it: 1-bp deletions of
each start-codon base (a deletion inside the ATG that re-forms an ATG from the next or previous bases),
UTR/CDS-boundary deletions, one copy of a tandem repeat deleted or duplicated across the ATG, and
in-frame / frameshift insertions inside the ATG."""

from __future__ import annotations

import polars as pl
import pytest

from hcml.genomics.annotate import annotate

pytestmark = pytest.mark.small_path  # the outcome depends on the path: CI runs it with each forced

GENES = ["MRPL39", "JAM2", "ATP5J", "ATP5PF", "GABPA", "APP"]
COMPARED = ["start_lost", "start_retained_variant", "frameshift_variant", "inframe_deletion", "inframe_insertion",
            "coding_sequence_variant", "5_prime_UTR_variant"]
COMP = str.maketrans("ACGTN", "TGCAN")
CODE = {a + b + c: aa for (a, b, c), aa in zip(
    ((x, y, z) for x in "TCAG" for y in "TCAG" for z in "TCAG"),
    "FFLLSSSSYY**CC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG")}


def revcomp(s: str) -> str:
    return s.translate(COMP)[::-1]


def peptide(codon: str) -> str:
    """VEP's peptide of a codon string: whole codons translated, X for a partial one, cut after a stop."""
    p = "".join(CODE.get(codon[i: i + 3], "X") for i in range(0, len(codon) - len(codon) % 3, 3))
    if len(codon) % 3:
        p += "X"
    return p[: p.index("*") + 1] if "*" in p else p


def trim(a: str, b: str) -> tuple[str, str]:
    """Utils/Sequence.pm trim_sequences: shared leading, then trailing bases, while both are non-empty."""
    while a and b and a[0] == b[0]:
        a, b = a[1:], b[1:]
    while a and b and a[-1] == b[-1]:
        a, b = a[:-1], b[:-1]
    return a, b


def vep_start_terms(utr: str, tl: str, c_start: int, c_end: int, alt: str) -> set[str]:
    """The module docstring's predicates for one allele (alt on the transcript strand) at cDNA
    c_start..c_end, both ends exonic."""
    n_utr, ref_len = len(utr), c_end - c_start + 1
    overlaps = c_end >= n_utr + 1 and c_start <= n_utr + 3
    change = ref_len != len(alt)
    edited = (utr + tl)[: c_start - 1] + alt + (utr + tl)[c_end:]
    altered = overlaps and change and (len(edited) < len(tl) or edited[-len(tl):] != tl)
    inv = overlaps and n_utr > 0 and edited[n_utr: n_utr + 3] != "ATG"
    retained = change and overlaps and not altered
    terms: set[str] = set()
    in_cds = c_start > n_utr and c_end >= n_utr + 1 - (ref_len == 0)  # both ends in the CDS
    if in_cds and (ref_len > 0 or c_end >= n_utr + 1):
        s, e = c_start - n_utr, c_end - n_utr
        frameshift = (len(alt) - (e - s + 1)) % 3 != 0
        t0, t1 = (s + 2) // 3, (e + 2) // 3
        ref_codon = tl[t0 * 3 - 3: t1 * 3]
        alt_codon = (tl[: s - 1] + alt + tl[e:])[t0 * 3 - 3: t1 * 3 + len(alt) - (e - s + 1)]
        rp, ap = peptide(ref_codon), peptide(alt_codon)
        inframe_del = False
        if not frameshift and len(alt_codon) < len(ref_codon):
            r_, a_ = trim(ref_codon, alt_codon)
            inframe_del = (ref_codon.startswith(alt_codon) or ref_codon.endswith(alt_codon)
                           or (not a_ and len(r_) % 3 == 0))

        def inframe_ins(lost: bool) -> bool:
            return (not frameshift and len(alt_codon) > len(ref_codon) and not lost
                    and not (retained and ap.endswith(rp)) and (ap.startswith(rp) or ap.endswith(rp)))

        lost = overlaps and ((altered and not (inframe_ins(False) or inframe_del)) or inv
                             or (bool(rp) and t0 == 1 and not (ap.endswith(rp) or ap.startswith(rp))))
        terms |= {name for name, on in (("frameshift_variant", frameshift), ("inframe_deletion", inframe_del),
                                         ("inframe_insertion", inframe_ins(lost)), ("start_lost", lost)) if on}
    else:  # partly in the 5' UTR: no codons, no peptides
        lost = overlaps and (altered or inv)
        if lost:
            terms.add("start_lost")
        if not (lost or retained) and c_end > n_utr:
            terms.add("coding_sequence_variant")
    if retained:
        terms.add("start_retained_variant")
    if c_start <= n_utr if ref_len else c_end <= n_utr:  # an insertion: 5' flank in the UTR
        terms.add("5_prime_UTR_variant")
    return terms


class Model:
    """One transcript's cDNA, 5' UTR and CDS built from the bundle's exon table and genome, and the
    genomic position of each cDNA base."""

    def __init__(self, bundle, tx: dict):
        exons = bundle.exons.filter(pl.col("transcript_id") == tx["transcript_id"]).sort("start")
        self.chrom, self.strand, self.id = tx["chrom"], tx["strand"], tx["transcript_id"]
        gpos = [p for s, e in zip(exons["start"], exons["end"]) for p in range(s, e + 1)]
        seq = "".join(bundle.fetch(self.chrom, s, e) for s, e in zip(exons["start"], exons["end"]))
        if self.strand == -1:
            gpos, seq = gpos[::-1], revcomp(seq)
        self.gpos, self.cdna = gpos, seq
        first, last = (tx["cds_start"], tx["cds_end"]) if self.strand == 1 else (tx["cds_end"], tx["cds_start"])
        self.n_utr = gpos.index(first)
        self.utr, self.tl = seq[: self.n_utr], seq[self.n_utr: gpos.index(last) + 1]

    def contiguous(self, a: int, b: int) -> bool:
        """cDNA a..b (1-based) lie in one exon."""
        return 1 <= a <= b <= len(self.gpos) and abs(self.gpos[b - 1] - self.gpos[a - 1]) == b - a

    def deletion(self, bundle, a: int, b: int) -> tuple[str, int, str, str]:
        """VCF record deleting cDNA a..b (anchored on the base before it on the genome)."""
        lo, hi = sorted((self.gpos[a - 1], self.gpos[b - 1]))
        ref = bundle.fetch(self.chrom, lo - 1, hi)
        return self.chrom, lo - 1, ref, ref[0]

    def insertion(self, bundle, c: int, seq_t: str) -> tuple[str, int, str, str]:
        """VCF record inserting seq_t (transcript strand) between cDNA c and c + 1."""
        g = self.gpos[c - 1] if self.strand == 1 else self.gpos[c - 1] - 1
        base = bundle.fetch(self.chrom, g, g)
        return self.chrom, g, base, base + (seq_t if self.strand == 1 else revcomp(seq_t))


def shapes(m: Model) -> list[tuple[str, int, int, str]]:
    """(shape, cdna_start, cdna_end, alt) around the start codon at cDNA s..s + 2."""
    s = m.n_utr + 1
    out = [("1-bp deletion in the ATG", c, c, "") for c in (s, s + 1, s + 2)]
    out += [("UTR/CDS boundary deletion", s - k, s + j - 1, "") for k in (1, 2, 3) for j in (1, 2, 3)]
    for u in range(1, 7):  # one copy of a tandem repeat across the ATG: deleted, or duplicated
        for a in range(s - u + 1, s + 3):
            copy = m.cdna[a - 1: a - 1 + u]
            if m.cdna[a - 1 + u: a - 1 + 2 * u] == copy or m.cdna[a - 1 - u: a - 1] == copy:
                out.append(("tandem repeat copy deleted", a, a + u - 1, ""))
            out.append(("tandem repeat copy duplicated", a + u, a + u - 1, copy))
    for c, ins in ((s, "C"), (s, "GGA"), (s + 1, "AAT"), (s + 1, "T"), (s, "TGA"), (s + 1, "ATG")):
        out.append(("insertion in the ATG", c + 1, c, ins))
    return out


@pytest.fixture(scope="module")
def cases(bundle):
    tx = bundle.transcripts.filter(
        pl.col("gene_symbol").is_in(GENES) & pl.col("cds_start").is_not_null()
        & ~pl.col("flags").fill_null("").str.contains("cds_start_NF"))
    out = []
    for row in tx.iter_rows(named=True):
        m = Model(bundle, row)
        if m.n_utr < 8 or not m.contiguous(m.n_utr - 6, m.n_utr + 12):
            continue  # the shapes need UTR and CDS bases in the start codon's exon
        for shape, a, b, alt in shapes(m):
            rec = m.deletion(bundle, a, b) if not alt else m.insertion(bundle, b, alt)
            out.append((m, shape, a, b, alt, rec))
    return out


def test_the_shapes_occur_on_both_strands(cases):
    strands = {(shape, m.strand) for m, shape, *_ in cases}
    for shape in ("1-bp deletion in the ATG", "UTR/CDS boundary deletion", "tandem repeat copy deleted",
                  "tandem repeat copy duplicated", "insertion in the ATG"):
        assert {(shape, 1), (shape, -1)} <= strands, shape
    expected = [vep_start_terms(m.utr, m.tl, a, b, alt) for m, _, a, b, alt, _ in cases]
    # the rule distinguishes the shapes: each outcome the issue names occurs
    assert any({"start_lost", "start_retained_variant"} <= e for e in expected)
    assert any("start_retained_variant" in e and "start_lost" not in e for e in expected)
    assert any("start_lost" in e and "start_retained_variant" not in e and "5_prime_UTR_variant" in e for e in expected)


def test_start_codon_terms_follow_vep_rules(bundle, cases):
    variants = pl.DataFrame([rec for *_, rec in cases], schema=["chrom", "pos", "ref", "alt"], orient="row")
    out = annotate(variants.with_row_index("row"), bundle)
    got = {(r, f): set(c.split(",")) for r, f, c in out.select("row", "Feature", "Consequence").iter_rows()}
    wrong = []
    for i, (m, shape, a, b, alt, rec) in enumerate(cases):
        want = vep_start_terms(m.utr, m.tl, a, b, alt) & set(COMPARED)
        have = got[(i, m.id)] & set(COMPARED)
        if have != want:
            wrong.append(f"{shape} {m.id} ({m.strand:+d}) cDNA {a}-{b} '{alt}' {rec}: VEP rule {sorted(want)}, "
                         f"hcml {sorted(have)}")
    assert not wrong, f"{len(wrong)} of {len(cases)} differ:\n" + "\n".join(wrong[:40])


def test_rule_and_hcml_agree_with_vep_115_on_the_saturation_set(bundle, data_root):
    """The rule as transcribed, and hcml, against Ensembl VEP 115's own output (data/truth) for every
    saturation indel whose cDNA span touches the start codon (+-3 bases) of a transcript above."""
    import gzip

    from hcml.genomics.inputs import read_vcf

    vep: dict[tuple[str, str], set[str]] = {}
    with gzip.open(data_root / "truth" / "saturation.vep115.tsv.gz", "rt") as fh:
        for line in fh:
            if line.startswith("#"):
                continue
            f = line.split("\t")
            vep[(f[0], f[4])] = set(f[5].split(","))
    v = read_vcf(data_root / "truth" / "saturation.vcf.gz", bundle).variants
    indels = v.filter(pl.col("ref").str.len_bytes() != pl.col("alt").str.len_bytes())
    tx = bundle.transcripts.filter(
        pl.col("gene_symbol").is_in(GENES) & pl.col("cds_start").is_not_null()
        & ~pl.col("flags").fill_null("").str.contains("cds_start_NF"))
    models = [Model(bundle, row) for row in tx.iter_rows(named=True)]
    picked, rows = [], []
    for vid, pos, ref, alt in indels.select("variant_id", "pos", "ref", "alt").iter_rows():
        for m in models:
            where = {g: i + 1 for i, g in enumerate(m.gpos[max(m.n_utr - 12, 0): m.n_utr + 12], max(m.n_utr - 12, 0))}
            if len(ref) > len(alt):  # deletion of pos+1 .. pos+len(ref)-1
                ends = [where.get(g) for g in (pos + 1, pos + len(ref) - 1)]
                if None in ends:
                    continue
                c_start, c_end = sorted(ends)
                seq_t = ""
            else:  # insertion between pos and pos + 1
                if pos not in where or pos + 1 not in where:
                    continue
                c_end = min(where[pos], where[pos + 1])
                c_start = c_end + 1
                seq_t = alt[1:] if m.strand == 1 else revcomp(alt[1:])
            if not (c_end >= m.n_utr - 2 and c_start <= m.n_utr + 6) or (vid, m.id) not in vep:
                continue
            picked.append((vid, m, c_start, c_end, seq_t))
            rows.append(("21", pos, ref, alt))
    print(len(picked), "saturation indel x transcript pairs at a start codon")
    assert len(picked) >= 30
    out = annotate(pl.DataFrame(rows, schema=["chrom", "pos", "ref", "alt"], orient="row").with_row_index("row"),
                   bundle)
    got = {(r, f): set(c.split(",")) for r, f, c in out.select("row", "Feature", "Consequence").iter_rows()}
    wrong = []
    for i, (vid, m, a, b, seq_t) in enumerate(picked):
        truth = vep[(vid, m.id)] & set(COMPARED)
        rule = vep_start_terms(m.utr, m.tl, a, b, seq_t) & set(COMPARED)
        have = got[(i, m.id)] & set(COMPARED)
        if not (truth == rule == have):
            wrong.append(f"{vid} {m.id}: VEP 115 {sorted(truth)}, rule {sorted(rule)}, hcml {sorted(have)}")
    assert any("start_retained_variant" in vep[(vid, m.id)] for vid, m, *_ in picked)
    assert not wrong, "\n".join(wrong)
