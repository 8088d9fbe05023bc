"""The Dagster-free rules of lineage: report diffs, impact matching, staleness and the re-analysis estimate."""

import polars as pl
import pytest

from hcml.lineage.changes import report_changes, score_band
from hcml.lineage.impact import ImpactQueryError, impact, report_ref
from hcml.lineage.reanalysis import ReanalysisConfigError, estimate_cost, settings, stale_reports


def _variant(pos, sig="pathogenic", score=0.9, acmg="Pathogenic", release_sig=None):
    return {"chrom": "21", "pos": pos, "ref": "A", "alt": "G", "gene": "APP", "clinvar_significance": sig,
            "clinvar_release_significance": release_sig or sig, "pathogenicity_score": score, "acmg_class": acmg}


def _prov(clinvar_sha="a" * 64, release="ClinVar 2016-05-20", model="3", bundle="b" * 64, input_sha="c" * 64):
    return {"input": {"sha256": input_sha}, "model": {"name": "m", "version": model},
            "reference_bundle": {"bundle_sha256": bundle, "sources": {
                "clinvar": {"sha256": clinvar_sha, "version": release}, "gtf": {"sha256": "d" * 64}}},
            "run": {"run_id": f"run-{model}-{clinvar_sha[:2]}", "report_created_at": "2026-12-03T10:00:00+00:00"}}


def test_score_bands_move_only_across_edges():
    assert [score_band(s) for s in (0.0, 0.19, 0.2, 0.79, 0.8, 1.0, None)] == [
        "low", "low", "intermediate", "intermediate", "high", "high", None]


def test_changes_name_each_moved_field_and_added_removed_variants():
    before = {"generated_at": "t0", "integrity": {"content_sha256": "x"}, "provenance": _prov(),
              "variants": [_variant(1), _variant(2, score=0.85), _variant(3), _variant(4)]}
    after = {"provenance": _prov(release="ClinVar 2016-06-30", model="4"),
             "variants": [_variant(1), _variant(2, score=0.95), _variant(3, release_sig="benign", acmg="Likely benign"),
                          _variant(5, score=0.1)]}
    changes = report_changes(before, after)
    by_key = {v["variant"]: v for v in changes["variants"]}
    assert set(by_key) == {"21-3-A-G", "21-4-A-G", "21-5-A-G"}  # 21-2: 0.85 -> 0.95 stays "high"
    assert {c["field"] for c in by_key["21-3-A-G"]["changes"]} == {"clinvar_release_significance", "acmg_class"}
    assert by_key["21-4-A-G"]["status"] == "removed" and by_key["21-5-A-G"]["status"] == "added"
    assert changes["previous_report"] == {"generated_at": "t0", "content_sha256": "x",
                                          "clinvar_release": "ClinVar 2016-05-20", "model_version": "3"}
    assert changes["clinvar_release"] == "ClinVar 2016-06-30" and changes["n_changed"] == 3


def _refs():
    old = report_ref(_prov(), partition="p1", patient="f" * 64, report_uri="u1", current=False)
    new = report_ref(_prov(clinvar_sha="e" * 64, release="ClinVar 2016-06-30"), partition="p1", patient="f" * 64,
                     report_uri="u1", current=True)
    other = report_ref(_prov(input_sha="9" * 64), partition="p2", patient=None, report_uri="u2", current=True)
    return old, new, other


def test_impact_matches_release_by_date_name_or_hash_and_inputs_by_prefix():
    old, new, other = _refs()
    refs = [old, new, other]
    assert impact(refs, "clinvar_release", "2016-05-20") == [old, other]
    assert impact(refs, "clinvar_release", "ClinVar 2016-06-30") == [new]
    assert impact(refs, "clinvar_release", "eeeeeeee") == [new]
    assert impact(refs, "input", "99999999") == [other]
    assert impact(refs, "input", "dddddddd") == refs  # every report read the same GTF
    assert impact(refs, "model_version", "3") == refs and impact(refs, "model_version", "30") == []
    with pytest.raises(ImpactQueryError, match="--input"):
        impact(refs, "input", "abc")
    with pytest.raises(ImpactQueryError, match="--bundle"):
        impact(refs, "bundle", "not-hex!")


def test_stale_current_reports_and_the_cost_estimate():
    old, new, other = _refs()
    stale = stale_reports([old, new, other], "e" * 64, None)
    assert [s.ref.partition for s in stale] == ["p2"]  # old is superseded, new already uses the release
    by_model = stale_reports([old, new, other], "e" * 64, "4")
    assert [s.ref.partition for s in by_model] == ["p1", "p2"] and "model 3 -> champion 4" in by_model[0].reasons
    priced = pl.DataFrame({"run_id": [new.run_id, new.run_id, "unrelated"], "cost": [0.25, 0.5, 7.0]})
    cost = estimate_cost(priced, by_model, "EUR")
    assert cost.per_partition == {"p1": 0.75, "p2": 0.75} and cost.unmeasured == ("p2",) and cost.total == 1.5


def test_settings_refuse_unknown_values(monkeypatch):
    monkeypatch.setenv("HCML_REANALYSIS", "sometimes")
    with pytest.raises(ReanalysisConfigError, match="HCML_REANALYSIS"):
        settings()
    monkeypatch.setenv("HCML_REANALYSIS", "on")
    monkeypatch.setenv("HCML_REANALYSIS_MAX_COST", "lots")
    with pytest.raises(ReanalysisConfigError, match="HCML_REANALYSIS_MAX_COST"):
        settings()
    monkeypatch.delenv("HCML_REANALYSIS")
    monkeypatch.delenv("HCML_REANALYSIS_MAX_COST")
    assert settings().mode == "estimate" and settings().max_cost == 10.0
