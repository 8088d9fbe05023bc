"""What changed for the clinician between two reports of the same sample: per variant, its ClinVar
significance, pathogenicity score band or ACMG/AMP class. Added to the new report as `changes_since_previous`."""

from __future__ import annotations

# score band edges: below 0.2 "low", below 0.8 "intermediate", else "high" (a move across an edge is reported;
# a score drifting inside a band is not news for the clinician)
SCORE_BAND_EDGES = ((0.2, "low"), (0.8, "intermediate"))
HIGH = "high"
# clinvar_significance is VEP's CLIN_SIG (its cache value first); clinvar_release_significance follows the release
COMPARED = ("clinvar_significance", "clinvar_release_significance", "score_band", "acmg_class")

CHANGES_SCHEMA: dict = {
    "type": "object",
    "required": ["previous_report", "n_changed", "variants"],
    "properties": {
        "previous_report": {"type": "object", "required": ["generated_at", "content_sha256"]},
        "n_changed": {"type": "integer", "minimum": 0},
        "variants": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["variant", "changes"],
                "properties": {
                    "changes": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["field", "before", "after"],
                            "properties": {"field": {"enum": list(COMPARED)}},
                        },
                    }
                },
            },
        },
    },
}


def score_band(score: float | None) -> str | None:
    if score is None:
        return None
    for edge, name in SCORE_BAND_EDGES:
        if score < edge:
            return name
    return HIGH


def variant_key(v: dict) -> str:
    return f"{v['chrom']}-{v['pos']}-{v['ref']}-{v['alt']}"


def _compared(v: dict) -> dict:
    return {
        "clinvar_significance": v.get("clinvar_significance") or None,
        "clinvar_release_significance": v.get("clinvar_release_significance") or None,
        "score_band": score_band(v.get("pathogenicity_score")),
        "acmg_class": v.get("acmg_class") or None,
    }


def _release(report: dict) -> str | None:
    return ((report.get("provenance") or {}).get("reference_bundle", {}).get("sources", {}).get("clinvar") or {}).get(
        "version"
    )


def report_changes(previous: dict, current: dict) -> dict:
    """The `changes_since_previous` section of `current`: variants of both reports whose compared fields
    differ, and variants only one of them has (added / removed, e.g. after a reader fix)."""
    before = {variant_key(v): v for v in previous.get("variants", [])}
    after = {variant_key(v): v for v in current.get("variants", [])}
    variants = []
    for key in sorted(before.keys() | after.keys()):
        old, new = before.get(key), after.get(key)
        old_fields = _compared(old) if old else dict.fromkeys(COMPARED)
        new_fields = _compared(new) if new else dict.fromkeys(COMPARED)
        changes = [
            {"field": f, "before": old_fields[f], "after": new_fields[f]}
            for f in COMPARED
            if old_fields[f] != new_fields[f]
        ]
        if changes:
            gene = (new or old or {}).get("gene")
            status = "changed" if old and new else ("added" if new else "removed")
            variants.append({"variant": key, "gene": gene, "status": status, "changes": changes})
    prev_model = (previous.get("provenance") or {}).get("model") or {}
    return {
        "previous_report": {
            "generated_at": previous.get("generated_at"),
            "content_sha256": (previous.get("integrity") or {}).get("content_sha256"),
            "clinvar_release": _release(previous),
            "model_version": prev_model.get("version"),
        },
        "clinvar_release": _release(current),
        "model_version": ((current.get("provenance") or {}).get("model") or {}).get("version"),
        "n_changed": len(variants),
        "variants": variants,
    }
