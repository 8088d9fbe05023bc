"""Reference bundle: built from the real GTF / FASTA / known variants / ClinVar, checked against independent
sources (Ensembl VEP's own v84 cache, the FASTA read by pysam, the raw TSVs)."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import time

import pysam
import pytest

from hcml.genomics.bundle import BundleError, ReferenceBundle, build_bundle
from hcml.genomics.transcript_map import TranscriptIndex, translate


@pytest.fixture(scope="module")
def vep_cache(sources):
    with gzip.open(sources["vep_cache_transcripts"], "rt") as fh:
        return {d["transcript_id"]: d for d in map(json.loads, fh)}


def test_manifest_records_sources(bundle, sources):
    m = bundle.manifest
    assert set(m["sources"]) == {"gtf", "fasta", "known_variants", "clinvar"}
    import hashlib

    assert m["sources"]["gtf"]["sha256"] == hashlib.sha256(sources["gtf"].read_bytes()).hexdigest()
    assert m["sources"]["gtf"]["version"] == "Ensembl 84"
    assert len(m["bundle_sha256"]) == 64 and m["built_at"]
    assert bundle.contigs == {"21": 46709983}


def test_fetch_matches_pysam(bundle, sources):
    fa = pysam.FastaFile(str(sources["fasta"]))
    for start, end in [(25585636, 25585700), (24985581, 24985600), (24985570, 24985590), (26170600, 26170700),
                       (1, 10), (46709980, 46709983)]:
        assert bundle.fetch("21", start, end) == fa.fetch("21", start - 1, end).upper()
    assert bundle.fetch("chr21", 25891796, 25891796) == fa.fetch("21", 25891795, 25891796).upper()
    with pytest.raises(ValueError):
        bundle.fetch("21", 46709980, 46709984)
    with pytest.raises(ValueError):
        bundle.fetch("22", 1, 2)
    assert bundle.contig_name("chr21") == "21" and bundle.contig_name("X") is None


def test_transcripts_and_exons_match_vep_cache(bundle, vep_cache):
    tx = {r["transcript_id"]: r for r in bundle.transcripts.to_dicts()}
    ex = bundle.exons
    shared = [t for t in vep_cache if t in tx]
    assert len(shared) >= 60
    for tid in shared:
        d, r = vep_cache[tid], tx[tid]
        assert (r["start"], r["end"], r["strand"], r["transcript_version"]) == (d["start"], d["end"], d["strand"], d["version"]), tid
        assert r["biotype"] == d["biotype"], tid
        ours = sorted((e["start"], e["end"]) for e in ex.filter(ex["transcript_id"] == tid).to_dicts())
        assert ours == sorted((e[0], e[1]) for e in d["exons"]), tid


def test_canonical_rule_matches_vep_cache(bundle, vep_cache):
    """Canonical is derived (the GTF has no tag); compare where the gene assignment agrees (the cache moved
    MIR155's transcript to a gene of its own in a later release)."""
    tx = {r["transcript_id"]: r for r in bundle.transcripts.to_dicts()}
    compared = 0
    for tid, d in vep_cache.items():
        if tid in tx and tx[tid]["gene_id"] == d["gene_id"]:
            assert tx[tid]["canonical"] == bool(d["is_canonical"]), tid
            compared += 1
    assert compared >= 60
    # one canonical transcript per gene
    counts = bundle.transcripts.filter("canonical").group_by("gene_id").len()
    assert counts["len"].max() == 1 and counts.height == bundle.transcripts["gene_id"].n_unique()


def test_cds_translation_matches_vep_peptides(bundle, vep_cache):
    idx = TranscriptIndex.of(bundle)
    checked = 0
    for tid, d in vep_cache.items():
        if not d["translateable_seq"] or tid not in idx.row_of:
            continue
        t = idx.row_of[tid]
        cds = idx.coding_sequence(t)
        assert cds == d["translateable_seq"], tid
        assert translate(cds).rstrip("*") == d["peptide"], tid
        assert (idx.cdna_cds_start[t], idx.cdna_cds_end[t]) == (int(d["cdna_coding_start"]), int(d["cdna_coding_end"])), tid
        checked += 1
    assert checked >= 25  # every coding transcript of the cache, complete (23) and cds_start_NF ones


def test_known_variants_and_clinvar(bundle):
    kv = bundle.known_variants
    # rs57121988 C/A/T: one row per alt allele with that allele's 1000 Genomes frequency
    r = kv.filter(kv["variant_name"] == "rs57121988").sort("alt").to_dicts()
    assert [(x["ref"], x["alt"], x["AFR_AF"], x["AMR_AF"]) for x in r] == [("C", "A", 0.0045, 0.0), ("C", "T", 0.0582, 0.0029)]
    r = kv.filter(kv["variant_name"] == "rs142513484").to_dicts()[0]
    assert (r["pos"], r["ref"], r["alt"], r["AF"], r["gnomADe_AF"]) == (25585733, "C", "T", 0.001, 0.0003478)
    indel = kv.filter((kv["ref"] == "-") | (kv["alt"] == "-"))
    assert indel.height > 1000  # VEP-style alleles: '-' for the empty side
    cv = bundle.clinvar
    assert cv.height > 100_000
    app = cv.filter((cv["chrom"] == "21") & (cv["symbol"] == "APP"))
    assert app.height >= 27


def test_load_reads_only_the_small_tables(bundle_dir):
    """Cold-start design (timing is in docs, not tests): load maps the sequence and reads the gene-model
    tables; the large variant tables are read on first use."""
    b = ReferenceBundle.load(bundle_dir)
    assert "known_variants" not in b.__dict__ and "clinvar" not in b.__dict__
    assert b.transcripts.height == 103 and b.exons.height > 400
    assert b.known_variants.height > 100_000 and "known_variants" in b.__dict__


def test_missing_sources_fail_clearly(tmp_path, sources):
    with pytest.raises(BundleError, match="gtf file not found"):
        build_bundle(tmp_path / "nope.gtf", sources["fasta"], tmp_path / "b")
    bad = tmp_path / "bad.gtf"
    bad.write_text("this is not a gtf\n")
    with pytest.raises(BundleError, match="bad.gtf"):
        build_bundle(bad, sources["fasta"], tmp_path / "b")
    with pytest.raises(BundleError, match="not a reference bundle"):
        ReferenceBundle.load(tmp_path)


def test_cli_reference_build_errors(tmp_path):
    r = subprocess.run([sys.executable, "-m", "hcml.cli", "reference", "build", "--gtf", str(tmp_path / "x.gtf"),
                        "--out", str(tmp_path / "o")], capture_output=True, text=True)
    assert r.returncode == 2
    assert "x.gtf" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_cli_reference_build_defaults(tmp_path, monkeypatch):
    """`hcml reference build` alone builds the real sources of data/ into $HCML_BUNDLE_DIR."""
    from click.testing import CliRunner

    from hcml.genomics.cli import reference

    monkeypatch.setenv("HCML_BUNDLE_DIR", str(tmp_path / "b"))
    r = CliRunner().invoke(reference, ["build"])
    assert r.exit_code == 0, r.output
    assert "103 transcripts" in r.output and "ClinVar" in r.output
    b = ReferenceBundle.load(tmp_path / "b")
    assert set(b.manifest["sources"]) == {"gtf", "fasta", "known_variants", "clinvar"}
    assert b.known_variants.height > 100_000
