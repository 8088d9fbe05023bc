"""The bundle's compiled coding sequences (coding.bin, memory-mapped at load so that a genome's ~100,000
CDS are not spliced from their exons on first use) are the CDS spliced from the exons, for every coding
transcript of the real region bundle and of the real whole-chr21 GFF3 bundle."""

from __future__ import annotations

import numpy as np

from hcml.genomics.bundle import ReferenceBundle, build_bundle
from hcml.genomics.transcript_map import TranscriptIndex


def _stored_equals_spliced(bundle) -> int:
    stored = TranscriptIndex(bundle)
    assert stored.stored_cds is not None
    spliced = TranscriptIndex(bundle)
    spliced.stored_cds = None
    coding = np.flatnonzero(stored.coding).tolist()
    for t in coding:
        assert stored.coding_sequence(t) == spliced.coding_sequence(t), stored.ids[t]
    return len(coding)


def test_region_bundle(bundle):
    assert _stored_equals_spliced(bundle) >= 30


def test_whole_chr21_gff3(tmp_path, data_root, sources):
    out = build_bundle(data_root / "reference" / "ensembl84_chr21.gff3.gz", sources["fasta"], tmp_path / "b")
    assert _stored_equals_spliced(ReferenceBundle.load(out)) > 500


def test_older_bundle_without_the_file(tmp_path, data_root, sources):
    """A bundle built before coding.bin existed still annotates: the CDS are spliced from the exons."""
    out = build_bundle(data_root / "reference" / "ensembl84_chr21_region.gtf.gz", sources["fasta"], tmp_path / "b")
    (out / "coding.bin").unlink()
    idx = TranscriptIndex(ReferenceBundle.load(out))
    assert idx.stored_cds is None and idx.coding_sequence("ENST00000346798").startswith("ATG")
