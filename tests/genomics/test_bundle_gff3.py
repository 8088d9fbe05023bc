"""A bundle compiled from Ensembl's GFF3 of chr21 carries the same gene models as the one from the GTF
(an independent file of the same release), and its CDS still translate to VEP's peptides."""

from __future__ import annotations

import gzip
import json

import polars as pl
import pytest

from hcml.genomics.bundle import ReferenceBundle, build_bundle
from hcml.genomics.transcript_map import TranscriptIndex, translate


@pytest.fixture(scope="module")
def gff3_bundle(tmp_path_factory, data_root, sources):
    out = tmp_path_factory.mktemp("gff3_bundle")
    build_bundle(data_root / "reference" / "ensembl84_chr21.gff3.gz", sources["fasta"], out)
    return ReferenceBundle.load(out)


def test_same_models_as_gtf(gff3_bundle, bundle):
    cols = ["transcript_id", "transcript_version", "gene_id", "biotype", "start", "end", "strand", "cds_start",
            "cds_end", "canonical", "protein_id"]
    gtf = bundle.transcripts.select(cols).sort("transcript_id")
    gff = gff3_bundle.transcripts.select(cols).filter(pl.col("transcript_id").is_in(gtf["transcript_id"].implode()))
    assert gff.sort("transcript_id").equals(gtf)
    ex_gtf = bundle.exons.sort("transcript_id", "exon_number")
    ex_gff = gff3_bundle.exons.filter(pl.col("transcript_id").is_in(gtf["transcript_id"].implode())).sort(
        "transcript_id", "exon_number")
    assert ex_gff.select(ex_gtf.columns).equals(ex_gtf)
    assert gff3_bundle.transcripts.height > 2000  # the whole chromosome's models


def test_derived_flags_match_gtf_tags(gff3_bundle, bundle):
    """GFF3 has no cds_start_NF/cds_end_NF tags; the derived flags equal the GTF's where there is sequence."""
    j = bundle.transcripts.join(gff3_bundle.transcripts, on="transcript_id", suffix="_gff")
    j = j.filter(pl.col("cds_start").is_between(24_985_581, 26_000_306) & pl.col("cds_end").is_between(24_985_581, 26_171_128))
    assert j.height > 20
    assert j["flags"].eq_missing(j["flags_gff"]).all(), j.filter(~j["flags"].eq_missing(j["flags_gff"]))


def test_gff3_translations(gff3_bundle, sources):
    idx = TranscriptIndex.of(gff3_bundle)
    n = 0
    with gzip.open(sources["vep_cache_transcripts"], "rt") as fh:
        for d in map(json.loads, fh):
            if d["translateable_seq"] and d["transcript_id"] in idx.row_of:
                assert translate(idx.coding_sequence(d["transcript_id"])).rstrip("*") == d["peptide"]
                n += 1
    assert n >= 25
