"""Transcript coordinates and HGVS: checked against VEP 115's HGVSc strings and hand-worked examples."""

from __future__ import annotations

import re

import polars as pl
import pytest

from hcml.genomics.compare import read_vep_tab
from hcml.genomics.hgvs import hgvs_genomic, hgvs_protein_change, shift_indel
from hcml.genomics.transcript_map import TranscriptIndex, parse_hgvs_position, revcomp

_SNV = re.compile(r"^(ENST\d+)\.\d+:([cn])\.([-*]?\d+(?:[+-]\d+)?)([ACGT])>([ACGT])$")


@pytest.fixture(scope="module")
def vep_snvs(data_root):
    vep = read_vep_tab(data_root / "truth" / "saturation.vep115.tsv.gz")
    snvs = vep.filter(pl.col("HGVSc").str.contains(">")).select("Uploaded_variation", "Location", "HGVSc").unique()
    return snvs.sort("HGVSc").gather_every(4)  # every 4th keeps each kind of coordinate, in a few seconds


def test_to_genomic_inverts_vep_hgvsc(bundle, vep_snvs):
    """Every VEP HGVSc of an SNV (exonic, intronic, 5'/3' UTR, n.) maps back to the variant's position with
    the genome base / complement that HGVSc names: the inverse mapping HGVS c. input relies on."""
    idx = TranscriptIndex.of(bundle)
    checked = 0
    for uid, loc, hg in vep_snvs.iter_rows():
        m = _SNV.match(hg)
        tid, kind, coord, ref, _alt = m.groups()
        if tid not in idx.row_of:
            continue
        t = idx.row_of[tid]
        if idx.start_nf[t] and "+" not in coord and "-" not in coord[1:]:
            continue  # VEP numbers exonic SNVs of cds_start_NF transcripts with the N padding
        g = idx.to_genomic(tid, coord, kind=kind)
        assert g == int(loc.split(":")[1]), (hg, loc)
        base = bundle.fetch("21", g, g)
        assert (base if idx.strand[t] == 1 else revcomp(base)) == ref, hg
        assert idx.hgvs_position(tid, g) == coord, hg
        checked += 1
    assert checked > 12_000


def test_parse_hgvs_position():
    assert parse_hgvs_position("123+5").offset == 5
    assert parse_hgvs_position("124-2").offset == -2 and parse_hgvs_position("124-2").base == 124
    assert parse_hgvs_position("-12").base == -12
    p = parse_hgvs_position("*34")
    assert p.utr3 and p.base == 34
    for bad in ("0", "abc", "12+?", "", "1_2"):
        with pytest.raises(ValueError):
            parse_hgvs_position(bad)


def test_to_genomic_errors(bundle):
    idx = TranscriptIndex.of(bundle)
    with pytest.raises(KeyError):
        idx.to_genomic("ENST00000000000", "1")
    with pytest.raises(ValueError):
        idx.to_genomic("ENST00000346798", "999999")
    with pytest.raises(ValueError):
        idx.to_genomic("ENST00000567517", "10")  # non-coding: c. not allowed
    # versioned ids resolve too; VEP 115 writes 21:25891784 C>T as ENST00000346798.7:c.2149G>A (data/truth)
    assert idx.to_genomic("ENST00000346798.7", "2149") == 25891784


def test_shift_and_hgvsg(bundle):
    # a homopolymer: find a run of >= 4 identical bases in the region and delete its first base
    seq = bundle.fetch("21", 25600000, 25601000)
    m = re.search(r"(A{4,}|C{4,}|G{4,}|T{4,})", seq)
    run_start = 25600000 + m.start()
    run_end = run_start + len(m.group(0)) - 1
    s, e, r, a = shift_indel(bundle, "21", run_start, run_start, m.group(0)[0], "-", 1)
    assert (s, e, r, a) == (run_end, run_end, m.group(0)[0], "-")
    s, e, r, a = shift_indel(bundle, "21", run_end, run_end, m.group(0)[0], "-", -1)
    assert s == run_start
    assert hgvs_genomic(bundle, "21", run_start, run_start, m.group(0)[0], "-") == f"21:g.{run_end}del"
    # an insertion of the run's base is a duplication of the last base
    assert hgvs_genomic(bundle, "21", run_start + 1, run_start, "-", m.group(0)[0]) == f"21:g.{run_end}dup"
    assert hgvs_genomic(bundle, "21", 25585636, 25585636, "T", "C") == "21:g.25585636T>C"


def test_protein_change_formats():
    ref = "MKLV*"
    assert hgvs_protein_change(ref, "MKLA*") == "p.Val4Ala"
    assert hgvs_protein_change(ref, "MK*") == "p.Leu3Ter"
    assert hgvs_protein_change(ref, "MKV*") == "p.Leu3del"
    assert hgvs_protein_change(ref, "MKLLV*") == "p.Leu3dup"
    assert hgvs_protein_change(ref, "MKLWV*") == "p.Leu3_Val4insTrp"
    assert hgvs_protein_change(ref, "MKLVQQR*") == "p.Ter5GlnextTer3"
    assert hgvs_protein_change(ref, "MKRGS*", frameshift=True) == "p.Leu3ArgfsTer4"
    assert hgvs_protein_change(ref, "LKLV*") == "p.Met1?"
