"""The feature code called on one variant and on many: one definition (`hcml.ml.features.feature_block`), so a
row's features never depend on the call it came in, and the scorer's array route (`ExportedModel.score`)
gives the frame route's scores (`score_features(features_from_summary(...))`).

Checked on real inputs (ClinVar training rows, the annotated saturation set, HG00096), hand-picked edge cases
and seeded random edits of real HGVS strings. A failure means a rule reads across rows (a row's value changes
with its neighbours) or the two routes to the model's matrix disagree.
"""

from __future__ import annotations

import math
import random

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from hcml.ml import features as F
from hcml.ml.data import assign_splits, clinvar_labels
from hcml.ml.serving import load_bundled

CLINVAR = "clinvar/clinvar_2016-05-20.lifted_GRCh38.tsv.gz"


@pytest.fixture(scope="module")
def scorer():
    return load_bundled()


@pytest.fixture(scope="module")
def training_rows(data_root) -> pl.DataFrame:
    return assign_splits(clinvar_labels([data_root / CLINVAR]))


@pytest.fixture(scope="module")
def summaries(bundle, data_root) -> dict[str, pl.DataFrame]:
    from hcml.genomics.annotate import annotate, summarise
    from hcml.genomics.inputs import read_vcf

    return {name: summarise(annotate(read_vcf(data_root / path, bundle).variants, bundle))
            for name, path in [("saturation", "truth/saturation.vcf.gz"), ("HG00096", "samples/HG00096_chr21_region.vcf")]}


EDGE_CASES = [
    (None, None),
    ("-", "-"),
    ("", ""),
    (".", None),
    ("  -  ", None),
    ("NM_000484.3:c.2149G>A", "NP_000475.1:p.Val717Ile"),
    ("NM_000484.3:c.2149G>A", "NP_000475.1:p.(Val717Ile)"),
    ("ENST00000358918.7:c.2004A>G", "ENSP00000351796.3:p.Gln668%3D"),
    ("NM_000089.3:c.2700C>T", "NP_000080.2:p.Ala900="),
    ("NM_000089.3:c.2700C>T", "NP_000080.2:p.="),
    ("NM_000089.3:c.2700C>T", "NP_000080.2:p.(=)"),
    ("NM_000089.3:c.-5C>T", "p.="),
    ("NM_000089.3:c.10+1G>A", "p.="),
    ("NM_000249.3:c.851T>A", "NP_000240.1:p.Leu284Ter"),
    ("NM_000249.3:c.851T>A", "NP_000240.1:p.Leu284*"),
    ("NM_006941.3:c.1400_*10delAAAGGGGGCCCT", "NP_008872.1:p.*467Cysext*82"),
    ("NM_006941.3:c.1401A>C", "NP_008872.1:p.Ter467CysextTer82"),
    ("NM_006941.3:c.1401A>C", "NP_008872.1:p.Ter467Cys"),
    ("NM_017813.4:c.324delC", "NP_060283.3:p.Ser108Argfs"),
    ("ENST00000357903.7:c.1370del", "ENSP00000350578.3:p.Tyr457SerfsTer19"),
    ("NM_007294.3:c.531dupT", None),
    ("NM_007294.3:c.531dup", None),
    ("NM_007294.3:c.531_533dup", None),
    ("NM_007294.3:c.530_531insA", None),
    ("NM_007294.3:c.530_531insAGT", "p.Lys177_Glu178insSer"),
    ("NM_007294.3:c.530_531ins", None),
    ("NM_000030.2:c.860_861delGCinsCG", "NP_000021.1:p.Ser287Thr"),
    ("NM_000030.2:c.860_861delinsCGA", None),
    ("NM_000030.2:c.860_862delinsC", None),
    ("NM_000030.2:c.860delinsCG", None),
    ("NM_080605.3:c.415_423delATGCTGGCC", "NP_542172.2:p.Met139_Ala141del"),
    ("NM_080605.3:c.415_423del", "p.Met139_Ala141delinsTer"),
    ("NM_080605.3:c.415_417del", None),
    ("NM_080605.3:c.415_416del", None),
    ("NM_080605.3:c.2_4del", None),
    ("NM_080605.3:c.1A>G", "NP_542172.2:p.Met1Val"),
    ("NM_080605.3:c.1A>G", "NP_542172.2:p.Met1?"),
    ("NM_080605.3:c.1A>G", None),
    ("NM_080605.3:c.100A>G", "NP_542172.2:p.?"),
    ("NM_080605.3:c.100A>G", "NP_542172.2:p.0"),
    ("NM_080605.3:c.100A>G", None),
    ("NM_080605.3:c.100_101inv", None),
    ("NM_000350.2:c.1938-1G>A", None),
    ("NM_000350.2:c.123+5G>A", None),
    ("NM_000350.2:c.-14-3C>T", None),
    ("NM_000350.2:c.*37+1G>A", None),
    ("NM_000350.2:c.4484+899C>T", None),
    ("NM_000350.2:c.3976-15C>A", None),
    ("NM_000350.2:c.3976-17C>A", None),
    ("NM_000350.2:c.3976-18C>A", None),
    ("NM_000350.2:c.100+9C>A", None),
    ("NM_000350.2:c.100+3_100+7del", None),
    ("NM_000350.2:c.99_100+2del", None),
    ("NM_000350.2:c.100+20_101-30del", None),
    ("NM_000350.2:c.-20_-10del", None),
    ("NM_000350.2:c.-5_10del", None),
    ("NM_000350.2:c.*5_*10del", None),
    ("NM_000350.2:c.*325C>G", None),
    ("NM_000350.2:c.-930G>A", None),
    ("ENST00000487266.1:n.191-3543A>G", None),
    ("ENST00000436405.1:n.50A>G", None),
    ("ENST00000436405.1:n.50_52del", None),
    ("c.50A>G", "p.Xaa17Cys"),
    ("c.50A>G", "p.Sec17Cys"),
    ("c.50A>G", "p.Cys17Sec"),
    ("c.50A>G", "p.Cys17Xyz"),
    ("c.50A>G", "p.Xyz17Cys"),
    ("c.50A>G", "p.Cys17Cys"),
    ("c.50A>G", "p.C17W"),
    ("NM_1:g.12345A>G", None),
    ("garbage", "also garbage"),
    ("c.1A>G\n", None),
    ("c.1A>G\nx", None),
    ("c.1A>G", "p.Met1Val\nx"),
    (" \x85c.1A>G\xa0", "\tp.Met1Val "),
    ("c.1A>G\x1c", "\x1cp.Met1Val"),
    ("c.4611686018427387904A>G", None),
    ("c.1A>G\u00e9", None),
    (None, "p.Met1Val\u0663"),
    ("c.١٢A>G", None),
    ("c.99999999999999999999A>G", None),
    (None, "p.Arg99999999999999999999Cys"),
]


