"""Symbolic structural variants (<DEL>, <DUP>, <INS>, <INV>, <CNV>) on the real bundle transcripts, against
VEP 115's rules as read in its source and written down again here, row by row over the bundle's own
transcript and exon tables (no TranscriptIndex, no hcml.genomics.structural code):

- ensembl-io BaseVCF4.pm: start = POS + 1, end = INFO END, else start + |SVLEN| - 1;
- ensembl-vep Parser.pm get_SO_term: the SO class of SVTYPE or of the ALT list;
- ensembl-variation VariationEffect.pm / Config.pm / BaseVariationFeatureOverlapAllele.pm: which terms apply
  to an SV (variant_feature_class BaseVariationFeature), their include pre-predicates, the SV branches of the
  predicates, tier 1 (ablation / amplification) suppressing the rest;
- ensembl-vep OutputFactory.pm: Allele = SO class, Location chr:start-end, OverlapBP / OverlapPC.
"""

from __future__ import annotations

import polars as pl
import pytest

from hcml.genomics.annotate import annotate
from hcml.genomics.consequences import SEVERITY_RANK
from hcml.genomics.inputs import read_vcf
from hcml.genomics.structural import so_class

HEADER = ["##fileformat=VCFv4.2", "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"]
FLANK = 5000


def _vcf(bundle, records) -> str:
    """records: (pos, alt, info[, id]); REF is the genome's base at POS."""
    lines = []
    for rec in records:
        pos, alt, info = rec[:3]
        vid = rec[3] if len(rec) > 3 else "."
        lines.append(f"21\t{pos}\t{vid}\t{bundle.fetch('21', pos, pos)}\t{alt}\t.\t.\t{info}")
    return "\n".join(HEADER + lines) + "\n"


# ----------------------------------------------------------------------- VEP's rules, written out again
class _Tx:
    def __init__(self, row: dict, exons: list[tuple[int, int, int]]):
        self.id, self.strand = row["transcript_id"], row["strand"]
        self.start, self.end = row["start"], row["end"]
        self.crs, self.cre = row["cds_start"], row["cds_end"]
        self.biotype = row["biotype"] or ""
        self.start_nf = "cds_start_NF" in (row["flags"] or "")
        self.exons = sorted(exons)  # (start, end, exon_number), genomic order

    def introns(self):
        ex = self.exons
        return [(ex[k][1] + 1, ex[k + 1][0] - 1, min(ex[k][2], ex[k + 1][2])) for k in range(len(ex) - 1)]

    def start_codon_bases(self) -> list[int]:
        """Genomic positions of the first three CDS bases (transcript order)."""
        bases = []
        order = self.exons if self.strand == 1 else self.exons[::-1]
        for s, e, _ in order:
            rng = range(max(s, self.crs), min(e, self.cre) + 1)
            bases += list(rng) if self.strand == 1 else list(reversed(rng))
            if len(bases) >= 3:
                break
        return bases[:3]


def _ov(a, b, c, d):
    return b >= c and a <= d


def _classes(cls: str) -> dict[str, bool]:
    tandem = "tandem_duplication" in cls
    gain = ("duplication" in cls) or "gain" in cls
    deletion = "deletion" in cls or "loss" in cls
    return {"deletion": deletion, "gain": gain, "insertion": gain or "insertion" in cls, "tandem": tandem,
            "decrease": "deletion" in cls, "increase": "insertion" in cls or "duplication" in cls}


def _exonic(tx: _Tx, pos: int) -> bool:
    return any(s <= pos <= e for s, e, _ in tx.exons)


