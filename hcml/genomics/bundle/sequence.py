"""The genome's non-N segments compiled into one raw-bytes file and its segment table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from .files import BundleError, normalise_contig

PRIMARY_CONTIGS = [str(i) for i in range(1, 23)] + ["X", "Y", "MT"]


def _keep_contig(name: str, contigs: str) -> bool:
    """`contigs` 'all' keeps every contig; 'primary' keeps the human primary assembly's chromosomes (1-22, X,
    Y, MT, by bundle name: 'chr1' / 'chrM' read as '1' / 'MT') and leaves out unplaced, unlocalised and alt
    contigs (KI270728.1, GL000009.2, chr1_KI270706v1_random, HLA-..., ...)."""
    return contigs == "all" or name in PRIMARY_CONTIGS


def _compile_sequence(fasta: Path, out: Path, contigs: str = "all") -> tuple[dict[str, int], pl.DataFrame]:
    import pysam

    try:
        fa = pysam.FastaFile(str(fasta))
    except Exception as exc:
        raise BundleError(f"{fasta}: cannot open as an indexed FASTA ({exc})") from exc
    kept: dict[str, int] = {}
    segs = []
    offset = 0
    with fa, open(out / "sequence.bin", "wb") as bin_out:
        for ref, length in zip(fa.references, fa.lengths):
            name = normalise_contig(ref)
            if not _keep_contig(name, contigs):
                continue
            kept[name] = int(length)
            arr = np.frombuffer(fa.fetch(ref).upper().encode("ascii"), dtype=np.uint8)
            real = arr != ord("N")
            if not real.any():
                continue
            edges = np.flatnonzero(np.diff(np.concatenate(([False], real, [False])).astype(np.int8)))
            for s0, e0 in zip(edges[0::2], edges[1::2]):  # 0-based half-open runs of non-N
                chunk = arr[s0:e0].tobytes()
                bin_out.write(chunk)
                segs.append({"chrom": name, "start": int(s0) + 1, "end": int(e0), "offset": offset})
                offset += len(chunk)
    seg_tab = pl.DataFrame(segs, schema={"chrom": pl.Utf8, "start": pl.Int64, "end": pl.Int64, "offset": pl.Int64})
    return kept, seg_tab
