"""Transcript coordinate model: genomic <-> cDNA / CDS / HGVS coordinates, vectorised over
(transcript, position) pairs, plus spliced cDNA / CDS sequences.

Conventions (Ensembl / HGVS):
- cDNA positions count transcript bases from the 5' end of the first exon (1-based).
- CDS position 1 is the first base of the start codon; for a transcript whose CDS is incomplete at the 5'
  end (cds_start_NF) the CDS is padded with `start_phase` N's, as Ensembl does, so CDS position 1 is a
  virtual base before the first annotated coding base.
- HGVS c. coordinates (numbered from the first annotated coding base, without the N padding, as VEP
  does): `123` (CDS), `-12` (5' UTR, 12 bases before the A of ATG), `*34` (3' UTR,
  34 bases after the stop codon's last base), intronic offsets `123+5` / `124-2` from the nearest exon
  base (a tie goes to `+`); upstream of the transcript `-N`, downstream `*N` (with offsets).
- HGVS n. coordinates (non-coding transcripts): cDNA positions, intronic offsets as above.

Main entry points:
    idx = TranscriptIndex.of(bundle)           # cached per bundle
    m = idx.map_positions(tidx, pos)          # vectorised genomic -> transcript (dict of numpy arrays)
    idx.hgvs_position(tid, genomic_pos)        # "c.123+5" style coordinate text (no prefix)
    idx.to_genomic(tid, "123+5", kind="c")     # HGVS coordinate text -> genomic position (int)
    idx.coding_sequence(tid), idx.cdna_sequence(tid), idx.translate(seq)
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from hcml.genomics.compiled import core

if TYPE_CHECKING:
    from hcml.genomics.bundle.load import ReferenceBundle

# NCBI genetic codes (1 standard, 2 vertebrate mitochondrial) are defined once, in the compiled core
# (rust/hcml_core), which also translates; the codon dicts here serve the vectorised (numpy) lookups.
CODON_TABLES = {
    code: {a + b + c: aa for (a, b, c), aa in zip([(x, y, z) for x in "TCAG" for y in "TCAG" for z in "TCAG"], aas)}
    for code, aas in core.NCBI_CODES.items()
}
CODON_TABLE = CODON_TABLES[1]
STANDARD_CODE, MITOCHONDRIAL_CODE = 1, 2
# translation with a genetic code (incomplete trailing codon dropped, codons with N -> X), and up to and
# including the first stop codon
translate, translate_to_stop = core.translate, core.translate_to_stop


def codon_table_of_contig(chrom: str) -> int:
    """The genetic code of a contig: vertebrate mitochondrial on MT (Ensembl core sets the seq region
    attribute `codon_table` = 2 on MT only), standard elsewhere. Takes bundle names ('MT', not 'chrM')."""
    return MITOCHONDRIAL_CODE if chrom == "MT" else STANDARD_CODE


# HGVS three-letter amino-acid codes ('*' Ter, 'U' Sec, 'X' Xaa) and the reverse complement (ACGTN, either
# case): defined in the compiled core
THREE_LETTER: dict[str, str] = core.THREE_LETTER
revcomp = core.revcomp


def versioned_id(stable_id: str, version) -> str:
    """'ENST00000346798.7' for an HGVS reference sequence; the bare id when the gene model gives no version
    (a GFF3 without `version`, RefSeq / GENCODE ids that carry it already), as VEP prints it."""
    return stable_id if version is None or version == "" else f"{stable_id}.{version}"


_POS_RE = re.compile(r"^(?P<star>\*)?(?P<base>-?\d+)(?:(?P<sign>[+-])(?P<off>\d+|\?))?$")


@dataclass(frozen=True)
class HgvsPosition:
    """A parsed HGVS transcript coordinate: `base` (negative for 5' UTR), `utr3` for `*N`, intronic `offset`."""

    base: int
    offset: int = 0
    utr3: bool = False


def parse_hgvs_position(text: str) -> HgvsPosition:
    """'123' / '-12' / '*34' / '123+5' / '124-2' / '*34+2' / '-12-3' -> HgvsPosition. ValueError otherwise."""
    m = _POS_RE.match(text.strip())
    if not m or m.group("off") == "?":
        raise ValueError(f"not an HGVS position: {text!r}")
    base = int(m.group("base"))
    off = int(m.group("off")) * (1 if m.group("sign") == "+" else -1) if m.group("sign") else 0
    if base == 0:
        raise ValueError(f"not an HGVS position (there is no position 0): {text!r}")
    return HgvsPosition(base=base, offset=off, utr3=bool(m.group("star")))


class TranscriptIndex:
    """Numpy arrays over the bundle's transcripts and exons for vectorised coordinate mapping.

    Transcript index `t` is the row of `self.tx` (the bundle's transcripts table in its order). Exons are
    stored sorted by (t, genomic start) so one `searchsorted` on a composite key finds, for every
    (t, pos) pair, the exon containing pos or the intron it lies in.
    """

    _SHIFT = np.int64(1) << np.int64(32)

    def __init__(self, bundle: ReferenceBundle) -> None:
        self.bundle = bundle
        tx = bundle.transcripts
        self.tx = tx
        self.ids = tx["transcript_id"].to_list()
        self.row_of = {t: i for i, t in enumerate(self.ids)}
        self.id_rank = np.argsort(np.argsort(np.array(self.ids, dtype=object), kind="stable"), kind="stable")
        self.versioned = {
            versioned_id(t, v): i for i, (t, v) in enumerate(zip(self.ids, tx["transcript_version"].to_list()))
        }
        n = tx.height
        self.t_start = tx["start"].to_numpy().astype(np.int64)
        self.t_end = tx["end"].to_numpy().astype(np.int64)
        self.strand = tx["strand"].to_numpy().astype(np.int64)
        self.coding = tx["cds_start"].is_not_null().to_numpy()
        self.cds_g_start = tx["cds_start"].fill_null(0).to_numpy().astype(np.int64)
        self.cds_g_end = tx["cds_end"].fill_null(0).to_numpy().astype(np.int64)
        flags = tx["flags"].fill_null("")
        self.start_nf = flags.str.contains("cds_start_NF").to_numpy()
        self.end_nf = flags.str.contains("cds_end_NF").to_numpy()
        # genetic code per transcript (bundles built before the column existed: all standard)
        self.code = (
            tx["codon_table"].fill_null(STANDARD_CODE).to_numpy().astype(np.int8)
            if "codon_table" in tx.columns
            else np.full(n, STANDARD_CODE, np.int8)
        )
        self.sec_starts = tx["selenocysteine"].to_list() if "selenocysteine" in tx.columns else [None] * n
        self.has_sec = np.array([bool(x) for x in self.sec_starts], bool)

        ex = bundle.exons.join(tx.select("transcript_id").with_row_index("t"), on="transcript_id").sort("t", "start")
        self.ex_t = ex["t"].to_numpy().astype(np.int64)
        self.ex_start = ex["start"].to_numpy().astype(np.int64)
        self.ex_end = ex["end"].to_numpy().astype(np.int64)
        self.ex_rank = ex["exon_number"].to_numpy().astype(np.int64)
        self.ex_key = self.ex_t * self._SHIFT + self.ex_start
        self.ex_lo = np.searchsorted(self.ex_t, np.arange(n), "left")
        self.ex_hi = np.searchsorted(self.ex_t, np.arange(n), "right")  # exclusive
        self.n_exons = self.ex_hi - self.ex_lo
        ex_len = self.ex_end - self.ex_start + 1
        # cDNA coordinate of each exon's genomic start and end
        # (vectorised over all transcripts: cumulative exon lengths within each transcript's block)
        csum = np.cumsum(ex_len)
        block_base = np.where(self.ex_lo > 0, csum[np.maximum(self.ex_lo - 1, 0)], 0)
        block_base = np.where(self.n_exons > 0, block_base, 0)
        self.cdna_len = np.where(self.n_exons > 0, csum[np.maximum(self.ex_hi - 1, 0)] - block_base, 0)
        ex_strand = self.strand[self.ex_t]
        before = csum - ex_len - block_base[self.ex_t]  # bases in exons at lower coordinates
        after = self.cdna_len[self.ex_t] - (before + ex_len)  # bases in exons at higher coordinates
        self.ex_cdna_gs = np.where(ex_strand == 1, before + 1, after + ex_len)
        self.ex_cdna_ge = np.where(ex_strand == 1, before + ex_len, after + 1)
        # coding region in cDNA coordinates (first base of start codon / last base of stop codon)
        self.cdna_cds_start = np.zeros(n, np.int64)
        self.cdna_cds_end = np.zeros(n, np.int64)
        ct = np.flatnonzero(self.coding)
        if len(ct):
            ma = self.map_positions(ct, self.cds_g_start[ct])
            mb = self.map_positions(ct, self.cds_g_end[ct])
            ok = ma["exonic"] & mb["exonic"]
            self.coding[ct[~ok]] = False  # a CDS reaching outside its exons is unusable: treat as non-coding
            fwd = self.strand[ct] == 1
            self.cdna_cds_start[ct] = np.where(fwd, ma["cdna"], mb["cdna"])
            self.cdna_cds_end[ct] = np.where(fwd, mb["cdna"], ma["cdna"])
        # Ensembl start phase of the first coding exon (N padding of the CDS for cds_start_NF transcripts)
        self.start_phase = np.zeros(n, np.int64)
        cds = bundle.cds
        if cds.height:
            first = (
                cds.join(tx.select("transcript_id", "strand").with_row_index("t"), on="transcript_id")
                .sort("t", "start")
                .group_by("t", maintain_order=True)
                .agg(
                    phase=pl.when(pl.col("strand").first() == 1)
                    .then(pl.col("phase").first())
                    .otherwise(pl.col("phase").last())
                )
            )
            for t, ph in zip(first["t"].to_list(), first["phase"].to_list()):
                if self.start_nf[t] and ph is not None:
                    self.start_phase[t] = (3 - int(ph)) % 3
        self._cds_seq: dict[int, str] = {}
        # the padded CDS of every coding transcript, compiled once by `write_coding_sequences` and
        # memory-mapped: (bytes, offset per transcript row, length per row); None for older bundles
        self.stored_cds = _stored_coding_sequences(bundle, tx, self.coding)
        self._cdna_seq: dict[int, str] = {}
        self._utr3_seq: dict[int, str] = {}
        self._ref_prot: dict[int, str] = {}
        self._lists: dict[int, tuple] = {}
        versions = tx["transcript_version"].to_list()
        self.hgvs_prefix = [
            f"{versioned_id(tid, v)}:{'c' if c else 'n'}." for tid, v, c in zip(self.ids, versions, self.coding)
        ]
        self.hgvs_prefix_series = pl.Series(self.hgvs_prefix, dtype=pl.Utf8)
        self.protein_prefix = [
            f"{versioned_id(pid, pv)}:" if pid else f"{versioned_id(tid, v)}:"
            for tid, v, pid, pv in zip(self.ids, versions, tx["protein_id"].to_list(), tx["protein_version"].to_list())
        ]
        self.protein_prefix_series = pl.Series(self.protein_prefix, dtype=pl.Utf8)

    @classmethod
    def of(cls, bundle: ReferenceBundle) -> TranscriptIndex:
        """The index of a bundle, built once and cached on the bundle object."""
        idx = bundle.__dict__.get("_transcript_index")
        if idx is None:
            idx = cls(bundle)
            bundle.__dict__["_transcript_index"] = idx
        return idx

    # ------------------------------------------------------------------------------- lookups
    def index(self, transcript_id: str) -> int:
        """Row of a transcript by id, with or without version ('ENST00000346798' or '.7'). KeyError if absent."""
        if transcript_id in self.row_of:
            return self.row_of[transcript_id]
        if transcript_id in self.versioned:
            return self.versioned[transcript_id]
        raise KeyError(transcript_id)

    # ------------------------------------------------------------------------- vectorised map
    def map_positions(self, t: np.ndarray, pos: np.ndarray) -> dict[str, np.ndarray]:
        """For each (transcript row t, genomic pos) pair:
        exonic (bool), exon (index into the exon arrays of the containing exon, or the exon on the genomic
        left of the intron; -1 when before the first exon), intronic (bool: inside the transcript span but
        not in an exon), cdna (cDNA position of the base if exonic, else 0), and for intronic positions
        `anchor_cdna` (cDNA of the nearest exon base) and `offset` (signed HGVS offset, + towards 3' side
        of the donor), intron_rank (1-based intron number in transcript order, 0 when not intronic),
        exon_rank (exon number in transcript order, 0 when not exonic)."""
        t = np.asarray(t, np.int64)
        pos = np.asarray(pos, np.int64)
        key = t * self._SHIFT + pos
        j = np.searchsorted(self.ex_key, key, "right") - 1
        valid = (j >= self.ex_lo[t]) & (j >= 0)
        jj = np.where(valid, j, 0)
        exonic = valid & (pos <= self.ex_end[jj])
        strand = self.strand[t]
        cdna = np.where(exonic, self.ex_cdna_gs[jj] + strand * (pos - self.ex_start[jj]), 0)
        nxt = np.minimum(jj + 1, len(self.ex_start) - 1)
        intronic = valid & ~exonic & (jj + 1 < self.ex_hi[t])
        d_left = pos - self.ex_end[jj]  # distance from the exon on the genomic left
        d_right = self.ex_start[nxt] - pos  # distance to the exon on the genomic right
        # + strand: left exon is 5' (donor side, '+'); - strand: right exon is 5' (donor side, '+')
        d5 = np.where(strand == 1, d_left, d_right)
        d3 = np.where(strand == 1, d_right, d_left)
        use5 = d5 <= d3
        anchor5 = np.where(strand == 1, self.ex_cdna_ge[jj], self.ex_cdna_gs[nxt])
        anchor3 = np.where(strand == 1, self.ex_cdna_gs[nxt], self.ex_cdna_ge[jj])
        anchor = np.where(intronic, np.where(use5, anchor5, anchor3), 0)
        offset = np.where(intronic, np.where(use5, d5, -d3), 0)
        local = jj - self.ex_lo[t]  # 0-based genomic-order exon index within the transcript
        n_ex = self.n_exons[t]
        exon_rank = np.where(exonic, self.ex_rank[jj], 0)
        intron_rank = np.where(intronic, np.where(strand == 1, local + 1, n_ex - local - 1), 0)
        return {
            "exonic": exonic,
            "exon": np.where(valid, jj, -1),
            "intronic": intronic,
            "cdna": cdna,
            "anchor_cdna": anchor,
            "offset": offset,
            "exon_rank": exon_rank,
            "intron_rank": intron_rank,
            "d5": np.where(intronic, d5, 0),
            "d3": np.where(intronic, d3, 0),
            # cDNA of the last exonic base 5' of an intron and the first one 3' of it (transcript order)
            "prev_cdna": np.where(intronic, anchor5, 0),
            "next_cdna": np.where(intronic, anchor3, 0),
        }

    def cds_of_cdna(self, t: np.ndarray, cdna: np.ndarray) -> np.ndarray:
        """CDS position (1 = A of ATG, N-padding of cds_start_NF counted) of cDNA positions; may be <= 0
        (5' UTR) or past the CDS end (3' UTR)."""
        t = np.asarray(t, np.int64)
        return np.asarray(cdna, np.int64) - self.cdna_cds_start[t] + 1 + self.start_phase[t]

    def cds_length(self, t: int) -> int:
        """Length of the padded CDS (stop codon included when annotated)."""
        return int(self.cdna_cds_end[t] - self.cdna_cds_start[t] + 1 + self.start_phase[t])

    # ----------------------------------------------------------------------------- HGVS text
    def hgvs_coordinate(self, t: int, cdna: int, offset: int = 0) -> str:
        """cDNA position (+ intronic offset) -> 'c.'/'n.' coordinate text (without the prefix)."""
        if not self.coding[t]:
            base = str(cdna)
        else:
            # HGVS c. numbering starts at the first annotated coding base (no cds_start_NF padding)
            cds = int(cdna - self.cdna_cds_start[t] + 1)
            cds_end = int(self.cdna_cds_end[t] - self.cdna_cds_start[t] + 1)
            if cds <= 0:
                base = str(cds - 1)
            elif cds > cds_end:
                base = f"*{cds - cds_end}"
            else:
                base = str(cds)
        if offset:
            base += f"{offset:+d}"
        return base

    def hgvs_position(self, transcript_id: str, pos: int) -> str:
        """Genomic position -> HGVS coordinate text on the transcript ('123+5', '-12', '*34', n.: '57').
        Positions outside the transcript span get upstream '-N' / downstream '*N' coordinates."""
        return self.hgvs_position_at(self.index(transcript_id), pos)

    def map1(self, t: int, pos: int) -> tuple[bool, int, bool, int, int]:
        """Scalar `map_positions` for the per-pair paths: (exonic, cdna, intronic, anchor_cdna, offset)."""
        lists = self._lists.get(t)
        if lists is None:
            lo, hi = int(self.ex_lo[t]), int(self.ex_hi[t])
            lists = self._lists[t] = (
                self.ex_start[lo:hi].tolist(),
                self.ex_end[lo:hi].tolist(),
                self.ex_cdna_gs[lo:hi].tolist(),
                self.ex_cdna_ge[lo:hi].tolist(),
                int(self.strand[t]),
            )
        starts, ends, cgs, cge, strand = lists
        j = bisect_right(starts, pos) - 1
        if j < 0:
            return False, 0, False, 0, 0
        if pos <= ends[j]:
            return True, cgs[j] + strand * (pos - starts[j]), False, 0, 0
        if j + 1 >= len(starts):
            return False, 0, False, 0, 0
        d_left, d_right = pos - ends[j], starts[j + 1] - pos
        if strand == 1:
            return (False, 0, True, cge[j], d_left) if d_left <= d_right else (False, 0, True, cgs[j + 1], -d_right)
        return (False, 0, True, cgs[j + 1], d_right) if d_right <= d_left else (False, 0, True, cge[j], -d_left)

    def hgvs_position_at(self, t: int, pos: int) -> str:
        """`hgvs_position` by transcript row."""
        exonic, cdna, intronic, anchor, offset = self.map1(t, pos)
        if exonic:
            return self.hgvs_coordinate(t, cdna)
        if intronic:
            return self.hgvs_coordinate(t, anchor, offset)
        # outside the transcript: relative to the first / last transcript base
        five = self.t_start[t] if self.strand[t] == 1 else self.t_end[t]
        three = self.t_end[t] if self.strand[t] == 1 else self.t_start[t]
        up = (five - pos) * self.strand[t]
        if up > 0:
            return self.hgvs_coordinate(t, 1, -int(up)) if not self.coding[t] else self.hgvs_coordinate(t, 1 - int(up))
        down = (pos - three) * self.strand[t]
        if not self.coding[t]:
            return self.hgvs_coordinate(t, int(self.cdna_len[t]), int(down))
        return self.hgvs_coordinate(t, int(self.cdna_len[t]) + int(down))

    def cdna_to_genomic(self, t: int, cdna: int) -> int:
        """cDNA position -> genomic position (ValueError outside 1..cDNA length)."""
        if not 1 <= cdna <= self.cdna_len[t]:
            raise ValueError(f"{self.ids[t]}: cDNA position {cdna} is outside the transcript (1-{self.cdna_len[t]})")
        lo, hi = self.ex_lo[t], self.ex_hi[t]
        for i in range(lo, hi):
            a, b = sorted((self.ex_cdna_gs[i], self.ex_cdna_ge[i]))
            if a <= cdna <= b:
                return int(self.ex_start[i] + (cdna - self.ex_cdna_gs[i]) * self.strand[t])
        raise ValueError(f"{self.ids[t]}: cDNA position {cdna} not found")  # pragma: no cover

    def to_genomic(self, transcript_id: str, position: str | HgvsPosition, kind: str = "c") -> int:
        """HGVS coordinate on a transcript -> genomic position.

        kind 'c' (coding transcripts): '123', '-12', '*34', '123+5', '124-2', '*34+2'.
        kind 'n' (cDNA positions; any transcript): '57', '57+3'.
        c. positions count from the first annotated coding base; on a cds_start_NF transcript VEP prints
        exonic substitutions with its N padding added (see docs/annotation.md), which this does not undo.
        Raises KeyError for an unknown transcript, ValueError for a coordinate that does not fit it."""
        t = self.index(transcript_id)
        p = parse_hgvs_position(position) if isinstance(position, str) else position
        if kind == "c":
            if not self.coding[t]:
                raise ValueError(f"{transcript_id} is non-coding: use n. coordinates")
            if p.utr3:
                cdna = int(self.cdna_cds_end[t]) + p.base
            elif p.base < 0:
                cdna = int(self.cdna_cds_start[t]) + p.base
            else:
                cdna = int(self.cdna_cds_start[t]) + p.base - 1
        elif kind == "n":
            if p.utr3 or p.base < 0:
                raise ValueError(f"n. coordinates have no '*' or '-' positions: {position}")
            cdna = p.base
        else:
            raise ValueError(f"unknown coordinate kind {kind!r}")
        g = self.cdna_to_genomic(t, cdna)
        return g + p.offset * int(self.strand[t])

    # ------------------------------------------------------------------------------ sequence
    def cdna_sequence(self, t: int | str) -> str:
        """Spliced transcript sequence, 5'->3' on the transcript strand."""
        t = self.index(t) if isinstance(t, str) else t
        seq = self._cdna_seq.get(t)
        if seq is None:
            chrom = self.tx["chrom"][t]
            parts = [
                self.bundle.fetch(chrom, int(self.ex_start[i]), int(self.ex_end[i]))
                for i in range(self.ex_lo[t], self.ex_hi[t])
            ]
            seq = "".join(parts)
            seq = self._cdna_seq[t] = seq if self.strand[t] == 1 else revcomp(seq)
        return seq

    def utr3_sequence(self, t: int) -> str:
        """cDNA after the CDS (3' UTR), '' for non-coding transcripts (cached)."""
        seq = self._utr3_seq.get(t)
        if seq is None:
            seq = self._utr3_seq[t] = self.cdna_sequence(t)[int(self.cdna_cds_end[t]) :] if self.coding[t] else ""
        return seq

    def selenocysteine_positions(self, t: int) -> list[int]:
        """Protein positions (1-based) of the transcript's selenocysteine codons (GTF `Selenocysteine` rows,
        3 bases from the stored genomic start): Ensembl's translation carries U there (the `_selenocysteine`
        sequence edit of Bio::EnsEMBL::Translation), where the genetic code reads TGA as a stop."""
        starts = self.sec_starts[t]
        if not starts or not self.coding[t]:
            return []
        out = []
        for g in starts:
            mapped = [self.map1(t, int(x)) for x in (g, g + 2)]
            cdna = [m[1] for m in mapped if m[0]]
            if cdna:
                cds = int(self.cds_of_cdna(np.array([t]), np.array([min(cdna)]))[0])
                if cds >= 1:
                    out.append((cds - 1) // 3 + 1)
        return out

    def ref_protein(self, t: int) -> str:
        """Translation of the CDS with the transcript's genetic code, selenocysteines as U, up to and
        including the first stop (cached)."""
        p = self._ref_prot.get(t)
        if p is None:
            p = self.protein(t)
            k = p.find("*")
            p = self._ref_prot[t] = p if k < 0 else p[: k + 1]
        return p

    def coding_sequence(self, t: int | str) -> str:
        """CDS (start_phase N's + start codon .. stop codon), 5'->3'; '' for non-coding transcripts."""
        t = self.index(t) if isinstance(t, str) else t
        if not self.coding[t]:
            return ""
        if t not in self._cds_seq and self.stored_cds is not None:
            seq, off, length = self.stored_cds
            self._cds_seq[t] = seq[off[t] : off[t] + length[t]].tobytes().decode("ascii")
        if t not in self._cds_seq:
            cdna = self.cdna_sequence(t)
            self._cds_seq[t] = "N" * int(self.start_phase[t]) + cdna[self.cdna_cds_start[t] - 1 : self.cdna_cds_end[t]]
        return self._cds_seq[t]

    def protein(self, t: int | str) -> str:
        """Translation of the CDS with the transcript's genetic code (stop as '*', selenocysteine as U)."""
        t = self.index(t) if isinstance(t, str) else t
        p = translate(self.coding_sequence(t), int(self.code[t]))
        for k in self.selenocysteine_positions(t):
            if k <= len(p):
                p = p[: k - 1] + "U" + p[k:]
        return p


CODING_FILE, CODING_TABLE = "coding.bin", "coding.parquet"


def write_coding_sequences(bundle: ReferenceBundle, out) -> None:
    """Compile every coding transcript's padded CDS (`TranscriptIndex.coding_sequence`, the one definition)
    into `coding.bin` + `coding.parquet` (transcript_id, offset, length), so that a loaded bundle maps them
    instead of splicing every transcript from its exons on first use (a genome: ~100,000 CDS, ~150 Mb)."""
    from pathlib import Path

    out = Path(out)
    idx = TranscriptIndex(bundle)
    idx.stored_cds = None
    ids, offsets, lengths, pos = [], [], [], 0
    with open(out / CODING_FILE, "wb") as fh:
        for t in np.flatnonzero(idx.coding).tolist():
            seq = idx.coding_sequence(t).encode("ascii")
            fh.write(seq)
            ids.append(idx.ids[t])
            offsets.append(pos)
            lengths.append(len(seq))
            pos += len(seq)
            idx._cds_seq.clear()
            idx._cdna_seq.clear()
    pl.DataFrame(
        {"transcript_id": ids, "offset": offsets, "length": lengths},
        schema={"transcript_id": pl.Utf8, "offset": pl.Int64, "length": pl.Int64},
    ).write_parquet(out / CODING_TABLE)


def _stored_coding_sequences(bundle: ReferenceBundle, tx: pl.DataFrame, coding: np.ndarray):
    """(memory-mapped bytes, offset and length per transcript row) of a bundle's coding.bin, or None."""
    path = getattr(bundle, "path", None)
    if path is None or not (path / CODING_TABLE).is_file() or not (path / CODING_FILE).is_file():
        return None
    table = pl.read_parquet(path / CODING_TABLE)
    rows = tx.select("transcript_id").with_row_index("t").join(table, on="transcript_id", how="left")
    rows = rows.sort("t")
    if not np.array_equal(rows["offset"].is_not_null().to_numpy(), coding):
        return None  # not this bundle's own table: splice from the exons instead
    size = (path / CODING_FILE).stat().st_size
    seq = np.memmap(path / CODING_FILE, dtype=np.uint8, mode="r") if size else np.zeros(1, np.uint8)
    return seq, rows["offset"].fill_null(0).to_numpy(), rows["length"].fill_null(0).to_numpy()
