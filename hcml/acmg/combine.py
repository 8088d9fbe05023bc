"""Combining criteria into a class: Tavtigian et al. 2020's points (the class reported) and Richards et al.
2015's combining rules (Table 5), reported beside it with whether the two agree.

Points (Tavtigian 2020, Table 2): Supporting 1, Moderate 2, Strong 4, Very strong 8; benign criteria count
negative. Classes: Pathogenic >= 10, Likely pathogenic 6..9, Uncertain 0..5, Likely benign -1..-6, Benign <= -7.
BA1 is stand-alone Benign in both systems (outside the points).
"""

from __future__ import annotations

import numpy as np

from hcml.acmg.criteria import MODERATE, STAND_ALONE, STRONG, SUPPORTING, VERY_STRONG

PATHOGENIC, LIKELY_PATHOGENIC, UNCERTAIN = "Pathogenic", "Likely pathogenic", "Uncertain significance"
LIKELY_BENIGN, BENIGN = "Likely benign", "Benign"
CLASSES = (PATHOGENIC, LIKELY_PATHOGENIC, UNCERTAIN, LIKELY_BENIGN, BENIGN)
POINTS = {SUPPORTING: 1, MODERATE: 2, STRONG: 4, VERY_STRONG: 8, STAND_ALONE: 0}


def strength_matrix(strengths: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(criteria x rows) strengths and which rows of it are benign criteria (codes starting with B)."""
    return (
        np.vstack([np.asarray(v, dtype=np.int64) for v in strengths.values()]),
        np.array([code.startswith("B") for code in strengths]),
    )


_POINT_TABLE = np.array(
    [0, POINTS[SUPPORTING], POINTS[MODERATE], POINTS[STRONG], POINTS[VERY_STRONG], POINTS[STAND_ALONE]], np.int64
)


def points(strengths: dict[str, np.ndarray], matrix: tuple | None = None) -> np.ndarray:
    """Sum of signed points per row (criteria codes starting with B count negative)."""
    mat, benign = matrix or strength_matrix(strengths)
    return (_POINT_TABLE[mat] * np.where(benign, -1, 1)[:, None]).sum(axis=0)


_CLASS_FROM = np.array([-6, 0, 6, 10])  # lowest points of Likely benign, Uncertain, Likely pathogenic, Pathogenic
_BY_RANK = np.array([BENIGN, LIKELY_BENIGN, UNCERTAIN, LIKELY_PATHOGENIC, PATHOGENIC], dtype=object)


def points_class(total: np.ndarray, stand_alone_benign: np.ndarray) -> np.ndarray:
    """Tavtigian 2020's classes by points (the number of class floors reached); BA1 -> Benign."""
    rank = np.searchsorted(_CLASS_FROM, total, side="right")
    return _BY_RANK[np.where(stand_alone_benign, 0, rank)]


def richards_rules(pvs, ps, pm, pp, ba, bs, bp) -> np.ndarray:
    """Richards 2015 Table 5 on the numbers of criteria met per strength (pathogenic: very strong, strong,
    moderate, supporting; benign: stand-alone, strong, supporting); both pathogenic and benign rules met ->
    Uncertain (contradictory evidence)."""
    pathogenic = (
        ((pvs >= 1) & ((ps >= 1) | (pm >= 2) | ((pm == 1) & (pp == 1)) | (pp >= 2)))
        | (ps >= 2)
        | ((ps == 1) & ((pm >= 3) | ((pm == 2) & (pp >= 2)) | ((pm == 1) & (pp >= 4))))
    )
    likely_pathogenic = (
        ((pvs == 1) & (pm == 1))
        | ((ps == 1) & (pm >= 1) & (pm <= 2))
        | ((ps == 1) & (pp >= 2))
        | (pm >= 3)
        | ((pm == 2) & (pp >= 2))
        | ((pm == 1) & (pp >= 4))
    )
    benign = (ba >= 1) | (bs >= 2)
    likely_benign = ((bs == 1) & (bp == 1)) | (bp >= 2)
    contradictory = (pathogenic | likely_pathogenic) & (benign | likely_benign)
    cls = np.full(len(pvs), UNCERTAIN, dtype=object)  # assigned weakest first, so the strongest rule wins
    cls[likely_benign] = LIKELY_BENIGN
    cls[benign] = BENIGN
    cls[likely_pathogenic] = LIKELY_PATHOGENIC
    cls[pathogenic] = PATHOGENIC
    cls[contradictory] = UNCERTAIN
    return cls


# Table 5 reads each count only up to these (pvs ==1 / >=1 -> 2 values suffice beyond 1; pp ==1, >=2, >=4 ...):
# counts capped there give the same class, so the rules are evaluated once on every capped combination and a
# request's classes are one look-up.
_CAPS = (2, 2, 3, 4, 1, 2, 2)  # pvs, ps, pm, pp, ba, bs, bp
_GRID = np.stack(np.meshgrid(*(np.arange(c + 1) for c in _CAPS), indexing="ij"), -1).reshape(-1, len(_CAPS))
_RICHARDS_TABLE = richards_rules(*_GRID.T)
_CAPS_COLUMN = np.array(_CAPS)[:, None]
_BENIGN_OFFSET = 8  # strength + 8: a benign criterion's strength, apart from the pathogenic ones
_COUNTED = np.array(
    [VERY_STRONG, STRONG, MODERATE, SUPPORTING, *(_BENIGN_OFFSET + s for s in (STAND_ALONE, STRONG, SUPPORTING))]
)
_RADIX = np.cumprod((1,) + tuple(c + 1 for c in _CAPS[:0:-1]))[::-1]  # mixed-radix place of each count


def richards_class(strengths: dict[str, np.ndarray], matrix: tuple | None = None) -> np.ndarray:
    """Richards 2015 Table 5 (`richards_rules`), each criterion counted at the strength it was applied at (a
    PVS1_Strong counts as a Strong)."""
    mat, benign = matrix or strength_matrix(strengths)
    side_strength = mat + np.where(benign, _BENIGN_OFFSET, 0)[:, None]
    counts = (side_strength[None, :, :] == _COUNTED[:, None, None]).sum(axis=1)  # (7, rows)
    return _RICHARDS_TABLE[_RADIX @ np.minimum(counts, _CAPS_COLUMN)]
