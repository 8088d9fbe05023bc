"""Running the graph outside the UI: what `hcml demo` does, on whatever Dagster instance is current."""

from __future__ import annotations

import datetime as _dt
import getpass
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from hcml.provenance import sha256_bytes
from resources import tags
from resources.jobs import SAMPLE_ASSET_KEYS, sample_run_config
from resources.metadata import latest_materialization
from resources.partitions import samples_partitions
from resources.submissions import plan_partitions

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


class PipelineError(RuntimeError):
    """A run failed; the message names the step and where to look."""


@dataclass
class Outcome:
    reports: dict[str, dict] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    cohort_uri: str | None = None
    run_ids: list[str] = field(default_factory=list)


def _latest(instance: dg.DagsterInstance, key: str, partition: str | None = None) -> dict | None:
    latest = latest_materialization(instance, key, partition)
    return latest[0] if latest else None


def _selections(defs: dg.Definitions) -> tuple[set, set, set]:
    """Unpartitioned assets the samples need (bundle, model), those after them (cohort), and the cost assets."""
    graph = defs.resolve_asset_graph()
    sample_keys = {dg.AssetKey(k) for k in SAMPLE_ASSET_KEYS}
    downstream = dg.AssetSelection.assets(*sample_keys).downstream().resolve(graph)
    upstream = dg.AssetSelection.assets(*sample_keys).upstream().resolve(graph)
    unpartitioned = {
        k for k in graph.get_all_asset_keys() if graph.get(k).is_materializable and graph.get(k).partitions_def is None
    }
    before = (unpartitioned & upstream) - downstream
    after = unpartitioned & downstream
    costs = {k for k in graph.get_all_asset_keys() if k.to_user_string() in ("analysis_costs", "chargeback_report")}
    return before, after, costs


def _materialize(defs, selection, instance, *, partition_key=None, run_config=None, run_tags=None, what=""):
    assets = list(defs.assets or []) + list(defs.asset_checks or [])
    config = {**QUIET, **(run_config or {})}
    result = dg.materialize(
        assets,
        selection=list(selection),
        instance=instance,
        resources=defs.resources,
        partition_key=partition_key,
        run_config=config,
        tags=run_tags,
        raise_on_error=False,
    )
    if not result.success:
        failures = [e for e in result.all_events if e.is_step_failure]
        detail = "; ".join(f"{e.step_key}: {_root_cause(e.step_failure_data.error)}" for e in failures)
        checks = [c for c in result.get_asset_check_evaluations() if not c.passed]
        detail += "".join(f"; check {c.asset_key.to_user_string()}:{c.check_name} failed" for c in checks)
        detail = detail.strip("; ") or "see the run in the Dagster UI"
        raise PipelineError(f"{what} failed (run {result.run_id}): {detail}")
    return result


def _any_stale(instance: dg.DagsterInstance, defs: dg.Definitions, keys: set) -> bool:
    """Whether any asset has no materialization, or only one made by another code version."""
    graph = defs.resolve_asset_graph()
    for key in keys:
        records = instance.fetch_materializations(key, limit=1).records
        if not records:
            return True
        tags = records[0].asset_materialization.tags or {}
        if tags.get("dagster/code_version") != graph.get(key).code_version:
            return True
    return False


def _root_cause(error) -> str:
    if error is None:
        return "failed"
    while error.cause is not None:
        error = error.cause
    return error.message.strip()


