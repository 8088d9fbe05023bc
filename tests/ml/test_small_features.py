"""The row-by-row form of the features and of `score` (small inputs) against the vectorised form.

Every comparison runs the same real input under `forced("vectorised")` (the definition) and `forced("small")`
and asks for the identical frame (`check_exact`: Float32 values bit for bit, nulls, dtypes, column and row
order) or identical scores (`assert_array_equal`): every ClinVar training row, the ClinVar release itself,
the annotated saturation set (34k SNVs and indels), HG00096 and the ClinVar sample; hand-picked edge cases;
and seeded random mutations of real HGVS strings.
"""

from __future__ import annotations

import random

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from hcml.ml import features as F
from hcml.ml import model as M
from hcml.ml.data import assign_splits, clinvar_labels, read_clinvar
from hcml.ml.serving import load_bundled
from hcml.small_inputs import forced

CLINVAR = "clinvar/clinvar_2016-05-20.lifted_GRCh38.tsv.gz"


def _both(fn, *args):
    with forced("vectorised"):
        vectorised = fn(*args)
    with forced("small"):
        small = fn(*args)
    return vectorised, small


def _assert_same_frame(fn, *args):
    vectorised, small = _both(fn, *args)
    assert_frame_equal(small, vectorised, check_exact=True)
    return vectorised


def _assert_same_scores(scorer, summary):
    vectorised, small = _both(scorer.score, summary)
    assert small.dtype == vectorised.dtype == np.float64
    np.testing.assert_array_equal(small, vectorised)


def _hgvs_frame(df: pl.DataFrame) -> pl.DataFrame:
    """`hgvs_features`' input as `features_from_hgvs` builds it (to call `hgvs_features` itself)."""
    return df.select(
        "hgvs_c", "hgvs_p", pl.col("symbol").alias("gene_symbol"), pl.lit(None, pl.Float64).alias("af"),
        pl.lit(None, pl.Utf8).alias("consequence_fallback"),
    )


@pytest.fixture(scope="module")
def scorer():
    return load_bundled()


@pytest.fixture(scope="module")
def training_rows(data_root) -> pl.DataFrame:
    """The rows `build_training_set` gives `features_from_hgvs`: the shipped ClinVar labels with their split."""
    return assign_splits(clinvar_labels([data_root / CLINVAR]))


@pytest.fixture(scope="module")
def summaries(bundle, data_root) -> dict[str, pl.DataFrame]:
    """`summarise(annotate(...))` of the saturation set and of the two sample VCFs (read with hcml.genomics.inputs;
    built on the vectorised path so that only this part's two forms differ)."""
    from hcml.genomics.annotate import annotate, summarise
    from hcml.genomics.inputs import read_vcf

    out = {}
    with forced("vectorised"):
        for name, path in [("saturation", "truth/saturation.vcf.gz"), ("HG00096", "samples/HG00096_chr21_region.vcf"),
                           ("clinvar_sample", "samples/clinvar2016_chr21_region.vcf")]:
            out[name] = summarise(annotate(read_vcf(data_root / path, bundle).variants, bundle))
    return out


# -- real data ----------------------------------------------------------------------------------------------

def test_every_clinvar_training_row(training_rows):
    assert training_rows.height > 50_000
    assert F._small_hgvs_rows(training_rows) is not None  # the row form answered (no fall-back to polars)
    f = _assert_same_frame(F.features_from_hgvs, training_rows)
    assert f.height == training_rows.height
    assert f["consequence_class"].n_unique() >= 12  # the rows reach (nearly) every class
    _assert_same_frame(F.hgvs_features, _hgvs_frame(training_rows))


def test_every_clinvar_release_row(data_root):
    raw = read_clinvar(data_root / CLINVAR)  # also the rows the labels leave out (uncertain, conflicting...)
    assert raw.height == 117_566
    _assert_same_frame(F.features_from_hgvs, raw)


@pytest.mark.parametrize("name", ["saturation", "HG00096", "clinvar_sample"])
def test_annotated_summaries_features_and_scores(summaries, scorer, name):
    summary = summaries[name]
    assert summary.height > (30_000 if name == "saturation" else 20)
    assert F.small_summary_features(summary) is not None
    f = _assert_same_frame(F.features_from_summary, summary)
    assert f["consequence_class"].n_unique() >= (12 if name == "saturation" else 3)
    frame = summary.select(pl.col("hgvsc").alias("hgvs_c"), pl.col("hgvsp").alias("hgvs_p"), "gene_symbol",
                           pl.coalesce("gnomade_af", "af").alias("af"),
                           pl.col("most_severe_consequence").alias("consequence_fallback"))
    _assert_same_frame(F.hgvs_features, frame)
    _assert_same_scores(scorer, summary)


