"""The small-input twins of annotate / summarise / order_by_severity (hcml.small_inputs) give exactly the
frames of their vectorised forms: the same real inputs run under forced("vectorised") (the definition) and
forced("small"), compared with assert_frame_equal (columns, order, dtypes, values, row order).

Inputs: all variants of the saturation set (SNVs and indels on both strands: coding, splice, UTR, intronic,
non-coding, up/downstream, intergenic), HG00096's calls and the ClinVar sample (known-variant and ClinVar
hits), annotated whole, in the realtime service's call sizes (1 to 32 variants) and one at a time."""

from __future__ import annotations

import math
import random

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from hcml.genomics.annotate import CHUNK_VARIANTS, annotate, summarise
from hcml.genomics.inputs import read_vcf
from hcml.interpret import interpret, order_by_severity
from hcml.small_inputs import forced

SAMPLES = {
    "saturation": ("truth", "saturation.vcf.gz"),
    "HG00096": ("samples", "HG00096_chr21_region.vcf"),
    "clinvar": ("samples", "clinvar2016_chr21_region.vcf"),
}


def intergenic_mixed(bundle, hg00096: pl.DataFrame) -> list[str]:
    """Real-sequence SNVs, deletions and insertions more than 5 kb from every transcript (none of the
    samples has one), interleaved with HG00096's variants so that calls mix intergenic and genic rows."""
    tx = bundle.transcripts
    starts, ends = tx["start"].to_list(), tx["end"].to_list()
    out = []
    for p in range(24_900_000, 26_100_000, 1500):
        if all(p < s - 5100 or p > e + 5100 for s, e in zip(starts, ends)) and "N" not in bundle.fetch("21", p, p + 3):
            ref = bundle.fetch("21", p, p)
            kind = len(out) % 3
            if kind == 0:
                out.append(f"21-{p}-{ref}-{'A' if ref != 'A' else 'G'}")
            elif kind == 1:
                out.append(f"21-{p}-{bundle.fetch('21', p, p + 2)}-{ref}")
            else:
                out.append(f"21-{p}-{ref}-{ref}TG")
        if len(out) == 60:
            break
    genic = [f"{c}-{p}-{r}-{a}" for c, p, r, a in hg00096.select("chrom", "pos", "ref", "alt").head(120).iter_rows()]
    return [x for pair in zip(out, genic[::2], genic[1::2]) for x in pair]


@pytest.fixture(scope="module")
def variants(bundle, data_root) -> dict[str, pl.DataFrame]:
    """Each sample's parsed variants (read on the default path, outside any forced mode)."""
    from hcml.genomics.inputs import parse_variant_strings

    out = {name: read_vcf(data_root / d / f, bundle).variants for name, (d, f) in SAMPLES.items()}
    out["intergenic_mixed"] = parse_variant_strings(intergenic_mixed(bundle, out["HG00096"]), bundle).variants
    return out


def same(got: pl.DataFrame, want: pl.DataFrame, label: str) -> None:
    """assert_frame_equal (default strictness) naming the call that differs."""
    try:
        assert_frame_equal(got, want)
    except AssertionError as e:
        raise AssertionError(f"{label}: {e}") from None


def both(fn, *args):
    """fn(*args) on the vectorised path and on the small-input twin."""
    with forced("vectorised"):
        want = fn(*args)
    with forced("small"):
        got = fn(*args)
    return want, got


def batches(frame: pl.DataFrame, seed: int, max_size: int = 32):
    """The frame cut into consecutive calls of 1..max_size variants (the realtime service's sizes)."""
    rng = random.Random(seed)
    start = 0
    while start < frame.height:
        size = rng.randint(1, max_size)
        yield frame.slice(start, size)
        start += size


@pytest.fixture(scope="module")
def annotated(bundle, variants) -> dict[str, pl.DataFrame]:
    """Each sample annotated whole on the vectorised path (the expectation)."""
    with forced("vectorised"):
        return {name: annotate(v, bundle) for name, v in variants.items()}


def test_samples_cover_what_the_twin_must_get_right(annotated, variants):
    """The comparison is only as good as its inputs: they hold indels, both strands, splice / UTR /
    up- and downstream / intergenic rows, protein changes and known-variant and ClinVar hits."""
    sat = annotated["saturation"]
    assert variants["saturation"].height > 30_000
    terms = set(",".join(sat["Consequence"].to_list()).split(","))
    for term in ("missense_variant", "frameshift_variant", "inframe_deletion", "stop_gained", "synonymous_variant",
                 "splice_donor_variant", "splice_acceptor_variant", "splice_region_variant", "5_prime_UTR_variant",
                 "3_prime_UTR_variant", "intron_variant", "upstream_gene_variant", "downstream_gene_variant",
                 "non_coding_transcript_exon_variant"):
        assert term in terms, term
    mixed = annotated["intergenic_mixed"]
    assert mixed.filter(pl.col("Consequence") == "intergenic_variant").height >= 50
    assert set(sat["STRAND"].drop_nulls().to_list()) == {1, -1}
    v = variants["saturation"]
    assert (v["ref"].str.len_bytes() != v["alt"].str.len_bytes()).sum() > 1000  # indels
    for name in ("HG00096", "clinvar"):
        assert annotated[name]["Existing_variation"].drop_nulls().len() > 0, name
    assert annotated["clinvar"]["CLIN_SIG"].drop_nulls().len() > 0


