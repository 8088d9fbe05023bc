"""A VCF file (plain or bgzipped, or stdin) cut into chunks of records, so that `hcml annotate` reads,
annotates and writes in memory bounded by the chunk instead of the file.

Each chunk is a VCF of its own (the file's header lines, then a run of its record lines) that the one VCF
reader (`hcml.genomics.inputs.read_vcf`) parses as it would the whole file; `line_offset` puts its line
numbers back in the file's.  Every check the reader makes is per record (or on the header, which every
chunk carries), so the chunks' results put together equal the whole file's, whatever the chunk size.
Inputs this cannot cut (not a VCF, no records, a symbolic ALT, unreadable) are handed back whole
(`VcfStream.read_all`), so the reader raises exactly the errors it raises today.  A gzip stream that breaks
part-way is still a whole-input error, raised when the reader gets there (earlier chunks are written).
"""

from __future__ import annotations

import gzip
import io
import os
import sys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from hcml.genomics.errors import InputError

if TYPE_CHECKING:
    from hcml.genomics.bundle.load import ReferenceBundle

CHUNK_RECORDS = 50_000  # record lines per chunk (hcml annotate's peak RSS: 320-420 MB, docs/annotation.md)
READ_BYTES = 1 << 22
SNIFF_CHARS = 5000  # what `hcml.genomics.inputs.sniff` looks at


def chunk_records() -> int:
    """HCML_ANNOTATE_CHUNK_RECORDS (default 50,000), read at call time: record lines per chunk."""
    raw = os.environ.get("HCML_ANNOTATE_CHUNK_RECORDS", "").strip()
    try:
        value = int(raw) if raw else CHUNK_RECORDS
    except ValueError:
        raise InputError(f"HCML_ANNOTATE_CHUNK_RECORDS must be a positive integer, got {raw!r}") from None
    if value < 1:
        raise InputError(f"HCML_ANNOTATE_CHUNK_RECORDS must be a positive integer, got {raw!r}")
    return value


@dataclass
class VcfChunk:
    header: bytes  # the file's header lines, through '#CHROM...\n'
    body: bytes  # this chunk's record lines
    line_offset: int  # record lines of the file before this chunk (add to the chunk's line numbers)

    @property
    def data(self) -> bytes:
        return self.header + self.body


DISTINCT_SHARE = 0.7  # below this share of distinct record lines, a chunk parses each distinct line once


def read_chunk(chunk: VcfChunk, bundle: ReferenceBundle):
    """The chunk as `read_vcf` reads it (line numbers of the whole file, rows from 0), each distinct record
    line parsed once when many repeat: a line's candidates, rejects and record are a function of its text,
    so repeated lines (a cohort's sites) take copies.  `genotypes` is left out (the writers do not read it).
    """
    import numpy as np
    import polars as pl

    from hcml.genomics.inputs import ParsedInput, read_vcf

    lines = chunk.body.split(b"\n")
    first = {line: k for k, line in enumerate(dict.fromkeys(lines))}  # distinct lines, in order of appearance
    if len(first) > DISTINCT_SHARE * len(lines):
        parsed = read_vcf(chunk.data, bundle)
        parsed.genotypes = None
        return _shift_lines(parsed, chunk.line_offset)
    parsed = read_vcf(chunk.header + b"\n".join(first), bundle)
    n_header = chunk.header.count(b"\n")
    mapping = pl.DataFrame(
        {
            "line": np.arange(len(lines), dtype=np.int64) + (n_header + 1 + chunk.line_offset),
            "_d": np.fromiter(map(first.__getitem__, lines), np.int64, len(lines)) + (n_header + 1),
        }
    )

    def expand(frame: pl.DataFrame) -> pl.DataFrame:
        joined = mapping.join(frame.rename({"line": "_d"}), on="_d", how="inner", maintain_order="left_right")
        return joined.select(frame.columns)

    variants = expand(parsed.variants).with_columns(pl.int_range(pl.len(), dtype=pl.UInt32).alias("row"))
    rejects = expand(parsed.rejects)
    records = expand(parsed.records) if parsed.records is not None else None
    return ParsedInput(
        variants, rejects, variants.height + rejects.height, None, parsed.samples, parsed.header, parsed.kind, records
    )


def _shift_lines(parsed, lines: int):
    import polars as pl

    if lines:
        parsed.variants = parsed.variants.with_columns(pl.col("line") + lines)
        parsed.rejects = parsed.rejects.with_columns(pl.col("line") + lines)
        if parsed.records is not None:
            parsed.records = parsed.records.with_columns(pl.col("line") + lines)
    return parsed