def _edge_frame(cases, afs=None, fallbacks=None) -> pl.DataFrame:
    n = len(cases)
    return pl.DataFrame(
        {
            "hgvs_c": [c for c, _ in cases],
            "hgvs_p": [p for _, p in cases],
            "gene_symbol": [f"G{i % 3}" if i % 4 else None for i in range(n)],
            "af": afs if afs is not None else [None] * n,
            "consequence_fallback": fallbacks if fallbacks is not None else [None] * n,
        },
        schema={"hgvs_c": pl.Utf8, "hgvs_p": pl.Utf8, "gene_symbol": pl.Utf8, "af": pl.Float64,
                "consequence_fallback": pl.Utf8},
    )


def _assert_rows_alone_equal_the_whole(frame: pl.DataFrame, step: int = 1) -> pl.DataFrame:
    whole = F.hgvs_features(frame)
    assert whole.height == frame.height
    floats = whole.select(F.VARIANT_FEATURES + F.POPULATION_FEATURES).to_numpy()
    assert np.isfinite(floats).all()  # NaN only in SEQUENCE_FEATURES (no protein / no constraint)
    assert not np.isinf(whole.select(F.SEQUENCE_FEATURES).to_numpy()).any()
    for i in range(0, frame.height, step):
        assert_frame_equal(F.hgvs_features(frame[i : i + 1]), whole[i : i + 1], check_exact=True)
    return whole


def test_edge_cases_alone_and_together():
    afs = [None, 0.0, -0.0, 1e-9, 1e-6, 3.5e-4, 0.5, 1.0, 2.0, float("inf")]
    terms = [None, "", "missense_variant", "intergenic_variant", "splice_donor_variant,intron_variant",
             "upstream_gene_variant", "not_an_so_term", "stop_retained_variant,NMD_transcript_variant"]
    frame = _edge_frame(EDGE_CASES, [afs[i % len(afs)] for i in range(len(EDGE_CASES))],
                        [terms[i % len(terms)] for i in range(len(EDGE_CASES))])
    whole = _assert_rows_alone_equal_the_whole(frame)
    # every fall-back SO term decides the class of a row without HGVS; unknown terms are `other`
    fallbacks = [*F._SO_FALLBACK, *terms]
    bare = F.hgvs_features(_edge_frame([(None, None)] * len(fallbacks), None, fallbacks))
    expected = [F._SO_FALLBACK.get((t or "").split(",")[0], "other") for t in fallbacks]
    assert bare["consequence_class"].to_list() == expected
    # log10_af: the frequency clipped to [1e-6, 1]; af_known only where a frequency is given
    got = F.hgvs_features(_edge_frame([(None, None)] * 4, [None, 1e-9, 0.01, 2.0]))
    assert got["af_known"].to_list() == [0, 1, 1, 1]
    assert got["log10_af"].to_list() == pytest.approx([0, -6, math.log10(0.01), 0], abs=1e-6)