def test_scores_equal_in_request_sized_calls(summaries, scorer):
    """The realtime shapes: one variant per call and batches of 32 (the matrix's shape is the call's)."""
    summary = summaries["saturation"]
    with_af = summary.filter(pl.col("af").is_not_null() | pl.col("gnomade_af").is_not_null())
    picks = pl.concat([summary.sample(300, seed=5), with_af.head(20)])
    for i in range(picks.height):
        _assert_same_scores(scorer, picks[i: i + 1])
    for start in range(0, 6400, 32):
        _assert_same_scores(scorer, summary[start: start + 32])
    _assert_same_scores(scorer, summary.head(0))


# -- hand-picked edge cases ------------------------------------------------------------------------------

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
    ("c.1A>G\u00e9", None),  # text outside ASCII (once stripped): answered by the vectorised form
    (None, "p.Met1Val\u0663"),
    ("c.١٢A>G", None),  # digits outside ASCII: polars' cast fails, and so must the row form's answer
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


def _outcome(fn, *args):
    try:
        return fn(*args)
    except Exception as e:  # noqa: BLE001 - compared: both forms must fail alike
        return type(e)


@pytest.mark.parametrize(("hgvs_c", "hgvs_p"), EDGE_CASES)
def test_edge_case(hgvs_c, hgvs_p):
    frame = _edge_frame([(hgvs_c, hgvs_p)])
    vectorised, small = _both(_outcome, F.hgvs_features, frame)
    if isinstance(vectorised, type):
        assert small is vectorised  # the same error (the row form hands such input to the vectorised form)
    else:
        assert_frame_equal(small, vectorised, check_exact=True)


def test_edge_cases_together_with_frequencies_and_fallback_terms():
    cases = [c for c in EDGE_CASES if c not in EDGE_CASES[-5:]]  # without non-ASCII and what polars refuses
    afs = [None, 0.0, -0.0, 1e-9, 1e-6, 3.5e-4, 0.5, 1.0, 2.0, float("nan"), float("inf"), float("-inf")]
    terms = [None, "", "missense_variant", "intergenic_variant", "splice_donor_variant,intron_variant",
             "upstream_gene_variant", "not_an_so_term", "stop_retained_variant,NMD_transcript_variant"]
    frame = _edge_frame(cases, [afs[i % len(afs)] for i in range(len(cases))],
                        [terms[i % len(terms)] for i in range(len(cases))])
    assert F._small_hgvs_features(frame) is not None
    _assert_same_frame(F.hgvs_features, frame)
    # the same rows again with no HGVS, so that every fall-back SO term decides the class
    fallbacks = [*F._SO_FALLBACK, *terms]
    bare = _edge_frame([(None, None)] * len(fallbacks), [afs[i % len(afs)] for i in range(len(fallbacks))], fallbacks)
    _assert_same_frame(F.hgvs_features, bare)


def test_input_shapes():
    # Null-typed, Float32 and missing columns; no rows; a column type the row form hands over (Categorical)
    _assert_same_frame(F.hgvs_features, pl.DataFrame({"hgvs_c": [None], "hgvs_p": [None], "gene_symbol": [None],
                                                      "af": [None], "consequence_fallback": [None]}))
    _assert_same_frame(F.features_from_hgvs, pl.DataFrame({"hgvs_c": ["c.5A>G"]}))
    _assert_same_frame(F.features_from_hgvs, pl.DataFrame({"hgvs_c": ["c.5A>G"], "symbol": ["APP"],
                                                           "af": pl.Series([0.25], dtype=pl.Float32)}))
    _assert_same_frame(F.features_from_summary, pl.DataFrame({"hgvsc": ["c.5A>G"], "gene_symbol": ["APP"]}))
    _assert_same_frame(F.features_from_summary, pl.DataFrame({"hgvsc": ["c.5A>G", None], "hgvsp": [None, None],
                                                              "gnomade_af": [None, 0.2], "af": [0.1, 0.3]}))
    _assert_same_frame(F.hgvs_features, _edge_frame([]))
    _assert_same_frame(F.features_from_summary, pl.DataFrame({"hgvsc": []}, schema={"hgvsc": pl.Utf8}))
    cat = _edge_frame(EDGE_CASES[:5]).with_columns(pl.col("gene_symbol").cast(pl.Categorical))
    assert F._small_hgvs_features(cat) is None
    _assert_same_frame(F.hgvs_features, cat)
    for shape in ({"hgvs_c": ["c.5A>G"]}, {"hgvs_c": ["c.5A>G"], "hgvs_p": [None], "gene_symbol": ["A"], "af": [0.1]}):
        vectorised, small = _both(_outcome, F.hgvs_features, pl.DataFrame(shape))
        assert small is vectorised is pl.exceptions.ColumnNotFoundError


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