@pytest.mark.parametrize("name", [*SAMPLES, "intergenic_mixed"])
def test_annotate_whole_sample(bundle, variants, annotated, name):
    """The twin over every variant of a sample in one call (its chunks included for the saturation set)."""
    with forced("small"):
        got = annotate(variants[name], bundle)
    assert_frame_equal(got, annotated[name])


@pytest.mark.parametrize("name", [*SAMPLES, "intergenic_mixed"])
def test_annotate_summarise_in_realtime_call_sizes(bundle, variants, name):
    """Every variant of a sample, in consecutive calls of 1 to 32 variants; summarise on each call's frame."""
    for i, call in enumerate(batches(variants[name], seed=len(name))):
        want, got = both(annotate, call, bundle)
        same(got, want, f"annotate call {i}")
        want_s, got_s = both(summarise, want)
        same(got_s, want_s, f"summarise call {i}")


def test_annotate_one_variant_at_a_time(bundle, variants):
    """Single-variant calls (the realtime request), drawn from every sample."""
    rng = random.Random(5)
    for name, v in variants.items():
        for i in sorted(rng.sample(range(v.height), min(v.height, 400))):
            want, got = both(annotate, v.slice(i, 1), bundle)
            same(got, want, f"{name} variant {i}")


def synthetic_edge_variants(bundle, n: int = 3000, seed: int = 17) -> pl.DataFrame:
    """Reference-true variants placed where the rules branch: around exon boundaries (splice sites and
    regions), CDS start / end, transcript ends, anywhere within 5 kb; SNVs, MNVs, deletions of 1-80 bases
    (some across whole exons or short transcripts), insertions of 1-12 bases and delins."""
    rng = random.Random(seed)
    ex, tx = bundle.exons, bundle.transcripts
    anchors = (ex["start"].to_list() + ex["end"].to_list() + tx["cds_start"].drop_nulls().to_list()
               + tx["cds_end"].drop_nulls().to_list() + tx["start"].to_list() + tx["end"].to_list())
    text, first = bundle.contig_text("21")
    rows = []
    while len(rows) < n:
        p = rng.choice(anchors) + rng.randint(-20, 20) if rng.random() < 0.8 else rng.choice(anchors) + rng.randint(-6000, 6000)
        kind = rng.choice(["snv", "mnv", "del", "del", "ins", "ins", "delins", "longdel"])
        ref = text[p - first: p - first + {"snv": 1, "mnv": rng.randint(2, 4), "del": rng.randint(2, 12),
                                             "longdel": rng.randint(13, 80), "ins": 1, "delins": rng.randint(2, 6)}[kind]]
        if not ref or "N" in ref:
            continue
        if kind in ("snv", "mnv"):
            alt = "".join(rng.choice([b for b in "ACGT" if b != x]) for x in ref)
        elif kind in ("del", "longdel"):
            alt = ref[0]
        elif kind == "ins":
            alt = ref + "".join(rng.choice("ACGT") for _ in range(rng.randint(1, 12)))
        else:
            alt = "".join(rng.choice("ACGT") for _ in range(rng.randint(1, 7)))
            if alt == ref:
                continue
        rows.append(("21", p, ref, alt))
    return pl.DataFrame(rows, schema={"chrom": pl.Utf8, "pos": pl.Int64, "ref": pl.Utf8, "alt": pl.Utf8},
                        orient="row").with_row_index("row")


def test_annotate_synthetic_edge_variants(bundle):
    """Beyond the real sets: variants placed on the boundaries the location and HGVS rules branch on,
    annotated whole and in calls of 1-32, with summarise and order_by_severity."""
    v = synthetic_edge_variants(bundle)
    want, got = both(annotate, v, bundle)
    same(got, want, "whole")
    terms = set(",".join(want["Consequence"].to_list()).split(","))
    assert {"splice_acceptor_variant", "splice_donor_variant", "frameshift_variant", "start_lost", "stop_lost",
            "inframe_insertion", "protein_altering_variant"} <= terms, terms
    for i, call in enumerate(batches(v, seed=23)):
        want, got = both(annotate, call, bundle)
        same(got, want, f"call {i}")
        want_s, got_s = both(summarise, want)
        same(got_s, want_s, f"summarise call {i}")
        scored = want_s.with_columns(pl.Series("pathogenicity_score", [((r * 7) % 5) / 4 for r in range(want_s.height)],
                                               dtype=pl.Float64))
        want_o, got_o = both(order_by_severity, scored)
        same(got_o, want_o, f"order call {i}")


