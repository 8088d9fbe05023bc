"""PP3/BP4 from the champion model's calibrated thresholds (Pejaver et al. 2022): the one contract
(`hcml.ml.evidence.model_thresholds`, info key `evidence_thresholds`) read from the bundled model's spec.json
itself, applied to real APP variants scored by the real model; BP4 withheld where splicing is implicated
(ClinGen SVI Splicing, Walker et al. 2023), the splice region judged here from the GTF (VEP's rule: within
3 exonic bases of an exon-intron boundary)."""

from __future__ import annotations

import gzip
import json

import numpy as np
import polars as pl
import pytest

from hcml.acmg.classify import classify, classify_summary, input_from_hgvs
from hcml.config import default_sources, reference_data_dir
from hcml.genomics.annotate import annotate, summarise
from hcml.genomics.inputs import parse_variant_strings
from hcml.ml.evidence import INFO_KEY, model_thresholds
from hcml.ml.serving import load_bundled, model_dir

APP_TX = "ENST00000346798"
LEVEL_CODE = {"supporting": "", "moderate": "_Moderate", "strong": "_Strong", "very_strong": "_VeryStrong"}


def _spec_thresholds() -> dict:
    """The bundled model's calibration as spec.json stores it: {side: {level: score}} (levels reached)."""
    info = json.loads((model_dir() / "spec.json").read_text())["info"]
    assert "evidence_calibration" not in info  # one key name
    return {
        side: {lvl: v["threshold"] for lvl, v in info[INFO_KEY][side].items() if v["threshold"] is not None}
        for side in ("pathogenic", "benign")
    }


def test_the_bundled_model_carries_its_calibrated_thresholds():
    expected = _spec_thresholds()
    model = load_bundled()
    assert model_thresholds(model) == expected == model.score_thresholds()
    assert expected["pathogenic"]["supporting"] > expected["benign"]["supporting"]


def _app_exons() -> list[tuple[int, int]]:
    exons = []
    with gzip.open(default_sources()["gtf"], "rt") as fh:
        for line in fh:
            f = line.split("\t")
            if len(f) > 8 and f[2] == "exon" and f'transcript_id "{APP_TX}"' in f[8]:
                exons.append((int(f[3]), int(f[4])))
    return sorted(exons)


def _splice_region(pos: int, exons: list[tuple[int, int]]) -> bool:
    """VEP's splice_region_variant on the exon side: within 3 bases of a boundary with an intron."""
    for k, (s, e) in enumerate(exons):
        if s <= pos <= e:
            return (k > 0 and pos - s < 3) or (k < len(exons) - 1 and e - pos < 3)
    return False


@pytest.fixture(scope="module")
def app_missense(bundle):
    """Saturation SNVs within 12 bases of APP-770's exon boundaries, annotated, scored by the bundled model."""
    exons = _app_exons()
    edges = [x for s, e in exons for x in (s, e)]
    with gzip.open(reference_data_dir() / "truth" / "saturation.vcf.gz", "rt") as fh:
        records = [line.split("\t")[:5] for line in fh if not line.startswith("#")]
    near = [f"{c}-{p}-{r}-{a}" for c, p, _, r, a in records if min(abs(int(p) - x) for x in edges) <= 12]
    parsed = parse_variant_strings(near, bundle)
    summary = summarise(annotate(parsed.variants, bundle)).sort("row")
    model = load_bundled()
    summary = summary.hstack([pl.Series("pathogenicity_score", model.score(summary), dtype=pl.Float64)])
    keep = (pl.col("transcript_id") == APP_TX) & (pl.col("most_severe_consequence") == "missense_variant")
    summary = summary.filter(keep)
    return summary, classify_summary(summary, bundle, model), exons


def test_pp3_bp4_at_the_calibrated_strengths_on_app_missense(app_missense):
    summary, out, exons = app_missense
    cuts = _spec_thresholds()
    seen = set()
    for i, (pos, score) in enumerate(summary.select("pos", "pathogenicity_score").iter_rows()):
        codes = [c for c in out["acmg_criteria"][i].split(", ") if c.startswith(("PP3", "BP4"))]
        path = [lvl for lvl, t in cuts["pathogenic"].items() if score >= t]
        benign = [lvl for lvl, t in cuts["benign"].items() if score <= t]
        strongest = lambda got: max(got, key=list(LEVEL_CODE).index)
        in_region = _splice_region(pos, exons)
        if path:
            expected = ["PP3" + LEVEL_CODE[strongest(path)]]
        elif benign and not in_region:
            expected = ["BP4" + LEVEL_CODE[strongest(benign)]]
        else:
            expected = []
        assert codes == expected, (pos, score, in_region, out["acmg_criteria"][i])
        if benign and in_region:
            assert any(x.startswith("BP4: in a splice region") for x in out["acmg_not_evaluated"][i]), pos
            seen.add("BP4 withheld")
        seen.update(c.split("_")[0] for c in codes)
    assert seen == {"PP3", "BP4", "BP4 withheld"}, seen  # every branch met on real variants


def test_hgvs_rows_bp4_not_evaluated_pp3_applies_never_with_pvs1(bundle):
    """Rows read from HGVS have no exon structure: BP4 is not evaluated (splicing not assessed); PP3 applies to
    a missense; a nonsense variant with PVS1 gets no PP3 whatever its score (Pejaver 2022)."""
    rows = pl.DataFrame(
        {
            "symbol": ["BRCA1", "BRCA1", "BRCA1"],
            "hgvs_c": ["NM_007294.3:c.181T>G", "NM_007294.3:c.181T>G", "NM_007294.3:c.4327C>T"],
            "hgvs_p": ["NP_009225.1:p.Cys61Gly", "NP_009225.1:p.Cys61Gly", "NP_009225.1:p.Arg1443Ter"],
        }
    )
    cuts = _spec_thresholds()
    out = classify(input_from_hgvs(rows, np.array([0.0, 1.0, 1.0])), bundle, cuts, "m")
    crit = [c.split(", ") for c in out["acmg_criteria"].to_list()]
    assert not any(c.startswith("BP4") for c in crit[0])
    assert any(x.startswith("BP4: splicing impact not assessed") for x in out["acmg_not_evaluated"][0])
    assert "PP3_Moderate" in crit[1]  # 1.0 >= the moderate threshold
    assert any(c.startswith("PVS1") for c in crit[2]) and not any(c.startswith("PP3") for c in crit[2])
    none = classify(input_from_hgvs(rows, np.array([0.0, 1.0, 1.0])), bundle, None, "m")
    assert all("PP3: model has no calibrated thresholds" in " ".join(x) for x in none["acmg_not_evaluated"].to_list())