def test_non_ascii_text_is_answered_by_the_vectorised_form():
    frame = _edge_frame([("c.1A>G", None), ("c.2A>G\u00e9", "p.Met1Val")])
    assert F._small_hgvs_features(frame) is None
    assert F._small_hgvs_features(_edge_frame([("\u3000c.1A>G\x85", "\xa0p.Met1Val")])) is not None  # stripped
    _assert_same_frame(F.hgvs_features, frame)


def test_seeded_mutations_of_real_hgvs(training_rows):
    sample = training_rows.sample(3000, seed=3)
    cs = [c for c in sample["hgvs_c"].to_list() if c]
    ps = [p for p in sample["hgvs_p"].to_list() if p]
    for seed in range(3):
        rows = list(zip(_mutations(cs, 4000, seed), _mutations(ps, 4000, seed + 100), strict=True))
        frame = _edge_frame(rows)
        assert F._small_hgvs_features(frame) is not None
        _assert_same_frame(F.hgvs_features, frame)


# -- which form answers ------------------------------------------------------------------------------------

def test_small_inputs_take_the_row_form_and_large_ones_the_vectorised(monkeypatch, summaries, scorer):
    summary = summaries["HG00096"]
    monkeypatch.setenv("HCML_SMALL_INPUT_MAX", "32")

    def refuse(*_args, **_kwargs):
        raise AssertionError("the vectorised form was called")

    edges = _edge_frame(EDGE_CASES[:32])
    expected_small = _assert_same_frame(F.features_from_summary, summary.head(32))
    expected_edges = _assert_same_frame(F.hgvs_features, edges)
    expected_scores = _both(scorer.score, summary.head(32))[0]
    with monkeypatch.context() as m:
        m.setattr(F, "_hgvs_features_vectorised", refuse)
        m.setattr(M, "features_from_summary", refuse)
        assert_frame_equal(F.features_from_summary(summary.head(32)), expected_small, check_exact=True)
        assert_frame_equal(F.hgvs_features(edges), expected_edges, check_exact=True)
        np.testing.assert_array_equal(scorer.score(summary.head(32)), expected_scores)
        with pytest.raises(AssertionError, match="vectorised form"):
            F.features_from_summary(summary.head(33))
        with pytest.raises(AssertionError, match="vectorised form"):
            scorer.score(summary.head(33))
        m.setenv("HCML_SMALL_INPUT_MAX", "0")
        with pytest.raises(AssertionError, match="vectorised form"):
            F.features_from_summary(summary.head(1))


def test_score_follows_the_model_s_feature_list(summaries, scorer):
    """A model whose features are a reordered subset (or include a column the row form does not hold as a float)
    scores alike on both forms."""
    import dataclasses

    summary = summaries["HG00096"].head(20)
    names = list(reversed(scorer.feature_names))
    keep = [i for i, n in enumerate(scorer.feature_names) if not n.startswith("alt_aa_")]
    reordered = dataclasses.replace(
        scorer, feature_names=[scorer.feature_names[i] for i in keep], mean=scorer.mean[keep], std=scorer.std[keep],
        weights=[scorer.weights[0][keep], *scorer.weights[1:]])
    _assert_same_scores(reordered, summary)
    flipped = dataclasses.replace(scorer, feature_names=names, mean=scorer.mean[::-1].copy(),
                                  std=scorer.std[::-1].copy(), weights=[scorer.weights[0][::-1].copy(), *scorer.weights[1:]])
    _assert_same_scores(flipped, summary)
    np.testing.assert_allclose(_both(flipped.score, summary)[1], _both(scorer.score, summary)[0], rtol=1e-5)
    with_int = dataclasses.replace(scorer, feature_names=[*scorer.feature_names[:-1], "protein_position"])
    assert with_int.small_matrix(F.small_summary_features(summary)) is None
    _assert_same_scores(with_int, summary)
