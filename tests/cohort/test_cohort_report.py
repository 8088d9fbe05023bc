"""`hcml cohort report`: the page's numbers against an independent reading of the VCF text, the panel and the
bundle's known frequencies (plain Python: Counter, statistics.correlation), on a small SYNTHETIC cohort drawn
from the real 1000 Genomes frequencies (bench/cohort_synth.py)."""

from __future__ import annotations

import gzip
import importlib.util
import statistics
from collections import Counter, defaultdict

import polars as pl
import pytest
from click.testing import CliRunner

from hcml.config import REPO_ROOT

SIZES = {"AFR": 50, "AMR": 30, "EAS": 40, "EUR": 40, "SAS": 40}


def _synth():
    spec = importlib.util.spec_from_file_location("cohort_synth", REPO_ROOT / "bench" / "cohort_synth.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def page(tmp_path_factory, bundle, bundle_dir):
    from hcml.cli import main

    root = tmp_path_factory.mktemp("cohort_report")
    vcf, panel = _synth().write_cohort(bundle, 800, root / "small.vcf.gz", seed=5, sizes=SIZES)
    out = root / "report.html"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HCML_BUNDLE_DIR", str(bundle_dir))
        result = CliRunner().invoke(main, ["cohort", "report", str(vcf), "--panel", str(panel), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return {"vcf": vcf, "panel": panel, "html": out.read_text(), "stats": pl.read_parquet(root / "report.stats.parquet")}


def _text_counts(vcf, panel) -> dict:
    """(pos, ref, alt) -> (AC, AN, {pop: (AC, AN)}) read from the VCF text."""
    pop_of = dict(line.split("\t") for line in panel.read_text().splitlines()[1:])
    out = {}
    with gzip.open(vcf, "rt") as fh:
        for line in fh:
            if line.startswith("##"):
                continue
            f = line.rstrip("\n").split("\t")
            if f[0] == "#CHROM":
                pops = [pop_of[s] for s in f[9:]]
                continue
            ac = an = 0
            by_pop = defaultdict(lambda: [0, 0])
            for pop, gt in zip(pops, f[9:]):
                called = [a for a in gt.replace("|", "/").split("/") if a != "."]
                dose = called.count("1")
                ac, an = ac + dose, an + len(called)
                by_pop[pop][0] += dose
                by_pop[pop][1] += len(called)
            out[(int(f[1]), f[3], f[4])] = (ac, an, dict(by_pop))
    return out


def test_spectrum(page):
    from hcml.cohort.report import AF_BINS, embedded_figures

    counts = _text_counts(page["vcf"], page["panel"])
    expected = Counter()
    for ac, an, _ in counts.values():
        if ac == 1:
            expected["singleton"] += 1
        elif ac == 2:
            expected["doubleton"] += 1
        elif ac > 2:
            for lo, hi in zip(AF_BINS, AF_BINS[1:]):
                if lo < ac / an <= hi:
                    expected[f"({lo:g}, {hi:g}]"] += 1
    got = {k: v for k, v in embedded_figures(page["html"])["spectrum"].items() if v}
    assert got == dict(expected) and sum(got.values()) > 200


def test_populations_against_known(page, bundle):
    from hcml.cohort.report import embedded_figures

    counts = _text_counts(page["vcf"], page["panel"])
    known = {
        (p, r, a): row
        for p, r, a, *row in bundle.known_variants.select(
            "pos", "ref", "alt", *[f"{pop}_AF" for pop in SIZES]
        ).iter_rows()
    }
    got = embedded_figures(page["html"])["populations"]
    assert set(got) == set(SIZES)
    for j, pop in enumerate(SIZES):
        pairs = [
            (c[2][pop][0] / c[2][pop][1], known[site][j])
            for site, c in counts.items()
            if site in known and known[site][j] is not None and c[2][pop][1]
        ]
        assert got[pop]["sites"] == len(pairs) > 500
        assert got[pop]["pearson_r"] == pytest.approx(statistics.correlation(*zip(*pairs)), abs=1e-4)
        assert got[pop]["mean_abs_diff"] == pytest.approx(statistics.fmean(abs(x - y) for x, y in pairs), abs=1e-5)


def test_consequences_and_top_genes(page):
    from hcml.cohort.report import DAMAGING_IMPACTS, RARE_AF, TOP_GENES, embedded_figures

    fig = embedded_figures(page["html"])
    rows = page["stats"].select("pos", "ref", "alt", "most_severe_consequence", "impact", "gene_symbol").rows()
    assert dict((c, n) for c, n, _ in fig["consequences"]) == dict(Counter(r[3] for r in rows))
    counts = _text_counts(page["vcf"], page["panel"])
    burden = defaultdict(lambda: [0, 0])
    for pos, ref, alt, _, impact, gene in rows:
        ac, an, _ = counts[(pos, ref, alt)]
        if gene and impact in DAMAGING_IMPACTS and 0 < ac and ac / an < RARE_AF:
            burden[gene][0] += 1
            burden[gene][1] += ac
    expected = sorted(burden.items(), key=lambda kv: (-kv[1][1], -kv[1][0], kv[0]))[:TOP_GENES]
    assert [(g[0], g[1], g[2]) for g in fig["top_genes"]] == [(g, n, ac) for g, (n, ac) in expected]
    assert expected, "the small cohort has rare damaging variants"


def test_page_is_self_contained(page):
    html = page["html"]
    assert html.count("<svg") >= 3 + len(SIZES)
    for outside in ("<link", " src=", "https://", "@import"):
        assert outside not in html
