"""The substitution tables against published values (Grantham 1974 table; BLOSUM62 as distributed by NCBI)."""

import pytest

from hcml.ml.aminoacids import AMINO_ACIDS, BLOSUM62, GRANTHAM, THREE_TO_ONE

# Values printed in Grantham (1974), Science 185:862, Table 2.
GRANTHAM_PUBLISHED = {("L", "I"): 5, ("S", "R"): 110, ("C", "W"): 215, ("A", "S"): 99, ("D", "E"): 45,
                      ("G", "W"): 184, ("F", "Y"): 22, ("K", "R"): 26, ("C", "S"): 112, ("V", "I"): 29}


@pytest.mark.parametrize(("pair", "published"), sorted(GRANTHAM_PUBLISHED.items()))
def test_grantham_formula_matches_published_table(pair, published):
    assert GRANTHAM[pair] == pytest.approx(published, abs=1.5)
    assert GRANTHAM[pair[::-1]] == pytest.approx(GRANTHAM[pair])


def test_blosum62_known_entries_and_symmetry():
    assert (BLOSUM62[("W", "W")], BLOSUM62[("C", "C")], BLOSUM62[("A", "A")]) == (11, 9, 4)
    assert (BLOSUM62[("I", "V")], BLOSUM62[("W", "D")], BLOSUM62[("R", "K")], BLOSUM62[("G", "I")]) == (3, -4, 2, -4)
    assert all(BLOSUM62[(a, b)] == BLOSUM62[(b, a)] for a in AMINO_ACIDS for b in AMINO_ACIDS)
    assert sum(BLOSUM62[(a, a)] for a in AMINO_ACIDS) == 4 + 5 + 6 + 6 + 9 + 5 + 5 + 6 + 8 + 4 + 4 + 5 + 5 + 6 + 7 + 4 + 5 + 11 + 7 + 4


def test_three_letter_codes():
    assert THREE_TO_ONE["Trp"] == "W" and THREE_TO_ONE["Ter"] == "*"
    assert {THREE_TO_ONE[k] for k in THREE_TO_ONE if THREE_TO_ONE[k] in AMINO_ACIDS} == set(AMINO_ACIDS)