def test_input_shapes():
    assert F.features_from_hgvs(pl.DataFrame({"hgvs_c": ["c.5A>G"]}))["consequence_class"].to_list() == ["coding_other"]
    f = F.features_from_hgvs(pl.DataFrame({"hgvs_c": ["c.5A>G"], "symbol": ["APP"], "af": pl.Series([0.25], dtype=pl.Float32)}))
    assert f["af_known"][0] == 1 and f["gene_symbol"][0] == "APP"
    s = F.features_from_summary(pl.DataFrame({"hgvsc": ["c.5A>G", None], "hgvsp": [None, None],
                                              "gnomade_af": [None, 0.2], "af": [0.1, 0.3]}))
    assert s["log10_af"].to_list() == pytest.approx([math.log10(0.1), math.log10(0.2)], abs=1e-6)
    empty = F.hgvs_features(_edge_frame([]))
    assert empty.height == 0 and empty.columns == F.features_from_hgvs(pl.DataFrame({"hgvs_c": ["c.1A>G"]})).columns
    assert F.features_from_summary(pl.DataFrame({"hgvsc": []}, schema={"hgvsc": pl.Utf8})).height == 0
    cat = _edge_frame(EDGE_CASES[:5]).with_columns(pl.col("gene_symbol").cast(pl.Categorical))
    assert_frame_equal(F.hgvs_features(cat), F.hgvs_features(_edge_frame(EDGE_CASES[:5])))


def _mutations(texts: list[str], n: int, seed: int) -> list[str | None]:
    """Seeded random edits of real HGVS strings: characters HGVS uses and some it must not contain."""
    rng = random.Random(seed)
    alphabet = "ACGTNacgtn0123456789_+-*>=:.?()%3Ddelinsdupinvfsext TerMetAlaCysXaa\n\t\x0b\x1c"
    out: list[str | None] = []
    for _ in range(n):
        s = list(rng.choice(texts))
        for _ in range(rng.randint(1, 4)):
            op, i = rng.random(), rng.randrange(len(s) + 1)
            if op < 0.4:
                s.insert(i, rng.choice(alphabet))
            elif op < 0.7 and s:
                del s[min(i, len(s) - 1)]
            elif s:
                s[min(i, len(s) - 1)] = rng.choice(alphabet)
        out.append("".join(s) if rng.random() > 0.02 else None)
    return out


def test_seeded_mutations_of_real_hgvs(training_rows):
    sample = training_rows.sample(3000, seed=3)
    cs = [c for c in sample["hgvs_c"].to_list() if c]
    ps = [p for p in sample["hgvs_p"].to_list() if p]
    for seed in range(2):
        rows = list(zip(_mutations(cs, 3000, seed), _mutations(ps, 3000, seed + 100), strict=True))
        _assert_rows_alone_equal_the_whole(_edge_frame(rows), step=7)


def test_clinvar_rows_alone_equal_the_whole(training_rows):
    frame = training_rows.select("hgvs_c", "hgvs_p", pl.col("symbol").alias("gene_symbol"),
                                 pl.lit(None, pl.Float64).alias("af"), pl.lit(None, pl.Utf8).alias("consequence_fallback"))
    whole = _assert_rows_alone_equal_the_whole(frame, step=61)
    assert whole["consequence_class"].n_unique() >= 12


@pytest.mark.parametrize("name", ["saturation", "HG00096"])
def test_scores_one_variant_per_call_equal_the_frame_route(summaries, scorer, name):
    """The realtime shape (one variant per call, and batches of 32) against the batch route over a frame."""
    summary = summaries[name]
    expected = scorer.score_features(F.features_from_summary(summary))
    step = max(1, summary.height // 400)
    alone = np.array([scorer.score(summary[i : i + 1])[0] for i in range(0, summary.height, step)])
    np.testing.assert_allclose(alone, expected[::step], rtol=1e-6, atol=1e-7)
    for start in range(0, min(summary.height, 3200), 32):
        np.testing.assert_allclose(scorer.score(summary[start : start + 32]), expected[start : start + 32],
                                   rtol=1e-6, atol=1e-7)
    assert scorer.score(summary.head(0)).shape == (0,)
