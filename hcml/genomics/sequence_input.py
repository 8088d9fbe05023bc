"""Raw DNA sequence input (the input of the design hcml replaces): place the read in the reference, call
the SNVs and indels it carries.

1. Seeds: every 16-mer of the bundle's real sequence, 2-bit packed and sorted once per bundle (numpy), is
   looked up for every 16-mer of the read and of its reverse complement; unique hits vote for a diagonal
   (reference position minus read offset), and the best strand and diagonal win.
2. Alignment: edlib (global in the read, free ends in the reference window around the diagonal) gives an
   extended CIGAR; mismatches become SNVs, insertions and deletions become VCF-style indels anchored on the
   base before.  Read ends that only align as noise (best local segment of the alignment, match +1,
   mismatch/gap -3) are clipped and reported as rejects, never called and never dropped.
3. The calls then go through the shared REF check and normalisation like every other input.
"""

from __future__ import annotations

import itertools
import re
from typing import TYPE_CHECKING

import edlib
import numpy as np
import polars as pl

from hcml.genomics.errors import InputError, rejects_frame
from hcml.genomics.normalise import CANDIDATE_SCHEMA, vep_default_ids
from hcml.genomics.transcript_map import revcomp

if TYPE_CHECKING:
    from hcml.genomics.bundle.load import ReferenceBundle

K = 16
MAX_HITS = 8  # a seed with more hits than this is repetitive and does not vote
MIN_LENGTH = 30
MAX_DIVERGENCE = 0.2  # more edits per aligned base than this: not from this reference

_CODE = np.full(256, 255, dtype=np.uint8)
for _i, _b in enumerate(b"ACGT"):
    _CODE[_b] = _i


