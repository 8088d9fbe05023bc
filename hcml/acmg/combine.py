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


def _matrix(strengths: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(criteria x rows) strengths and which rows of it are benign criteria (codes starting with B)."""
    return (
        np.vstack([np.asarray(v, dtype=np.int64) for v in strengths.values()]),
        np.array([code.startswith("B") for code in strengths]),
    )


_POINT_TABLE = np.array(
    [0, POINTS[SUPPORTING], POINTS[MODERATE], POINTS[STRONG], POINTS[VERY_STRONG], POINTS[STAND_ALONE]], np.int64
)


def points(strengths: dict[str, np.ndarray]) -> np.ndarray:
    """Sum of signed points per row (criteria codes starting with B count negative)."""
    mat, benign = _matrix(strengths)
    return (_POINT_TABLE[mat] * np.where(benign, -1, 1)[:, None]).sum(axis=0)


def points_class(total: np.ndarray, stand_alone_benign: np.ndarray) -> np.ndarray:
    cls = np.select(
        [total >= 10, total >= 6, total >= 0, total >= -6],
        [PATHOGENIC, LIKELY_PATHOGENIC, UNCERTAIN, LIKELY_BENIGN],
        BENIGN,
    )
    return np.where(stand_alone_benign, BENIGN, cls).astype(object)


def richards_class(strengths: dict[str, np.ndarray]) -> np.ndarray:
    """Richards 2015 Table 5, each criterion counted at the strength it was applied at (a PVS1_Strong counts as
    a Strong); both pathogenic and benign rules met -> Uncertain (contradictory evidence)."""
    mat, benign = _matrix(strengths)
    path, ben = mat[~benign], mat[benign]
    pvs, ps, pm, pp = ((path == s).sum(axis=0) for s in (VERY_STRONG, STRONG, MODERATE, SUPPORTING))
    ba, bs, bp = ((ben == s).sum(axis=0) for s in (STAND_ALONE, STRONG, SUPPORTING))
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