def run_demo(
    paths: list[Path],
    force: bool = False,
    say: Callable[[str], None] = print,
    instance: dg.DagsterInstance | None = None,
    defs: dg.Definitions | None = None,
    models: bool = True,
) -> Outcome:
    """Reference (+ model) assets, then each sample's chain, then cohort and cost assets, in `instance`."""
    if defs is None:
        from hcml_dagster.definitions import defs
    instance = instance or dg.DagsterInstance.get()
    before, after, costs = _selections(defs)
    bundle_key = dg.AssetKey("reference_bundle")
    model_keys = before - {bundle_key}
    if not models:  # only what the samples need: the bundle (predictions use the current champion/bundled model)
        before = {bundle_key} & before
    note = ""
    if not models:
        note = "      model assets skipped (--no-models)"
    elif model_keys and not force and not _any_stale(instance, defs, model_keys):
        note = (
            "      model assets already materialized at their current code versions: not retrained (--force retrains)"
        )
        before = {bundle_key} & before
    run_tags = {
        tags.DEPARTMENT: "research",
        tags.PROJECT: "hcml-demo",
        tags.USER: getpass.getuser(),
        tags.ANALYSIS: "demo",
    }
    outcome = Outcome()
    steps = 2 + (1 if after else 0) + (1 if costs else 0)
    step = 0

    step += 1
    names = ", ".join(sorted(k.to_user_string() for k in before))
    say(f"[{step}/{steps}] reference data and model: {names}")
    if note:
        say(note)
    t0 = time.monotonic()
    result = _materialize(defs, before, instance, run_tags=run_tags, what="reference/model assets")
    outcome.run_ids.append(result.run_id)
    bundle = _latest(instance, "reference_bundle") or {}
    say(
        f"      done in {time.monotonic() - t0:.0f} s (bundle {str(bundle.get('bundle_sha256', ''))[:12]}, "
        f"{'rebuilt' if bundle.get('rebuilt') else 'up to date'})"
    )

    step += 1
    planned = []
    for path in paths:
        data = Path(path).read_bytes()
        uri = Path(path).resolve().as_uri()
        digest = sha256_bytes(data)  # as `sample_variants` records it (input_sha256)
        for key, sample in plan_partitions(uri, data):
            planned.append((key, sample, uri, digest))
    say(
        f"[{step}/{steps}] {len(planned)} sample partition(s): variants -> annotations -> features -> "
        "predictions -> clinical report"
    )
    from assets.annotation import current_scorer

    scorer = current_scorer()
    model = {"name": str(scorer.model_name), "version": str(scorer.model_version)}
    existing = set(instance.get_dynamic_partitions(samples_partitions.name))
    new = [key for key, *_ in planned if key not in existing]
    if new:
        instance.add_dynamic_partitions(samples_partitions.name, new)
    for i, (key, sample, uri, digest) in enumerate(planned, start=1):
        report = _latest(instance, "clinical_report", key)
        source = _latest(instance, "sample_variants", key)
        if (
            not force
            and report
            and source
            and source.get("input_sha256") == digest
            and _report_current(report, bundle.get("bundle_sha256"), model)
        ):
            say(f"      ({i}/{len(planned)}) {key}: up to date, skipped (--force re-runs it)")
            outcome.skipped.append(key)
            outcome.reports[key] = {"report_uri": report["report_uri"], "report_html_uri": report["report_html_uri"]}
            continue
        t0 = time.monotonic()
        result = _materialize(
            defs,
            [dg.AssetKey(k) for k in SAMPLE_ASSET_KEYS],
            instance,
            partition_key=key,
            run_config=sample_run_config(uri, sample),
            run_tags={**run_tags, tags.SOURCE_URI: uri},
            what=f"sample {key}",
        )
        outcome.run_ids.append(result.run_id)
        report = _latest(instance, "clinical_report", key)
        outcome.reports[key] = {"report_uri": report["report_uri"], "report_html_uri": report["report_html_uri"]}
        say(
            f"      ({i}/{len(planned)}) {key}: {report.get('n_reported')} variants reported, "
            f"{report.get('n_clinvar_pathogenic')} ClinVar pathogenic ({time.monotonic() - t0:.0f} s)"
        )

    if after:
        step += 1
        say(f"[{step}/{steps}] research: {', '.join(sorted(k.to_user_string() for k in after))}")
        result = _materialize(defs, after, instance, run_tags=run_tags, what="cohort assets")
        outcome.run_ids.append(result.run_id)
        cohort = _latest(instance, "cohort_allele_stats") or {}
        outcome.cohort_uri = cohort.get("uri")
        say(f"      {cohort.get('dagster/row_count')} alleles over {cohort.get('samples')} samples")

    if costs:
        step += 1
        today = _dt.datetime.now(_dt.UTC).date()
        say(f"[{step}/{steps}] costs: {', '.join(sorted(k.to_user_string() for k in costs))} for {today}")
        for key in sorted(costs, key=lambda k: k.to_user_string()):
            name = key.to_user_string()
            partition = today.isoformat() if name == "analysis_costs" else today.replace(day=1).isoformat()
            result = _materialize(
                defs, [key], instance, partition_key=partition, run_tags=run_tags, what=f"{name} {partition}"
            )
            outcome.run_ids.append(result.run_id)
    return outcome


def _report_current(report_meta: dict, bundle_sha256: str | None, model: dict) -> bool:
    """The stored report exists and was made from the current reference bundle and model."""
    from hcml.storage import StoreError, read_uri

    try:
        stored = json.loads(read_uri(report_meta["report_uri"]))
    except (StoreError, KeyError, ValueError):
        return False
    prov = stored.get("provenance", {})
    recorded = prov.get("model", {})
    return (
        prov.get("reference_bundle", {}).get("bundle_sha256") == bundle_sha256
        and {"name": str(recorded.get("name")), "version": str(recorded.get("version"))} == model
    )
