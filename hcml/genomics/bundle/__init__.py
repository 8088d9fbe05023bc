"""The reference bundle: gene models, genome sequence, known variants and ClinVar compiled once from the
standard files a lab has (GTF + bgzipped FASTA + VEP-cache known variants + ClinVar TSV) into Parquet
tables, a raw-bytes sequence file and a manifest, so that loading it costs milliseconds.

Layout of a bundle directory:
    manifest.json            sources (path, sha256, version), built_at, hcml_version, bundle_sha256, contigs
    transcripts.parquet      one row per transcript (see `ReferenceBundle.transcripts`)
    exons.parquet            transcript_id, exon_number (transcript order), start, end
    cds.parquet              transcript_id, start, end, phase (GTF CDS rows; stop codons folded in)
    sequence.bin             the non-N segments of every contig, concatenated (uppercase ASCII)
    sequence_segments.parquet  chrom, start, end (1-based inclusive), offset into sequence.bin
    known_variants.parquet   VEP-style alleles (trimmed, '-' for empty) with 1000G / gnomAD AFs, CLIN_SIG
    clinvar.parquet          ClinVar on GRCh38 (VCF-style alleles as given by ClinVar)

Modules: `files` (format constants, BundleError, source-file helpers), `feature_lines` (GTF/GFF3 lines in chunks),
`gtf`, `gff3`, `gene_models` (transcripts, exons, CDS as VEP uses them), `sequence`, `known` (known variants,
ClinVar), `build` (`build_bundle`), `load` (`ReferenceBundle`).
"""

from .build import build_bundle
from .feature_lines import FEATURE_CHUNK_LINES, BundleWarning
from .files import BUNDLE_FORMAT, GNOMADE_POPS, POPULATIONS_1KG, BundleError, _guess_version, normalise_contig
from .load import ReferenceBundle
from .sequence import PRIMARY_CONTIGS

__all__ = [
    "BUNDLE_FORMAT",
    "FEATURE_CHUNK_LINES",
    "GNOMADE_POPS",
    "POPULATIONS_1KG",
    "PRIMARY_CONTIGS",
    "BundleError",
    "BundleWarning",
    "ReferenceBundle",
    "build_bundle",
    "normalise_contig",
    "_guess_version",  # the source version the Dagster source assets report
]
