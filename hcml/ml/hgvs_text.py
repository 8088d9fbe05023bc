"""Reading HGVS c./n. and p. text into plain values: the text end of the feature code.

One function, `read_hgvs`, reads one variant's pair of strings (ClinVar's RefSeq `NM_:c.` / `NP_:p.` or the
annotator's Ensembl `ENST:c.` / `ENSP:p.`) into a tuple of numbers, flags and short strings, and
`read_columns` turns many of them into numpy columns. Every rule that decides a feature from these values
lives in `hcml.ml.features` (numpy, the same code for one variant and for a million); nothing here decides
a class. Patterns follow the HGVS nomenclature (varnomen.hgvs.org: coding/non-coding DNA positions with
intronic offsets and UTR prefixes, the protein 3-letter code, `fs`, `ext`, `del`/`ins`/`dup`/`delins`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np

from hcml.ml.aminoacids import THREE_TO_ONE

_MISSING_TEXT = frozenset({"-", "", "."})  # VEP's / ClinVar's spelling of "no value"

_C_MATCH = re.compile(
    r"(?:[^:]*:)?([cn])\.(\*|-)?(\d+)(?:([+-])(\d+))?"  # kind, start prefix/base/offset
    r"(?:_(\*|-)?(\d+)(?:([+-])(\d+))?)?"  # optional range end
    r"(.*)\Z",  # change: A>G, del[seq], dup[seq], ins seq, delins seq, inv...
    re.ASCII,
).match
_P_PREFIX_SUB = re.compile(r"^(?:[^:]*:)?p\.").sub  # accession and "p." before the protein change
_P_MATCH = re.compile(r"([A-Z][a-z]{2}|\*)(\d+)(?:_([A-Z][a-z]{2}|\*)(\d+))?(.*)\Z", re.ASCII).match
_ACCESSION_MATCH = re.compile(r"([^:.]+)(?:\.\d+)?:").match  # NP_000475.1: -> NP_000475
_SNV_MATCH = re.compile(r"[ACGTN]>[ACGTN]\Z").match
_DELINS_MATCH = re.compile(r"del[ACGTN]*ins").match
_DEL_SEQ_MATCH = re.compile(r"del([ACGTN]+)").match
_INS_SEQ_SEARCH = re.compile(r"ins([ACGTN]+)").search
_DUP_SEQ_MATCH = re.compile(r"dup([ACGTN]+)").match
_P_INDEL_MATCH = re.compile(r"(?:del|ins|dup|delins)").match
_P_ALT_MATCH = re.compile(r"([A-Z][a-z]{2}|\*)\Z").match

# The fields of `read_hgvs`' tuple, in order. Every value is a number (NaN: absent) so that many rows become
# one float64 matrix at once: flags are 0/1, text of a few known spellings a code below.
FIELDS = (
    "has_c",
    "has_p",
    "c_kind",
    "c_prefix",
    "c_start",
    "c_off_sign",
    "c_off",
    "c_end_prefix",
    "c_end",
    "c_end_off_sign",
    "c_end_off",
    "snv",
    "delins",
    "is_del",
    "is_ins",
    "is_dup",
    "del_seq_len",
    "ins_seq_len",
    "dup_seq_len",
    "p_eq",
    "p_ref3",
    "p_pos",
    "p_fs",
    "p_ext",
    "p_indel",
    "p_alt3",
    "p_syn",
    "p_rest_has_ter",
)
KIND = {None: 0.0, "c": 1.0, "n": 2.0}
PREFIX = {None: 0.0, "-": 1.0, "*": 2.0}
SIGN = {None: 0.0, "+": 1.0, "-": 2.0}
# 3-letter residue -> code (NaN: none); names outside the table get the next free code (at most 26**3)
RESIDUE_CODE: dict[str, float] = {name: float(i) for i, name in enumerate(THREE_TO_ONE)}
RESIDUE_NAME: list[str] = list(THREE_TO_ONE)
_NAN = float("nan")


def residue_code(name: str | None) -> float:
    if name is None:
        return _NAN
    code = RESIDUE_CODE.get(name)
    if code is None:
        code = RESIDUE_CODE[name] = float(len(RESIDUE_NAME))
        RESIDUE_NAME.append(name)
    return code


def clean(value: str | None) -> str | None:
    """None for VEP's '-' / empty / '.', surrounding white space dropped, '%3D' decoded (p.Gln668%3D)."""
    if value is None:
        return None
    value = value.strip()
    return None if value in _MISSING_TEXT else value.replace("%3D", "=")


