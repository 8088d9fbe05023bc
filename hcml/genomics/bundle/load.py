"""A compiled bundle loaded in milliseconds, with the sequence and per-contig lookups the annotator reads."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import polars as pl

from .files import BundleError, normalise_contig


@dataclass
class ReferenceBundle:
    """A compiled bundle. Tables load eagerly except the two large variant tables (on first use)."""

    path: Path
    manifest: dict
    contigs: dict[str, int]
    transcripts: pl.DataFrame
    exons: pl.DataFrame
    cds: pl.DataFrame
    _segments: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = field(repr=False, default_factory=dict)
    _seq: np.ndarray | None = field(repr=False, default=None)

    @classmethod
    def load(cls, path: Path | str) -> ReferenceBundle:
        path = Path(path)
        mf = path / "manifest.json"
        if not mf.is_file():
            raise BundleError(
                f"{path}: not a reference bundle (no manifest.json); build one with `hcml reference build`"
            )
        manifest = json.loads(mf.read_text())
        b = cls.load_tables(
            path,
            {k: int(v) for k, v in manifest["contigs"].items()},
            pl.read_parquet(path / "transcripts.parquet"),
            pl.read_parquet(path / "exons.parquet"),
            pl.read_parquet(path / "cds.parquet"),
            pl.read_parquet(path / "sequence_segments.parquet"),
        )
        b.manifest = manifest
        return b

    @classmethod
    def load_tables(
        cls,
        path: Path,
        contigs: dict[str, int],
        transcripts: pl.DataFrame,
        exons: pl.DataFrame,
        cds: pl.DataFrame,
        segs: pl.DataFrame,
    ) -> ReferenceBundle:
        """A bundle over tables in memory and the sequence.bin in `path` (what `load` reads; the build uses it
        before the manifest exists)."""
        seg_map = {}
        for (chrom,), grp in segs.group_by("chrom"):
            grp = grp.sort("start")
            seg_map[chrom] = (grp["start"].to_numpy(), grp["end"].to_numpy(), grp["offset"].to_numpy())
        seq_file = path / "sequence.bin"
        seq = np.memmap(seq_file, dtype=np.uint8, mode="r") if seq_file.stat().st_size else np.zeros(0, np.uint8)
        return cls(
            path=path,
            manifest={},
            contigs=contigs,
            transcripts=transcripts,
            exons=exons,
            cds=cds,
            _segments=seg_map,
            _seq=seq,
        )

    @cached_property
    def known_variants(self) -> pl.DataFrame:
        """VEP-style alleles: pos/end as VEP (insertions: pos = end + 1), ref/alt trimmed, '-' when empty."""
        return pl.read_parquet(self.path / "known_variants.parquet")

    @cached_property
    def clinvar(self) -> pl.DataFrame:
        return pl.read_parquet(self.path / "clinvar.parquet")

    def contig_name(self, name: str) -> str | None:
        """'chr21' / '21' -> '21' (the bundle's name); None when the bundle has no such contig."""
        if name in self.contigs:
            return name
        n = normalise_contig(name)
        return n if n in self.contigs else None

    def fetch(self, chrom: str, start: int, end: int) -> str:
        """Reference bases chrom:start-end (1-based, inclusive), uppercase; 'N' where the bundle has no
        sequence. Empty string when end < start. Raises ValueError for unknown contigs or past the end."""
        return self.fetch_bytes(chrom, start, end).decode("ascii")

    def fetch_bytes(self, chrom: str, start: int, end: int) -> bytes:
        name = self.contig_name(chrom)
        if name is None:
            raise ValueError(f"unknown contig {chrom!r}")
        length = self.contigs[name]
        if start < 1 or end > length:
            raise ValueError(f"{name}:{start}-{end} is outside the contig (1-{length})")
        if end < start:
            return b""
        out = np.full(end - start + 1, ord("N"), dtype=np.uint8)
        seg = self._segments.get(name)
        if seg is not None:
            s, e, off = seg
            i = int(np.searchsorted(e, start))  # first segment ending at/after start
            while i < len(s) and s[i] <= end:
                a, b = max(start, int(s[i])), min(end, int(e[i]))
                out[a - start : b - start + 1] = self._seq[off[i] + a - s[i] : off[i] + b - s[i] + 1]
                i += 1
        return out.tobytes()

    def sequence_array(self, chrom: str) -> tuple[np.ndarray, int]:
        """(uint8 array, first position) covering every real-sequence segment of a contig (N between) for
        vectorised lookups: base at pos = arr[pos - first]. Cached for the CONTIG_CACHE most recent contigs
        (a genome's contigs copied whole would hold ~3 GB; sorted input visits each once)."""
        cache = self.__dict__.setdefault("_arrays", {})
        name = self.contig_name(chrom)
        if name not in cache:
            _make_room(cache)
            seg = self._segments.get(name)
            if seg is None:
                cache[name] = (np.full(1, ord("N"), np.uint8), 1)
            else:
                lo, hi = int(seg[0][0]), int(seg[1][-1])
                cache[name] = (np.frombuffer(self.fetch_bytes(name, lo, hi), dtype=np.uint8), lo)
        return cache[name]

    def contig_text(self, chrom: str) -> tuple[str, int]:
        """(sequence as str, first position) covering the contig's real sequence, for per-variant scans
        (indel shifting, duplication checks) without a fetch per step. Cached as `sequence_array`."""
        cache = self.__dict__.setdefault("_texts", {})
        name = self.contig_name(chrom)
        if name not in cache:
            _make_room(cache)
            arr, first = self.sequence_array(name)
            cache[name] = (arr.tobytes().decode("ascii"), first)
        return cache[name]


CONTIG_CACHE = 2


def _make_room(cache: dict) -> None:
    """Drop the oldest cached contigs so that one more fits within CONTIG_CACHE."""
    while len(cache) >= CONTIG_CACHE:
        cache.pop(next(iter(cache)))