def expected_row(s: int, e: int, cls: str, tx: _Tx) -> dict | None:
    """VEP's consequences of SV start s..end e of class `cls` on transcript `tx` (None: not within 5 kb)."""
    c = _classes(cls)
    ins = s > e
    lo, hi = min(s, e), max(s, e)
    ts, te = tx.start, tx.end
    within = _ov(s, e, ts, te)
    before = not within and e >= ts - FLANK and e < ts
    after = not within and s <= te + FLANK and s > te
    if not (within or before or after):
        return None
    fwd = tx.strand == 1
    terms = set()
    if not within:
        terms.add("upstream_gene_variant" if (before if fwd else after) else "downstream_gene_variant")
    ex_hit = [n for a, b, n in tx.exons if b >= lo and a <= hi]
    in_hit = [n for a, b, n in tx.introns() if b >= lo and a <= hi]
    coding_tx = tx.crs is not None
    complete_overlap = s <= ts and e >= te
    complete_within = s >= ts and e <= te
    if within:
        if any(_ov(s, e, a + 2, b - 2) or (ins and (s == a + 2 or e == b - 2)) for a, b, _ in tx.introns()):
            terms.add("intron_variant")
        if tx.biotype == "nonsense_mediated_decay":
            terms.add("NMD_transcript_variant")
        if not coding_tx:
            terms.add("non_coding_transcript_exon_variant" if ex_hit else "non_coding_transcript_variant")
        else:
            before_cds = (ins and s == tx.crs) or _ov(s, e, ts, tx.crs - 1)
            after_cds = (ins and e == tx.cre) or _ov(s, e, tx.cre + 1, te)
            if ex_hit and (before_cds if fwd else after_cds):
                terms.add("5_prime_UTR_variant")
            if ex_hit and (after_cds if fwd else before_cds):
                terms.add("3_prime_UTR_variant")
            coding = bool(ex_hit) and _ov(lo, hi, tx.crs, tx.cre)
            if coding:
                one_exon = any(a <= s and b >= e for a, b, _ in tx.exons)
                length = e - s + 1
                fs = c["deletion"] and one_exon and length % 3 != 0
                inframe = c["deletion"] and one_exon and s >= tx.crs and e <= tx.cre and length % 3 == 0
                if fs:
                    terms.add("frameshift_variant")
                if inframe:
                    terms.add("inframe_deletion")
                stop = (tx.cre - 2, tx.cre) if fwd else (tx.crs, tx.crs + 2)
                start = (tx.crs, tx.crs + 2) if fwd else (tx.cre - 2, tx.cre)
                if c["deletion"] and _ov(stop[0], stop[1], s, e):
                    terms.add("stop_lost")
                over_start = (not tx.start_nf and _exonic(tx, lo) and _exonic(tx, hi)
                              and any(lo <= b <= hi for b in tx.start_codon_bases()))
                if over_start and _ov(start[0], start[1], s, e):
                    terms.add("start_lost")
                if over_start and (c["increase"] or c["decrease"]):
                    terms.add("start_retained_variant")
                cds_hit = any(_ov(lo, hi, max(a, tx.crs), min(b, tx.cre)) for a, b, _ in tx.exons)
                if cds_hit and not (fs or inframe):
                    terms.add("coding_sequence_variant")
    partial = within and not complete_overlap and (e > te or s < ts)
    if c["increase"] and complete_within and (c["gain"] or c["insertion"]):
        terms.add("feature_elongation")
    if c["decrease"] and (partial or complete_within) and c["deletion"]:
        terms.add("feature_truncation")
    tier1 = set()
    if complete_overlap and c["decrease"] and c["deletion"]:
        tier1.add("transcript_ablation")
    if complete_overlap and c["increase"] and c["gain"]:
        tier1.add("transcript_amplification")
    terms = tier1 or terms or {"sequence_variant"}
    bp = min(e, te) - max(s, ts) + 1
    n_ex = len(tx.exons)
    return {
        "Consequence": ",".join(sorted(terms, key=SEVERITY_RANK.__getitem__)),
        "OverlapBP": bp if bp > 0 else None,
        "OverlapPC": f"{100 * bp / (te - ts + 1):.2f}" if bp > 0 else None,
        "EXON": (f"{min(ex_hit)}/{n_ex}" if min(ex_hit) == max(ex_hit) else f"{min(ex_hit)}-{max(ex_hit)}/{n_ex}")
        if within and ex_hit else None,
        "INTRON": (f"{min(in_hit)}/{n_ex - 1}" if min(in_hit) == max(in_hit) else f"{min(in_hit)}-{max(in_hit)}/{n_ex - 1}")
        if within and in_hit else None,
        "DISTANCE": None if within else (ts - hi if hi < ts else lo - te),
    }