_MAX_DIGITS = 15  # longer numbers are no real position (and would not stay exact in a float64)


def _int(digits: str | None) -> float:
    return _NAN if digits is None or len(digits) > _MAX_DIGITS else float(digits)


def _len(m: re.Match | None) -> float:
    return _NAN if m is None else float(len(m.group(1)))


_NO_C = (0.0, 0.0, _NAN, 0.0, _NAN, 0.0, _NAN, 0.0, _NAN) + (0.0,) * 5 + (_NAN,) * 3
_NO_P = (0.0, _NAN, _NAN, 0.0, 0.0, 0.0, _NAN, 0.0, 0.0)


def read_hgvs(hgvs_c: str | None, hgvs_p: str | None) -> tuple[tuple[float, ...], str | None]:
    """One variant's c./n. and p. strings -> (the values named by FIELDS, the protein accession without its
    version, e.g. NP_000475 or ENSP00000284981, None when the p. notation names none)."""
    hc, hp = clean(hgvs_c), clean(hgvs_p)
    c = _read_c(hc) if hc is not None else _NO_C
    if hp is None:
        return (float(hc is not None), 0.0, *c, *_NO_P), None
    accession = _ACCESSION_MATCH(hp)
    return (float(hc is not None), 1.0, *c, *_read_p(hp)), None if accession is None else accession.group(1)


def _read_c(hc: str) -> tuple:
    m = _C_MATCH(hc)
    if m is None:
        return _NO_C
    kind, prefix, start, off_sign, off, end_prefix, end, end_off_sign, end_off, change = m.groups()
    delins = is_del = is_ins = is_dup = 0.0
    del_len = ins_len = dup_len = _NAN
    if change.startswith("del"):
        delins = float(_DELINS_MATCH(change) is not None)
        is_del = 1.0 - delins
        del_len = _len(_DEL_SEQ_MATCH(change))
    elif change.startswith("ins"):
        is_ins = 1.0
    elif change.startswith("dup"):
        is_dup = 1.0
        dup_len = _len(_DUP_SEQ_MATCH(change))
    if "ins" in change:
        ins_len = _len(_INS_SEQ_SEARCH(change))
    return (
        KIND[kind],
        PREFIX[prefix],
        _int(start),
        SIGN[off_sign],
        _int(off),
        PREFIX[end_prefix],
        _int(end),
        SIGN[end_off_sign],
        _int(end_off),
        float(_SNV_MATCH(change) is not None),
        delins,
        is_del,
        is_ins,
        is_dup,
        del_len,
        ins_len,
        dup_len,
    )


def _read_p(hp: str) -> tuple:
    body = _P_PREFIX_SUB("", hp, count=1).replace("(", "").replace(")", "")
    ref3 = alt3 = None
    pos = _NAN
    rest = ""
    m = _P_MATCH(body)
    if m is not None:
        ref3, pos_text, _, _, rest = m.groups()
        ref3 = "Ter" if ref3 == "*" else ref3
        pos = _int(pos_text)
        a = _P_ALT_MATCH(rest)
        if a is not None:
            alt3 = "Ter" if a.group(1) == "*" else a.group(1)
    return (
        float(body == "="),
        residue_code(ref3),
        pos,
        float("fs" in rest),
        float("ext" in rest),
        float(_P_INDEL_MATCH(rest) is not None),
        residue_code(alt3),
        float(rest == "="),
        float("Ter" in rest),
    )


def read_columns(
    hgvs_c: Iterable[str | None], hgvs_p: Iterable[str | None]
) -> tuple[dict[str, np.ndarray], list[str | None]]:
    """Many variants: (FIELDS -> float64 columns, protein accessions)."""
    rows = [read_hgvs(c, p) for c, p in zip(hgvs_c, hgvs_p, strict=True)]
    matrix = np.array([r[0] for r in rows], dtype=np.float64).reshape(len(rows), len(FIELDS))
    return {name: matrix[:, i] for i, name in enumerate(FIELDS)}, [r[1] for r in rows]