class _Prefixed:
    """A binary reader that first returns `head`, then reads on from `rest` (stdin after a peek)."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self.head, self.rest = head, rest

    def read(self, n: int = -1) -> bytes:
        if self.head:
            if n is None or n < 0:
                out, self.head = self.head + self.rest.read(), b""
                return out
            out, self.head = self.head[:n], self.head[n:]
            return out
        return self.rest.read(n)


class VcfStream:
    """The decompressed bytes of a VCF input, read block by block; `header_end` and the first block are read
    on opening.  `chunks()` is None when the input is not a VCF this can cut."""

    def __init__(self, opener) -> None:
        self._opener = opener  # () -> a fresh binary reader of the input (it is read twice: see `chunks`)
        self._raw = None
        self._start()

    def _start(self) -> None:
        self.close()
        self._raw = self._opener()
        first = self._raw.read(READ_BYTES)
        self._gz = first[:2] == b"\x1f\x8b"
        self._fh = gzip.GzipFile(fileobj=_Prefixed(first, self._raw)) if self._gz else _Prefixed(first, self._raw)
        self._buffer = b""
        self._eof = False
        self.header_end = self._find_header()  # bytes of the header lines (through '#CHROM...\n'), or None

    @classmethod
    def open(cls, source: str | Path) -> VcfStream | None:
        """The input at `source` ('-' for stdin, read into memory), or None when it is not a readable file
        (the whole-input reader then reports why)."""
        if source == "-":
            data = sys.stdin.buffer.read()
            return cls(lambda: io.BytesIO(data))
        path = Path(source)
        if not path.is_file():
            return None
        return cls(lambda: path.open("rb"))

    def close(self) -> None:
        if self._raw is not None:
            self._raw.close()
            self._raw = None

    def _read(self) -> bytes:
        if self._eof:
            return b""
        try:
            block = self._fh.read(READ_BYTES)
        except (OSError, EOFError, zlib.error) as exc:
            raise InputError(f"input is gzip-compressed but cannot be decompressed: {exc}") from exc
        if not block:
            self._eof = True
        return block

    def _find_header(self) -> int | None:
        """End of the '#' lines through '#CHROM' (as `hcml.genomics.vcf.split_header` reads them), or None
        when a line before it does not start with '#'."""
        start = 0
        while True:
            end = self._buffer.find(b"\n", start)
            if end < 0:
                block = self._read()
                if not block:
                    return None  # no '#CHROM' line before the end: not cut (the reader says why)
                self._buffer += block
                continue
            line = self._buffer[start:end]
            if not line.startswith(b"#"):
                return None
            if line.startswith(b"#CHROM"):
                return end + 1
            start = end + 1

    def sniff_text(self) -> str:
        """The input's beginning as `hcml.genomics.inputs.sniff` sees it."""
        while len(self._buffer) < 4 * SNIFF_CHARS and not self._eof:
            self._buffer += self._read()
        return self._buffer.decode("utf-8", errors="replace")

    def read_all(self) -> bytes:
        """Everything (decompressed), for the whole-input reader."""
        parts = [self._buffer]
        while block := self._read():
            parts.append(block)
        self._buffer = b""
        return b"".join(parts)

    def chunks(self, records: int | None = None) -> Iterator[VcfChunk] | None:
        """Chunks of `records` record lines (blank lines count as lines, chunks of only blank lines are
        skipped); None when there is no header to cut at, no record at all, or a '<' in the records: a
        symbolic (structural) ALT anywhere gives the whole input's annotations their overlap columns, so
        such an input is read whole."""
        records = records or chunk_records()
        if self.header_end is None:
            return None
        body = self._buffer[self.header_end :]
        seen_record = bool(body.strip())
        while b"<" not in body:
            body = self._read()
            if not body:
                break
            seen_record = seen_record or bool(body.strip())
        if body or not seen_record:
            self._start()  # read again from the start: the whole-input reader gets everything
            return None
        self._start()
        header, body = self._buffer[: self.header_end], self._buffer[self.header_end :]
        self._buffer = b""
        return self._cut(header, body, records)

    def _cut(self, header: bytes, body: bytes, records: int) -> Iterator[VcfChunk]:
        pieces: list[bytes] = []
        have = 0  # complete lines in `pieces`
        done = 0  # lines before `pieces`
        block = body
        while True:
            start = 0
            while True:
                # the end of the line that completes this chunk, if it is in this block
                end = _nth_newline(block, start, records - have)
                if end < 0:
                    break
                pieces.append(block[start:end])
                data = b"".join(pieces)
                if data.strip():
                    yield VcfChunk(header, data, done)
                done += records
                pieces, have, start = [], 0, end
            rest = block[start:]
            pieces.append(rest)
            have += rest.count(b"\n")
            block = self._read()
            if not block:
                break
        data = b"".join(pieces)
        if data.strip():
            yield VcfChunk(header, data, done)


def _nth_newline(block: bytes, start: int, n: int) -> int:
    """Index just past the n-th newline of block[start:], or -1 when it has fewer."""
    if block.count(b"\n", start) < n:
        return -1
    # skip ahead by spans that hold at most the newlines still wanted, then step line by line
    pos = start
    while n > 64:
        span = block[pos : pos + n]  # n bytes hold at most n newlines
        k = span.count(b"\n")
        if k == 0:
            pos += len(span)
            continue
        pos += len(span)
        n -= k
    for _ in range(n):
        pos = block.index(b"\n", pos) + 1
    return pos