@pytest.fixture(scope="module")
def txs(bundle):
    exons = bundle.exons.group_by("transcript_id").agg(pl.struct("start", "end", "exon_number"))
    ex = {r["transcript_id"]: [(x["start"], x["end"], x["exon_number"]) for x in r["start"]] for r in exons.to_dicts()}
    return {r["transcript_id"]: _Tx(r, ex[r["transcript_id"]]) for r in bundle.transcripts.to_dicts()}


def _battery(txs) -> list[tuple[int, str, str]]:
    """SVs placed on real transcripts of both strands: covering, partial, in one exon, over the start and stop
    codons, inside introns, up- and downstream, of every class."""
    recs = []
    for tid in ("ENST00000312957", "ENST00000299340", "ENST00000284987", "ENST00000346798"):
        tx = txs[tid]
        ts, te = tx.start, tx.end
        ex = tx.exons
        mid = ex[len(ex) // 2]
        intron = tx.introns()[len(ex) // 2 - 1]
        codon = tx.start_codon_bases()
        stop = tx.cre if tx.strand == 1 else tx.crs
        recs += [
            (ts - 11, "<DEL>", f"END={te + 10}"),  # covers the transcript
            (ts - 101, "<DEL>", f"END={ex[0][1] + 50}"),  # over its 5' end (genomic), into intron 1
            (mid[0] + 5, "<DEL>", f"END={mid[0] + 8}"),  # 3 bases inside one exon
            (mid[0] + 5, "<DEL>", f"SVLEN=-4"),  # 4 bases inside one exon
            (stop - 6, "<DEL>", f"END={stop + 5}"),  # over the stop codon
            (min(codon) - 3, "<DEL>", f"END={max(codon) + 2}"),  # over the start codon
            (ts - 11, "<DUP>", f"END={te + 10}"),
            (intron[0] + 20, "<DUP>", f"END={intron[1] - 20}"),  # inside the transcript
            (intron[0] + 20, "<DUP:TANDEM>", f"SVLEN={intron[1] - intron[0] - 40}"),
            ((intron[0] + intron[1]) // 2, "<INS>", f"END={(intron[0] + intron[1]) // 2};SVLEN=300"),
            ((intron[0] + intron[1]) // 2, "<INS:ME:ALU>", f"END={(intron[0] + intron[1]) // 2}"),
            (intron[0] - 30, "<INV>", f"END={intron[1] + 30}"),
            (ts - 11, "<CNV>", f"END={te + 10}"),
            (mid[0] - 40, "<CN0>", f"END={mid[1] + 40}"),
            (mid[0] - 40, "<DEL:ME:L1>", f"END={mid[1] + 40}"),
            (ts - 2000, "<DEL>", f"END={ts - 1000}"),  # 1 kb before its genomic start
            (te + 1000, "<DUP>", f"END={te + 3000}"),  # 1 kb after its genomic end
            (mid[0] - 40, "<DEL>", "SVTYPE=DEL;END=" + str(mid[1] + 40)),
        ]
    recs.append((26360000, "<DEL>", "END=26365000"))  # intergenic: > 5 kb from every transcript
    return recs


def test_battery_matches_vep_rules(bundle, txs):
    recs = _battery(txs)
    parsed = read_vcf(_vcf(bundle, recs), bundle)
    assert parsed.rejects.height == 0, parsed.rejects.to_dicts()
    assert parsed.variants.height == len(recs)
    out = annotate(parsed.variants, bundle)
    got = {(r["row"], r["Feature"]): r for r in out.to_dicts()}
    want = {}
    for row, (pos, alt, info) in enumerate(recs):
        fields = dict(kv.split("=") for kv in info.split(";"))
        s = pos + 1
        e = int(fields["END"]) if "END" in fields else s + abs(int(fields["SVLEN"])) - 1
        cls = so_class(fields.get("SVTYPE") or alt)
        for tx in txs.values():
            exp = expected_row(s, e, cls, tx)
            if exp is not None:
                want[(row, tx.id)] = {**exp, "Allele": cls,
                                      "Location": f"21:{min(s, e)}-{max(s, e)}" if s != e else f"21:{s}"}
        if not any(k[0] == row for k in want):
            want[(row, None)] = {"Consequence": "intergenic_variant", "OverlapBP": None, "OverlapPC": None,
                                 "EXON": None, "INTRON": None, "DISTANCE": None, "Allele": cls,
                                 "Location": f"21:{s}-{e}"}
    assert set(got) == set(want)
    diffs = [(k, f, got[k][f], w[f]) for k, w in want.items() for f in w if got[k][f] != w[f]]
    assert not diffs, diffs[:20]
    # the most severe consequence per variant is the lowest-ranked term over its rows
    for row in range(len(recs)):
        terms = [t for k, w in want.items() if k[0] == row for t in w["Consequence"].split(",")]
        best = min(terms, key=SEVERITY_RANK.__getitem__)
        assert set(out.filter(pl.col("row") == row)["most_severe_consequence"]) == {best}


def test_whole_transcript_deletion_is_ablation_on_both_strands(bundle, txs):
    for tid in ("ENST00000312957", "ENST00000299340"):  # JAM2 (+), CYYR1 (-)
        tx = txs[tid]
        out = annotate(read_vcf(_vcf(bundle, [(tx.start - 11, "<DEL>", f"END={tx.end + 10}", "sv1")]), bundle).variants,
                       bundle)
        r = out.filter(pl.col("Feature") == tid).to_dicts()[0]
        assert r["Consequence"] == "transcript_ablation" and r["IMPACT"] == "HIGH"
        assert r["OverlapBP"] == tx.end - tx.start + 1 and r["OverlapPC"] == "100.00"
        assert r["Allele"] == "deletion" and r["Uploaded_variation"] == "sv1"
        assert r["Location"] == f"21:{tx.start - 10}-{tx.end + 10}"
        assert r["HGVSc"] is None and r["HGVSp"] is None and r["CDS_position"] is None


def test_partial_deletion_truncates_with_location_terms(bundle, txs):
    tx = txs["ENST00000312957"]  # JAM2, + strand: from 100 bp upstream into intron 1
    end = tx.exons[0][1] + 50
    out = annotate(read_vcf(_vcf(bundle, [(tx.start - 101, "<DEL>", f"END={end}")]), bundle).variants, bundle)
    r = out.filter(pl.col("Feature") == tx.id).to_dicts()[0]
    terms = r["Consequence"].split(",")
    assert "feature_truncation" in terms and "5_prime_UTR_variant" in terms and "intron_variant" in terms
    bp = end - tx.start + 1
    assert r["OverlapBP"] == bp and r["OverlapPC"] == f"{100 * bp / (tx.end - tx.start + 1):.2f}"
    assert r["EXON"] == f"1/{len(tx.exons)}" and r["INTRON"] == f"1/{len(tx.exons) - 1}"


def test_insertion_location_and_default_name(bundle, txs):
    intron = txs["ENST00000312957"].introns()[2]
    pos = (intron[0] + intron[1]) // 2
    parsed = read_vcf(_vcf(bundle, [(pos, "<INS>", f"END={pos};SVLEN=300")]), bundle)
    out = annotate(parsed.variants, bundle)
    r = out.filter(pl.col("Feature") == "ENST00000312957").to_dicts()[0]
    assert r["Location"] == f"21:{pos}-{pos + 1}" and r["Allele"] == "insertion"
    assert r["Uploaded_variation"] == f"21_{pos + 1}_<INS>"  # VEP: chr_start_allele-string
    assert r["Consequence"] == "feature_elongation,intron_variant" and r["OverlapBP"] is None


def test_so_classes_from_vep_get_so_term():
    table = {
        "<DEL>": "deletion", "DEL": "deletion", "<DUP>": "duplication", "<INS>": "insertion",
        "<INV>": "inversion", "<CNV>": "copy_number_variation", "<DUP:TANDEM>": "tandem_duplication",
        "<CNV:TR>": "tandem_duplication", "<DEL:ME:ALU>": "Alu_deletion", "<INS:ME:L1>": "LINE1_insertion",
        "<INS:ME:SVA>": "SVA_insertion", "<INS:ME>": "mobile_element_insertion", "<INS:ME:XYZ>": "mobile_element_insertion",
        "<CN0>": "deletion", "<CN2>": "duplication", "<CN3>": "copy_number_variation",
        "<CN0>/<CN2>/<CN3>": "copy_number_variation", "<BND>": "chromosome_breakpoint",
        "<DEL>/<DUP>": None, "<FOO>": None, "<*>": None, "del": None,
    }
    assert {k: so_class(k) for k in table} == table


def test_bad_records_are_rejected_with_the_field(bundle, monkeypatch):
    monkeypatch.setenv("HCML_MAX_SV_SIZE", "50000")
    pos = 25700000
    records = [
        (pos, "<DEL>", "."),  # no END, no SVLEN
        (pos, "<DEL>", "END=25699990"),  # END before POS
        (pos, "<DEL>", f"END={pos + 1}"),  # deletion looks incomplete (start = end)
        (pos, "<DEL>", "END=12x"),
        (pos, "<DUP>", "SVLEN=abc"),
        (pos, "<FOO>", f"END={pos + 10}"),
        (pos, "<BND>", f"END={pos + 10}"),
        (pos, "<DEL>", f"SVTYPE=BND;END={pos + 10}"),
        (pos, "<DEL>", f"END={pos + 60000}"),  # over HCML_MAX_SV_SIZE
        (46_709_950, "<DEL>", "END=46709990"),  # past the contig end (46,709,983)
        (pos, f"{bundle.fetch('21', pos, pos)}[21:{pos + 500}[", "SVTYPE=BND"),  # breakend notation
        (pos, "<DEL>", f"END={pos + 100}"),  # good
        (pos, "<INV>", f"END={pos}"),  # a point inversion: not before POS, kept
    ]
    parsed = read_vcf(_vcf(bundle, records), bundle)
    assert parsed.n_input == len(records) == parsed.variants.height + parsed.rejects.height
    rej = {r["line"] - len(HEADER): r for r in parsed.rejects.to_dicts()}
    assert set(rej) == set(range(1, 12))
    expect = {
        1: ("INFO", "needs INFO END or SVLEN"), 2: ("INFO", "END 25699990 is before POS 25700000"),
        3: ("INFO", "deletion looks incomplete"), 4: ("INFO", "END '12x' is not an integer"),
        5: ("INFO", "SVLEN 'abc' is not an integer"), 6: ("ALT", "no SO term for type '<FOO>'"),
        7: ("ALT", "breakend"), 8: ("ALT", "breakend"), 9: ("INFO", "longer than the maximum 50000"),
        10: ("POS", "past the end of contig 21"), 11: ("ALT", "symbolic or structural allele"),
    }
    for line, (field, words) in expect.items():
        assert rej[line]["field"] == field and words in rej[line]["reason"], rej[line]
    out = annotate(parsed.variants, bundle)
    assert set(out["row"]) == {0, 1}


def test_mixed_input_keeps_sequence_variants_unchanged(bundle, txs):
    """SNVs and indels of an input with SVs annotate exactly as without them."""
    snv = "21\t25891784\trs1\tC\tT\t.\t.\t."
    tx = txs["ENST00000312957"]
    sv = f"21\t{tx.start - 11}\tsv\t{bundle.fetch('21', tx.start - 11, tx.start - 11)}\t<DEL>\t.\t.\tEND={tx.end + 10}"
    alone = annotate(read_vcf("\n".join(HEADER + [snv]) + "\n", bundle).variants, bundle)
    mixed = annotate(read_vcf("\n".join(HEADER + [sv, snv]) + "\n", bundle).variants, bundle)
    assert mixed.filter(pl.col("row") == 0)["Allele"].unique().to_list() == ["deletion"]
    assert mixed.filter(pl.col("row") == 1).drop("row", "OverlapBP", "OverlapPC").equals(alone.drop("row"))


def _sv_and_snv(bundle, txs):
    tx = txs["ENST00000299340"]  # CYYR1, - strand
    sv = f"21\t{tx.start - 11}\tsv\t{bundle.fetch('21', tx.start - 11, tx.start - 11)}\t<DEL>\t.\t.\tEND={tx.end + 10}"
    return read_vcf("\n".join(HEADER + [sv, "21\t25891784\trs1\tC\tT\t.\t.\t."]) + "\n", bundle), tx


def test_writers_show_overlap_fields_only_for_structural_input(bundle, txs, tmp_path):
    import json

    from hcml.genomics.outputs import write_json, write_parquet, write_vcf, write_vep

    parsed, tx = _sv_and_snv(bundle, txs)
    out = annotate(parsed.variants, bundle)
    write_vep(out, tmp_path / "sv.tsv")
    lines = (tmp_path / "sv.tsv").read_text().splitlines()
    cols = next(x for x in lines if x.startswith("#Uploaded")).lstrip("#").split("\t")
    assert "OverlapBP" in cols and "OverlapPC" in cols
    body = [dict(zip(cols, x.split("\t"))) for x in lines if not x.startswith("#")]
    abl = next(r for r in body if r["Feature"] == tx.id)
    assert (abl["Allele"], abl["Consequence"], abl["OverlapBP"], abl["OverlapPC"]) == (
        "deletion", "transcript_ablation", str(tx.end - tx.start + 1), "100.00")
    assert abl["Location"] == f"21:{tx.start - 10}-{tx.end + 10}" and abl["HGVSc"] == "-"
    snv = next(r for r in body if r["Uploaded_variation"] == "rs1" and r["Feature"] == "ENST00000346798")
    assert snv["OverlapBP"] == "-" and snv["Consequence"] == "missense_variant"

    write_vcf(parsed, out, tmp_path / "sv.vcf")
    vcf = (tmp_path / "sv.vcf").read_text().splitlines()
    fmt = next(x for x in vcf if x.startswith("##INFO=<ID=CSQ")).split("Format: ")[1].rstrip('">').split("|")
    assert fmt[-2:] == ["OverlapBP", "OverlapPC"]
    rec = next(x for x in vcf if "\tsv\t" in x)
    entries = [dict(zip(fmt, e.split("|"))) for e in rec.split("CSQ=")[1].split(",")]
    assert {"Feature": tx.id, "Consequence": "transcript_ablation", "OverlapPC": "100.00"}.items() <= next(
        e for e in entries if e["Feature"] == tx.id).items()

    write_json(out, tmp_path / "sv.json", parsed)
    doc = {d["id"]: d for d in json.loads((tmp_path / "sv.json").read_text())}
    assert (doc["sv"]["start"], doc["sv"]["end"], doc["sv"]["allele_string"]) == (tx.start - 10, tx.end + 10, "<DEL>")
    tc = next(c for c in doc["sv"]["transcript_consequences"] if c["transcript_id"] == tx.id)
    assert tc["bp_overlap"] == tx.end - tx.start + 1 and tc["percentage_overlap"] == 100.0
    assert "bp_overlap" not in json.dumps(doc["rs1"])

    write_parquet(out, tmp_path / "sv.parquet")
    back = pl.read_parquet(tmp_path / "sv.parquet")
    assert back.schema["OverlapBP"] == pl.Int64 and back.filter(pl.col("Feature") == tx.id)["OverlapPC"].item() == "100.00"

    plain = annotate(read_vcf("\n".join(HEADER + ["21\t25891784\trs1\tC\tT\t.\t.\t."]) + "\n", bundle).variants, bundle)
    write_vep(plain, tmp_path / "plain.tsv")
    assert "OverlapBP" not in (tmp_path / "plain.tsv").read_text()


def test_summary_and_features_take_structural_variants(bundle, txs):
    from hcml.genomics.annotate import summarise
    from hcml.ml.features import features_from_summary

    parsed, tx = _sv_and_snv(bundle, txs)
    summary = summarise(annotate(parsed.variants, bundle))
    sv = summary.filter(pl.col("variant_id") == "sv").to_dicts()[0]
    assert sv["most_severe_consequence"] == "transcript_ablation" and sv["impact"] == "HIGH"
    features = features_from_summary(summary)
    assert features.height == 2


def test_cli_batches_keep_svs_of_one_position_apart(bundle, tmp_path):
    """Two unnamed <DEL> at one POS differ only by END: batching must not merge them."""
    from hcml.genomics.annotate_cli import annotate_in_batches

    pos = 25700000
    parsed = read_vcf(_vcf(bundle, [(pos, "<DEL>", f"END={pos + 100}"), (pos, "<DEL>", f"END={pos + 90000}")]), bundle)
    assert parsed.variants["variant_id"].n_unique() == 1
    whole = annotate(parsed.variants, bundle)
    batched = pl.concat(list(annotate_in_batches(parsed.variants, bundle)))
    assert batched.equals(whole)
    assert whole.filter(pl.col("row") == 0)["Location"][0] != whole.filter(pl.col("row") == 1)["Location"][0]


def test_cli_every_format_with_structural_records(bundle, bundle_dir, txs, tmp_path):
    """`hcml annotate` end to end on a VCF mixing SVs, a bad SV and an SNV: every format is written and
    readable (pysam for the VCF, the REST schema for JSON)."""
    import copy
    import json

    import jsonschema
    import pysam
    from click.testing import CliRunner

    from hcml.cli import main
    from tests.genomics.test_outputs import REST_VEP_SCHEMA

    tx = txs["ENST00000284987"]  # ADAMTS5, - strand
    text = _vcf(bundle, [(tx.start - 11, "<DEL>", f"END={tx.end + 10}", "del1"),
                         (tx.exons[2][0] - 40, "<DUP>", f"SVLEN=200", "dup1"),
                         (tx.exons[2][0] - 40, "<DEL>", ".", "bad1")]).rstrip("\n")
    vcf = tmp_path / "sv.vcf"
    text = text.replace(HEADER[0], HEADER[0] + "\n##contig=<ID=21,length=46709983>", 1)
    vcf.write_text(text + "\n21\t25891784\trs1\tC\tT\t.\t.\t.\n")
    for fmt in ("vep", "vcf", "json", "parquet"):
        out = tmp_path / f"out.{fmt}"
        result = CliRunner().invoke(main, ["annotate", str(vcf), "--bundle", str(bundle_dir), "--format", fmt,
                                           "--output", str(out)], catch_exceptions=False)
        assert result.exit_code == 0, result.stderr
        assert "4 in = 3 annotated + 1 rejected" in result.stderr
    with pysam.VariantFile(str(tmp_path / "out.vcf")) as f:
        fmt_fields = f.header.info["CSQ"].description.split("Format: ")[1].split("|")
        recs = {r.id: r for r in f}
    assert fmt_fields[-2:] == ["OverlapBP", "OverlapPC"]
    csq = [dict(zip(fmt_fields, e.split("|"))) for e in recs["del1"].info["CSQ"]]
    assert next(e for e in csq if e["Feature"] == tx.id)["Consequence"] == "transcript_ablation"
    assert "CSQ" not in recs["bad1"].info  # rejected records are written back unchanged
    doc = json.loads((tmp_path / "out.json").read_text())
    # the REST shape, with VEP's SV allele string (the ALT, e.g. '<DUP>') where a sequence allele string would be
    schema = copy.deepcopy(REST_VEP_SCHEMA)
    schema["items"]["properties"]["allele_string"]["pattern"] = r"^([ACGTN-]+(/[ACGTN-]+)+|<[^>]+>(/<[^>]+>)*)$"
    # VEP's OutputFactory/JSON.pm renames OverlapBP / OverlapPC to these (numbers)
    schema["items"]["properties"]["transcript_consequences"]["items"]["properties"].update(
        bp_overlap={"type": "integer", "minimum": 1}, percentage_overlap={"type": "number", "minimum": 0, "maximum": 100})
    jsonschema.validate(doc, schema)
    assert {d["id"] for d in doc} == {"del1", "dup1", "rs1"}
    tab = pl.read_parquet(tmp_path / "out.parquet")
    assert tab.filter(pl.col("Uploaded_variation") == "dup1")["Allele"].unique().to_list() == ["duplication"]
