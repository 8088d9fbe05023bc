"""Combining criteria: Tavtigian et al. 2020's points and Richards et al. 2015's Table 5, against the published
rules written down here (not read from the code under test)."""

from __future__ import annotations

import numpy as np
import pytest

from hcml.acmg import combine
from hcml.acmg.criteria import MODERATE, STAND_ALONE, STRONG, SUPPORTING, VERY_STRONG, code_with_strength

# Tavtigian 2020 (Genet Med 22:1579, Table 2 / Fig. 2): point values and class bands.
TAVTIGIAN_POINTS = {"Supporting": 1, "Moderate": 2, "Strong": 4, "VeryStrong": 8}
LEVEL = {"Supporting": SUPPORTING, "Moderate": MODERATE, "Strong": STRONG, "VeryStrong": VERY_STRONG,
         "StandAlone": STAND_ALONE}


def tavtigian_class(points: int) -> str:
    if points >= 10:
        return "Pathogenic"
    if points >= 6:
        return "Likely pathogenic"
    if points >= 0:
        return "Uncertain significance"
    if points >= -6:
        return "Likely benign"
    return "Benign"


def _strengths(applied: list[tuple[str, str]]) -> dict[str, np.ndarray]:
    """[("PVS1", "VeryStrong"), ("PM2", "Supporting"), ...] -> one-row strength arrays (distinct codes)."""
    out: dict[str, np.ndarray] = {}
    for i, (code, level) in enumerate(applied):
        out[f"{code}#{i}" if code in out else code] = np.array([LEVEL[level]], np.int8)
    return out


# Richards 2015 Table 5, one example per rule, with the class the paper gives.
RICHARDS_TABLE_5 = [
    # Pathogenic (i)(a)-(d), (ii), (iii)(a)-(c)
    ([("PVS1", "VeryStrong"), ("PS1", "Strong")], "Pathogenic"),
    ([("PVS1", "VeryStrong"), ("PM4", "Moderate"), ("PM5", "Moderate")], "Pathogenic"),
    ([("PVS1", "VeryStrong"), ("PM4", "Moderate"), ("PP2", "Supporting")], "Pathogenic"),
    ([("PVS1", "VeryStrong"), ("PP2", "Supporting"), ("PP3", "Supporting")], "Pathogenic"),
    ([("PS1", "Strong"), ("PS3", "Strong")], "Pathogenic"),
    ([("PS1", "Strong"), ("PM1", "Moderate"), ("PM4", "Moderate"), ("PM5", "Moderate")], "Pathogenic"),
    ([("PS1", "Strong"), ("PM4", "Moderate"), ("PM5", "Moderate"), ("PP2", "Supporting"), ("PP3", "Supporting")], "Pathogenic"),
    ([("PS1", "Strong"), ("PM5", "Moderate")] + [("PP2", "Supporting")] * 4, "Pathogenic"),
    # Likely pathogenic (i)-(vi)
    ([("PVS1", "VeryStrong"), ("PM5", "Moderate")], "Likely pathogenic"),
    ([("PS1", "Strong"), ("PM5", "Moderate")], "Likely pathogenic"),
    ([("PS1", "Strong"), ("PM4", "Moderate"), ("PM5", "Moderate")], "Likely pathogenic"),
    ([("PS1", "Strong"), ("PP2", "Supporting"), ("PP3", "Supporting")], "Likely pathogenic"),
    ([("PM1", "Moderate"), ("PM4", "Moderate"), ("PM5", "Moderate")], "Likely pathogenic"),
    ([("PM4", "Moderate"), ("PM5", "Moderate"), ("PP2", "Supporting"), ("PP3", "Supporting")], "Likely pathogenic"),
    ([("PM5", "Moderate")] + [("PP2", "Supporting")] * 4, "Likely pathogenic"),
    # Benign (i), (ii); Likely benign (i), (ii)
    ([("BA1", "StandAlone")], "Benign"),
    ([("BS1", "Strong"), ("BS2", "Strong")], "Benign"),
    ([("BS1", "Strong"), ("BP4", "Supporting")], "Likely benign"),
    ([("BP1", "Supporting"), ("BP4", "Supporting")], "Likely benign"),
    # not enough, or contradictory (both sides met) -> uncertain
    ([("PVS1", "VeryStrong")], "Uncertain significance"),
    ([("PM2", "Supporting"), ("PP3", "Supporting")], "Uncertain significance"),
    ([("BP4", "Supporting")], "Uncertain significance"),
    ([("PVS1", "VeryStrong"), ("PS1", "Strong"), ("BP1", "Supporting"), ("BP4", "Supporting")], "Uncertain significance"),
]


