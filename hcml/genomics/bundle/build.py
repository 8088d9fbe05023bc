"""Source files compiled into a bundle directory with its manifest (sources, hashes, versions)."""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import warnings
from pathlib import Path

import numpy as np
import polars as pl

from .feature_lines import BundleWarning
from .files import BUNDLE_FORMAT, GNOMADE_POPS, POPULATIONS_1KG, BundleError, _guess_version, _sha256
from .gene_models import _derive_nf_flags, _gene_models
from .gff3 import _is_gff3
from .known import _compile_clinvar, _compile_known_variants
from .load import ReferenceBundle
from .sequence import PRIMARY_CONTIGS, _compile_sequence


def build_bundle(
    gtf: Path,
    fasta: Path,
    out: Path,
    known_variants: Path | None = None,
    clinvar: Path | None = None,
    contigs: str = "all",
) -> Path:
    """Compile the sources into `out` (created; existing bundle files are replaced). Returns `out`.
    `contigs`: 'all', or 'primary' to leave out unplaced / alt contigs and the transcripts on them (their
    count per contig goes to the manifest)."""
    if contigs not in ("all", "primary"):
        raise BundleError(f"contigs must be 'all' or 'primary', not {contigs!r}")
    sources = {"gtf": gtf, "fasta": fasta, "known_variants": known_variants, "clinvar": clinvar}
    for kind, p in sources.items():
        if p is not None and not Path(p).is_file():
            raise BundleError(f"{kind} file not found: {p}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    fasta = Path(fasta)
    tr, exons, cds, skipped = _gene_models(Path(gtf))
    left_out = {}
    if contigs != "all":
        keep = pl.col("chrom").is_in(PRIMARY_CONTIGS)
        left_out = dict(tr.filter(~keep).group_by("chrom").len().sort("chrom").iter_rows())
        tr = tr.filter(keep)
        ids = tr["transcript_id"].implode()
        exons, cds = exons.filter(pl.col("transcript_id").is_in(ids)), cds.filter(pl.col("transcript_id").is_in(ids))
    if skipped:
        shown = "; ".join(f"{s['transcript_id']} (line {s['line']}: {s['reason']})" for s in skipped[:5])
        more = f"; {len(skipped) - 5} more, listed in manifest.json" if len(skipped) > 5 else ""
        warnings.warn(BundleWarning(f"{gtf}: {len(skipped)} transcript(s) left out: {shown}{more}"), stacklevel=2)
    contig_lengths, segs = _compile_sequence(fasta, out, contigs)
    unknown = set(tr["chrom"].unique()) - set(contig_lengths)
    if unknown:
        raise BundleError(f"{gtf}: contigs {sorted(unknown)} are not in the FASTA {fasta}")
    if _is_gff3(Path(gtf)):
        seq_file = out / "sequence.bin"
        seq = np.memmap(seq_file, dtype=np.uint8, mode="r") if seq_file.stat().st_size else np.zeros(1, np.uint8)
        tr = _derive_nf_flags(tr, cds, segs, seq)
    tr.write_parquet(out / "transcripts.parquet")
    exons.write_parquet(out / "exons.parquet")
    cds.write_parquet(out / "cds.parquet")
    segs.write_parquet(out / "sequence_segments.parquet")
    kv = _compile_known_variants(Path(known_variants)) if known_variants else _empty_known()
    kv.write_parquet(out / "known_variants.parquet")
    cv = _compile_clinvar(Path(clinvar)) if clinvar else _empty_clinvar()
    cv.write_parquet(out / "clinvar.parquet")

    # the annotator's allele-keyed lookup (known variants + ClinVar), precomputed for fast cold starts
    from hcml.genomics.annotate import LOOKUP_FILE, variant_lookup

    stub = ReferenceBundle(path=out, manifest={}, contigs=contig_lengths, transcripts=tr, exons=exons, cds=cds)
    stub.__dict__["known_variants"], stub.__dict__["clinvar"] = kv, cv
    (out / LOOKUP_FILE).unlink(missing_ok=True)
    variant_lookup(stub).write_parquet(out / LOOKUP_FILE)
    from hcml.genomics.transcript_map import CODING_FILE, CODING_TABLE, write_coding_sequences

    for name in (CODING_FILE, CODING_TABLE):
        (out / name).unlink(missing_ok=True)
    write_coding_sequences(ReferenceBundle.load_tables(out, contig_lengths, tr, exons, cds, segs), out)
    files = [
        "transcripts.parquet",
        "exons.parquet",
        "cds.parquet",
        "sequence_segments.parquet",
        "sequence.bin",
        "known_variants.parquet",
        "clinvar.parquet",
        LOOKUP_FILE,
        CODING_FILE,
        CODING_TABLE,
    ]
    bundle_hash = hashlib.sha256()
    for f in files:
        bundle_hash.update(f.encode() + b"\0" + _sha256(out / f).encode() + b"\n")
    try:
        from importlib.metadata import version

        hcml_version = version("hcml")
    except Exception:
        hcml_version = "0+unknown"
    manifest = {
        "format": BUNDLE_FORMAT,
        "sources": {
            k: {"path": str(Path(p).resolve()), "sha256": _sha256(Path(p)), "version": _guess_version(k, Path(p))}
            for k, p in sources.items()
            if p is not None
        },
        "built_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "hcml_version": hcml_version,
        "bundle_sha256": bundle_hash.hexdigest(),
        "contigs": contig_lengths,
        "counts": {
            "transcripts": tr.height,
            "genes": tr["gene_id"].n_unique(),
            "exons": exons.height,
            "known_variants": kv.height,
            "clinvar": cv.height,
            "sequence_bases": int((segs["end"] - segs["start"] + 1).sum() or 0),
            "skipped_transcripts": len(skipped),
        },
        "skipped_transcripts": skipped,
        "transcripts_on_contigs_left_out": left_out,
        "files": files,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return out


def _empty_known() -> pl.DataFrame:
    cols = {
        "chrom": pl.Utf8,
        "pos": pl.Int64,
        "end": pl.Int64,
        "ref": pl.Utf8,
        "alt": pl.Utf8,
        "variant_name": pl.Utf8,
        "CLIN_SIG": pl.Utf8,
        "AF": pl.Float64,
    }
    cols.update({f"{p}_AF": pl.Float64 for p in POPULATIONS_1KG})
    cols["gnomADe_AF"] = pl.Float64
    cols.update({f"gnomADe_{p}_AF": pl.Float64 for p in GNOMADE_POPS})
    return pl.DataFrame(schema=cols)


def _empty_clinvar() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "chrom": pl.Utf8,
            "pos": pl.Int64,
            "ref": pl.Utf8,
            "alt": pl.Utf8,
            "clinical_significance": pl.Utf8,
            "review_status": pl.Utf8,
            "hgvs_c": pl.Utf8,
            "hgvs_p": pl.Utf8,
            "symbol": pl.Utf8,
        }
    )