def _kmers(seq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(packed k-mer, start index) of every k-mer without N, vectorised."""
    codes = _CODE[seq]
    n = len(seq) - K + 1
    if n <= 0:
        return np.zeros(0, np.uint32), np.zeros(0, np.int64)
    bad = codes == 255
    bad_run = np.convolve(bad.astype(np.int32), np.ones(K, np.int32), mode="valid") > 0
    c = np.where(bad, 0, codes).astype(np.uint32)
    packed = np.zeros(n, np.uint32)
    for j in range(K):
        packed = (packed << np.uint32(2)) | c[j : j + n]
    keep = np.flatnonzero(~bad_run)
    return packed[keep], keep.astype(np.int64)


class SeedIndex:
    """Sorted 16-mers of every contig's real sequence (cached on the bundle)."""

    def __init__(self, bundle: ReferenceBundle):
        keys, positions, chroms = [], [], []
        for c, name in enumerate(sorted(bundle.contigs)):
            arr, first = bundle.sequence_array(name)
            k, at = _kmers(arr)
            keys.append(k)
            positions.append(at + first)
            chroms.append(np.full(len(k), c, np.int32))
        self.names = sorted(bundle.contigs)
        order_keys = np.concatenate(keys) if keys else np.zeros(0, np.uint32)
        order = np.argsort(order_keys, kind="stable")
        self.keys = order_keys[order]
        self.pos = np.concatenate(positions)[order]
        self.chrom = np.concatenate(chroms)[order]

    @classmethod
    def of(cls, bundle: ReferenceBundle) -> SeedIndex:
        idx = bundle.__dict__.get("_seed_index")
        if idx is None:
            idx = cls(bundle)
            bundle.__dict__["_seed_index"] = idx
        return idx

    def votes(self, query: str) -> tuple[int, int, int, int]:
        """(votes, chrom index, diagonal) of the best placement of `query`."""
        q = np.frombuffer(query.encode("ascii"), np.uint8)
        k, at = _kmers(q)
        lo = np.searchsorted(self.keys, k, "left")
        hi = np.searchsorted(self.keys, k, "right")
        n_hits = hi - lo
        use = (n_hits > 0) & (n_hits <= MAX_HITS)
        if not use.any():
            return 0, -1, 0, 0
        rep = n_hits[use]
        idx = np.repeat(lo[use], rep) + (np.arange(rep.sum()) - np.repeat(np.cumsum(rep) - rep, rep))
        diag = self.pos[idx] - np.repeat(at[use], rep)
        chrom = self.chrom[idx]
        # bin nearby diagonals (indels shift them a little) and take the densest bin
        key = chrom.astype(np.int64) * (1 << 40) + (diag // 32)
        values, counts = np.unique(key, return_counts=True)
        best = values[np.argmax(counts)]
        sel = key == best
        return int(counts.max()), int(chrom[sel][0]), int(np.median(diag[sel])), len(k)


def best_segment(columns: str) -> tuple[int, int]:
    """First and last alignment column of the best-scoring local segment (match +1, mismatch or gap
    base -3): read ends that only align as noise (adapters, junk) fall outside it and are clipped."""
    score = np.where(np.frombuffer(columns.encode("ascii"), np.uint8) == ord("="), 1, -3)
    best, best_i, best_j, run, run_i = 0, 0, -1, 0, 0
    for j, v in enumerate(score.tolist()):
        if run <= 0:
            run, run_i = v, j
        else:
            run += v
        if run > best:
            best, best_i, best_j = run, run_i, j
    return best_i, best_j


def clean_sequence(text: str) -> tuple[str, str | None]:
    """Sequence letters from plain or FASTA text (header name returned); InputError for anything else."""
    name = None
    parts = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith(">"):
            if name is not None:
                raise InputError("sequence input has more than one FASTA record: submit one sequence at a time")
            name = line[1:].strip() or None
            continue
        parts.append(line)
    seq = re.sub(r"\s+", "", "".join(parts)).upper()
    if not seq:
        raise InputError("empty input: no sequence")
    bad = re.search(r"[^ACGTN]", seq)
    if bad:
        raise InputError(
            f"sequence has a character other than A, C, G, T, N at position {bad.start() + 1}: {bad.group()!r}"
        )
    if len(seq) < MIN_LENGTH:
        raise InputError(
            f"sequence is too short to place in the reference ({len(seq)} bases, need at least {MIN_LENGTH})"
        )
    return seq, name


def sequence_candidates(
    text: str, bundle: ReferenceBundle, name: str | None = None
) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    return candidate_frames(*sequence_rows(text, bundle, name))


def candidate_frames(rows: list[tuple], bad: list[dict]) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    """The vectorised form's candidates (with VEP's default ids), rejects and input count of `sequence_rows`."""
    cands = pl.DataFrame({col: [r[i] for r in rows] for i, col in enumerate(CANDIDATE_SCHEMA)}, schema=CANDIDATE_SCHEMA)
    if cands.height:
        cands = cands.with_columns(vep_default_ids(cands).alias("variant_id"))
    return cands, rejects_frame(bad), cands.height + len(bad)


def candidate_tuples(rows: list[tuple], bad: list[dict]) -> tuple[list[tuple], list[tuple], int]:
    """Row-by-row twin of `candidate_frames` (hcml.small_inputs): CANDIDATE_SCHEMA tuples with VEP's default
    ids (`vep_default_id_rows`, each call its own record), REJECT_SCHEMA tuples, the input count."""
    from hcml.genomics.errors import TEXT_LIMIT
    from hcml.genomics.normalise import vep_default_id_rows

    cands = [
        (c, line, vep_default_id_rows(chrom, pos, ref, [alt])[0], chrom, pos, ref, alt, t)
        for c, line, _, chrom, pos, ref, alt, t in rows
    ]
    rejects = [(b["line"], b["variant_id"], b["field"], b["reason"], b["text"][:TEXT_LIMIT]) for b in bad]
    return cands, rejects, len(cands) + len(rejects)


def sequence_rows(text: str, bundle: ReferenceBundle, name: str | None = None) -> tuple[list[tuple], list[dict]]:
    """The calls of a read as CANDIDATE_SCHEMA tuples without their variant_id (None), and the rejects of
    its clipped ends as REJECT_SCHEMA dicts; both forms start from these."""
    seq, fasta_name = clean_sequence(text)
    index = SeedIndex.of(bundle)
    forward = index.votes(seq)
    reverse = index.votes(revcomp(seq))
    votes, chrom_i, diag, n_kmers = max(forward, reverse)
    if votes < 2:
        raise InputError(
            f"the sequence ({len(seq)} bases) could not be located in the reference bundle's sequence: "
            f"no 16-base seed matched it uniquely (is it from the bundle's region and assembly?)"
        )
    strand = 1 if forward >= reverse else -1
    query = seq if strand == 1 else revcomp(seq)
    chrom = index.names[chrom_i]
    pad = max(50, len(seq) // 10)
    w_start = max(1, diag + 1 - pad)
    w_end = min(bundle.contigs[chrom], diag + len(seq) + pad)
    window = bundle.fetch(chrom, w_start, w_end)
    aln = edlib.align(query, window, mode="HW", task="path", additionalEqualities=[("N", b) for b in "ACGT"])
    if aln["editDistance"] < 0 or aln["editDistance"] > MAX_DIVERGENCE * len(seq):
        raise InputError(
            f"the sequence ({len(seq)} bases) does not align to {chrom}:{w_start}-{w_end} with at most "
            f"{int(MAX_DIVERGENCE * 100)}% differences (edit distance {aln['editDistance']})"
        )
    ref_start = w_start + aln["locations"][0][0]
    columns = "".join(op * int(n) for n, op in re.findall(r"(\d+)([=XID])", aln["cigar"]))
    first, last = best_segment(columns)
    rows, bad = [], []
    r, q = ref_start, 0  # next reference position (1-based), next read index (0-based, aligned strand)
    for op in columns[:first]:  # clipped start: advance without calling
        r += op in "=XD"
        q += op in "=XI"
    clip_start, kept_ref_start = q, r
    for op, run in itertools.groupby(columns[first : last + 1]):
        n = len(list(run))
        if op == "=":
            r, q = r + n, q + n
        elif op == "X":
            for j in range(n):
                if query[q + j] != "N":
                    rows.append((r + j, window[r + j - w_start], query[q + j]))
            r, q = r + n, q + n
        elif op == "I":
            anchor = window[r - 1 - w_start]
            rows.append((r - 1, anchor, anchor + query[q : q + n]))
            q += n
        else:  # D
            anchor = window[r - 1 - w_start]
            rows.append((r - 1, anchor + window[r - w_start : r - w_start + n], anchor))
            r += n
    aligned_end = r - 1
    for a, b in ((0, clip_start), (q, len(query))):
        if b > a:  # read bases (1-based, as submitted) that align nowhere: reported, not called
            lo, hi = (a + 1, b) if strand == 1 else (len(seq) - b + 1, len(seq) - a)
            bad.append(
                {
                    "line": None,
                    "variant_id": None,
                    "field": "sequence",
                    "reason": f"read bases {lo}-{hi} do not align to the reference (clipped end); not called",
                    "text": f"{b - a} unaligned bases",
                }
            )
    if q - clip_start < MIN_LENGTH:
        raise InputError(
            f"the sequence ({len(seq)} bases) does not align to the reference: only {q - clip_start} bases align"
        )
    r = aligned_end + 1
    label = name or fasta_name or "sequence"
    where = f"{label} aligned to {chrom}:{kept_ref_start}-{r - 1} ({'+' if strand == 1 else '-'} strand)"
    return [(i, None, None, chrom, p, x, y, where) for i, (p, x, y) in enumerate(rows)], bad