def test_locate_stacked_scan_equals_per_candidate_scan(bundle, variants, monkeypatch):
    """`_locate` scans a pair's three candidate exons at once for a few pairs and one at a time for many:
    both give the same arrays on every pair of the saturation set and the synthetic boundary variants."""
    import numpy as np

    import hcml.genomics.annotate as A
    import hcml.genomics.annotate.location as L

    idx = A.TranscriptIndex.of(bundle)
    for frame in (variants["saturation"], synthetic_edge_variants(bundle, n=5000, seed=4)):
        v = A.vep_alleles(frame)
        vs, ve = v["vstart"].to_numpy().astype(np.int64), v["vend"].to_numpy().astype(np.int64)
        ins, dl = (v["vref"] == "-").to_numpy(), (v["valt"] == "-").to_numpy()
        vi, t = A._pairs(v["chrom"].to_numpy().astype(str), vs, ve, idx)
        monkeypatch.setattr(L, "_STACK_PAIRS", 0)
        one_at_a_time = A._locate(idx, vi, t, vs, ve, ins, dl)
        monkeypatch.setattr(L, "_STACK_PAIRS", len(vi))
        stacked = A._locate(idx, vi, t, vs, ve, ins, dl)
        assert len(vi) > 10_000 and one_at_a_time.keys() == stacked.keys()
        for k, a in one_at_a_time.items():
            assert a.dtype == stacked[k].dtype and np.array_equal(a, stacked[k]), k


@pytest.mark.parametrize("name", [*SAMPLES, "intergenic_mixed"])
def test_summarise_whole_sample(annotated, name):
    want, got = both(summarise, annotated[name])
    assert_frame_equal(got, want)


def test_annotate_input_shapes(bundle, variants):
    """'chr'-prefixed contigs, no row / variant_id columns, an empty frame, a duplicated variant."""
    v = variants["HG00096"].head(20)
    shapes = {
        "chr prefix": v.with_columns(pl.lit("chr21").alias("chrom")),
        "no row, no id": v.select("chrom", "pos", "ref", "alt"),
        "empty": v.clear(),
        "duplicated": pl.concat([v.head(3), v.head(3)]).with_columns(pl.int_range(6, dtype=pl.UInt32).alias("row")),
    }
    for label, frame in shapes.items():
        want, got = both(annotate, frame, bundle)
        same(got, want, label)
        if frame.height:
            want_s, got_s = both(summarise, want)
            same(got_s, want_s, label)


def test_order_by_severity_ties_and_missing_scores(bundle, variants):
    """Severity first, then the score (descending; null last, NaN as polars sorts it), then row; an
    unknown consequence ranks last."""
    with forced("vectorised"):
        summary = summarise(annotate(variants["clinvar"].head(300), bundle))
    rng = random.Random(3)
    scores = [rng.choice([None, math.nan, 0.5, 0.25, rng.random()]) for _ in range(summary.height)]
    msc = summary["most_severe_consequence"].to_list()
    msc[:3] = ["not_an_so_term", None, msc[3]]
    frame = summary.with_columns(pl.Series("pathogenicity_score", scores, dtype=pl.Float64),
                                 pl.Series("most_severe_consequence", msc, dtype=pl.Utf8))
    for call in [frame, frame.head(1), frame.head(7), frame.clear(),
                 frame.with_columns(pl.lit(1, pl.Int32).alias("severity_rank"))]:
        want, got = both(order_by_severity, call)
        assert_frame_equal(got, want)
        assert_frame_equal(want, polars_sorted(call))


def polars_sorted(summary: pl.DataFrame) -> pl.DataFrame:
    """The order written down again with polars' own sort (a second computation, not hcml's code): SO rank
    (unknown or missing term last), score descending with polars' NaN / null placement, row."""
    from hcml.genomics.consequences import SEVERITY_RANK

    worst = max(SEVERITY_RANK.values()) + 1
    ranked = summary.drop("severity_rank", strict=False).with_columns(
        pl.col("most_severe_consequence").replace_strict(SEVERITY_RANK, default=worst, return_dtype=pl.Int32)
        .fill_null(worst).alias("severity_rank"))
    return ranked.sort(["severity_rank", "pathogenicity_score", "row"], descending=[False, True, False],
                       nulls_last=True, maintain_order=True)