@pytest.mark.parametrize("applied,expected", RICHARDS_TABLE_5)
def test_richards_table_5(applied, expected):
    assert combine.richards_class(_strengths(applied))[0] == expected


@pytest.mark.parametrize("applied,_", RICHARDS_TABLE_5)
def test_tavtigian_points_and_class(applied, _):
    expected_points = sum(TAVTIGIAN_POINTS.get(level, 0) * (-1 if code.startswith("B") else 1) for code, level in applied)
    strengths = _strengths(applied)
    got = combine.points(strengths)[0]
    assert got == expected_points
    stand_alone = np.array([any(code == "BA1" for code, _ in applied)])
    expected_class = "Benign" if stand_alone[0] else tavtigian_class(expected_points)
    assert combine.points_class(np.array([got]), stand_alone)[0] == expected_class


@pytest.mark.parametrize("points,expected", [(10, "Pathogenic"), (9, "Likely pathogenic"), (6, "Likely pathogenic"),
                                             (5, "Uncertain significance"), (0, "Uncertain significance"),
                                             (-1, "Likely benign"), (-6, "Likely benign"), (-7, "Benign")])
def test_point_bands_at_their_edges(points, expected):
    assert combine.points_class(np.array([points]), np.array([False]))[0] == expected


def test_pvs1_with_pm2_supporting_is_where_the_two_systems_differ():
    """ClinGen SVI's PM2_Supporting with PVS1 reaches 9 points (Likely pathogenic); Table 5 has no rule for one
    Very strong and one Supporting, so Richards says Uncertain: the report shows they disagree."""
    s = _strengths([("PVS1", "VeryStrong"), ("PM2", "Supporting")])
    assert combine.points(s)[0] == 9
    assert combine.points_class(combine.points(s), np.array([False]))[0] == "Likely pathogenic"
    assert combine.richards_class(s)[0] == "Uncertain significance"


def test_code_suffix_only_when_the_strength_changes():
    assert code_with_strength("PVS1", VERY_STRONG) == "PVS1"
    assert code_with_strength("PVS1", STRONG) == "PVS1_Strong"
    assert code_with_strength("PM2", SUPPORTING) == "PM2_Supporting"
    assert code_with_strength("PP3", STRONG) == "PP3_Strong"
    assert code_with_strength("BA1", STAND_ALONE) == "BA1"


def _richards_written_down(pvs, ps, pm, pp, ba, bs, bp) -> str:
    """Richards 2015 Table 5 transcribed once more, one row at a time (contradictory evidence -> uncertain)."""
    pathogenic = (pvs >= 1 and (ps >= 1 or pm >= 2 or (pm == 1 and pp == 1) or pp >= 2)) or ps >= 2 or (
        ps == 1 and (pm >= 3 or (pm == 2 and pp >= 2) or (pm == 1 and pp >= 4)))
    likely_pathogenic = ((pvs == 1 and pm == 1) or (ps == 1 and 1 <= pm <= 2) or (ps == 1 and pp >= 2) or pm >= 3
                         or (pm == 2 and pp >= 2) or (pm == 1 and pp >= 4))
    benign = ba >= 1 or bs >= 2
    likely_benign = (bs == 1 and bp == 1) or bp >= 2
    if (pathogenic or likely_pathogenic) and (benign or likely_benign):
        return "Uncertain significance"
    for met, cls in ((pathogenic, "Pathogenic"), (likely_pathogenic, "Likely pathogenic"), (benign, "Benign"),
                     (likely_benign, "Likely benign")):
        if met:
            return cls
    return "Uncertain significance"


def test_table_5_on_many_counts_per_strength():
    """Rows with up to 6 criteria of each strength (more than any rule reads): the class for every row equals
    the table written down here, so the per-count look-up never loses a rule."""
    rng = np.random.default_rng(7)
    per_strength = [(False, VERY_STRONG), (False, STRONG), (False, MODERATE), (False, SUPPORTING),
                    (True, STAND_ALONE), (True, STRONG), (True, SUPPORTING)]
    counts = rng.integers(0, 7, (len(per_strength), 3000)) * (rng.random((len(per_strength), 3000)) < 0.5)
    strengths = {}
    for k, (benign, level) in enumerate(per_strength):
        for j in range(6):
            strengths[f"{'B' if benign else 'P'}{k}_{j}"] = np.where(counts[k] > j, level, 0).astype(np.int8)
    got = combine.richards_class(strengths)
    for i in range(counts.shape[1]):
        assert got[i] == _richards_written_down(*counts[:, i]), counts[:, i]