def test_interpret_with_the_bundled_scorer(bundle, variants):
    """The whole interpretation (annotations, scored and ordered summary) in realtime call sizes."""
    from hcml.genomics.inputs import ParsedInput
    from hcml.ml.serving import load_bundled

    scorer = load_bundled()

    def Parsed(frame: pl.DataFrame) -> ParsedInput:  # noqa: N802
        return ParsedInput(variants=frame, rejects=pl.DataFrame(), n_input=frame.height)

    for name, v in variants.items():
        calls = list(batches(v, seed=11, max_size=32))
        if name == "saturation":
            calls = random.Random(2).sample(calls, 400)
        for i, call in enumerate(calls):
            for s in (scorer, None):  # None: no model, a null score column
                want, got = both(interpret, Parsed(call), bundle, s)
                same(got.annotations, want.annotations, f"{name} call {i} annotations")
                same(got.summary, want.summary, f"{name} call {i} summary")


def test_switch_follows_the_number_of_variants(bundle, variants, monkeypatch):
    """Unforced, each step takes its twin for up to HCML_SMALL_INPUT_MAX variants (summarise counts the
    variants of its annotation rows, not the rows) and the vectorised form above."""
    import hcml.genomics.annotate.summary as S
    import hcml.interpret as I

    monkeypatch.setenv("HCML_SMALL_PATH", "auto")  # whatever --small-path the session runs with
    monkeypatch.setenv("HCML_SMALL_INPUT_MAX", "32")
    assert CHUNK_VARIANTS > 32
    taken = []
    for mod, name in ((S, "_summarise_small"), (I, "_order_small")):
        monkeypatch.setattr(mod, name, lambda frame, _f=getattr(mod, name), _n=name: taken.append(_n) or _f(frame))
    v = variants["HG00096"]
    for n, small in ((1, True), (32, True), (33, False), (100, False)):
        taken.clear()
        ann = annotate(v.head(n), bundle)
        summary = summarise(ann)
        assert ann.height > n and summary.height == n
        order_by_severity(summary.with_columns(pl.lit(0.5).alias("pathogenicity_score")))
        assert taken == (["_summarise_small", "_order_small"] if small else []), n
    monkeypatch.setenv("HCML_SMALL_INPUT_MAX", "0")
    taken.clear()
    summarise(annotate(v.head(1), bundle))
    assert taken == []


def test_the_path_setting_forces_every_call(monkeypatch):
    """HCML_SMALL_PATH (what `pytest --small-path` sets): `on` / `off` win over the size rule, `auto` is the
    size rule, `forced()` wins over the setting, and a bad value is named."""
    from hcml.small_inputs import use_small_path

    monkeypatch.setenv("HCML_SMALL_INPUT_MAX", "32")
    expected = {"auto": [False, True, True, False], "on": [True] * 4, "off": [False] * 4}
    for setting, want in expected.items():
        monkeypatch.setenv("HCML_SMALL_PATH", setting)
        assert [use_small_path(n) for n in (0, 1, 32, 33)] == want, setting
    monkeypatch.setenv("HCML_SMALL_PATH", "off")
    with forced("small"):
        assert use_small_path(10_000)
    monkeypatch.setenv("HCML_SMALL_PATH", "sometimes")
    with pytest.raises(ValueError, match="HCML_SMALL_PATH must be auto, on or off"):
        use_small_path(1)


def polars_summary(annotations: pl.DataFrame) -> pl.DataFrame:
    """summarise's pick written down again with polars' own sort (a second computation): per row, the first
    SO term's rank (unknown after known, missing last), canonical first, protein-coding first, Feature."""
    from hcml.genomics.annotate import SUMMARY_FROM
    from hcml.genomics.consequences import SEVERITY_RANK, TERMS

    a = annotations.with_columns(
        _rank=pl.col("Consequence").str.split(",").list.first().replace_strict(SEVERITY_RANK, default=len(TERMS)),
        _canon=(pl.col("CANONICAL") == "YES").fill_null(False),
        _pc=(pl.col("BIOTYPE") == "protein_coding").fill_null(False),
    ).sort(["row", "_rank", "_canon", "_pc", "Feature"], descending=[False, False, True, True, False],
           nulls_last=True, maintain_order=True)
    return a.filter(pl.col("row").is_first_distinct()).select(pl.col(src).alias(name) for name, src in SUMMARY_FROM)


def test_summarise_picks_as_a_polars_sort(annotated):
    """Both forms of summarise pick the row a polars sort on the same keys puts first, on every real sample
    (ties between transcripts of one variant are common: the canonical / protein-coding / id keys decide)."""
    for name, ann in annotated.items():
        want = polars_summary(ann)
        for got in both(summarise, ann):
            same(got, want, name)
