"""Cost attribution end to end: real steps measured by measure_usage() in attributed Dagster runs, then
`analysis_costs` and `chargeback_report` from the instance's event log, checked against the usage the
steps recorded priced by hand from the rate card file, and the budget alert."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
import yaml
from click.testing import CliRunner
from prometheus_client import REGISTRY

from assets.costs import BUDGET_CHECK, MONTH_TO_DATE_CHECK, analysis_costs, chargeback_report
from hcml.config import REPO_ROOT, default_sources
from hcml.cost.usage import measure_usage
from hcml.storage import read_uri

GIB = 1024**3
RUNS = [  # (tags, assets to materialize)
    (
        {"hcml/department": "clinical-genetics", "hcml/project": "rare-disease", "hcml/user": "alice",
         "hcml/analysis": "A-001"},
        ["clinvar_chr21_variants", "cpu_burn", "clinvar_gene_counts"],
    ),
    (
        {"hcml/department": "oncology", "hcml/project": "tumour-board", "hcml/user": "bob", "hcml/analysis": "A-002"},
        ["clinvar_chr21_variants"],
    ),
    ({"hcml/department": "oncology"}, ["cpu_burn"]),  # partly attributed: the rest is `unattributed`
    ({}, ["cpu_burn"]),  # not attributed at all: counted, never dropped
]
EXPECTED_ATTRIBUTION = [
    ("clinical-genetics", "rare-disease", "alice", "A-001"),
    ("oncology", "tumour-board", "bob", "A-002"),
    ("oncology", "unattributed", "unattributed", "unattributed"),
    ("unattributed", "unattributed", "unattributed", "unattributed"),
]


def _test_assets(out_dir: Path) -> list[dg.AssetsDefinition]:
    @dg.asset
    def clinvar_chr21_variants() -> dg.MaterializeResult:
        """Real work on real data: the chr21 ClinVar records of the shipped ClinVar file, to Parquet."""
        with measure_usage() as usage:
            frame = pl.read_csv(default_sources()["clinvar"], separator="\t", infer_schema_length=0)
            chr21 = frame.filter(pl.col("chrom_grch38") == "21")
            chr21.write_parquet(out_dir / f"clinvar_chr21_{time.time_ns()}.parquet")
        return dg.MaterializeResult(metadata={"dagster/row_count": chr21.height, **usage.as_metadata()})

    @dg.asset
    def cpu_burn() -> dg.MaterializeResult:
        with measure_usage() as usage:
            start = time.process_time()
            while time.process_time() - start < 0.3:
                pass
        return dg.MaterializeResult(metadata=usage.as_metadata())

    @dg.asset(io_manager_key="parquet_files")
    def clinvar_gene_counts(context) -> pl.DataFrame:
        """Returns its output: the IO manager stores it after the measured block and reports the bytes."""
        with measure_usage() as usage:
            frame = pl.read_csv(default_sources()["clinvar"], separator="\t", infer_schema_length=0)
            counts = frame.group_by("symbol").len()
        context.add_output_metadata(usage.as_metadata())
        return counts

    return [clinvar_chr21_variants, cpu_burn, clinvar_gene_counts]


class ParquetFiles(dg.ConfigurableIOManager):
    """Writes each output as a Parquet file and reports its size as `hcml/stored_bytes`."""

    root: str

    def handle_output(self, context: dg.OutputContext, obj: pl.DataFrame) -> None:
        path = Path(self.root) / f"{context.asset_key.to_user_string()}_{time.time_ns()}.parquet"
        obj.write_parquet(path)
        context.add_output_metadata({"hcml/stored_bytes": path.stat().st_size, "path": str(path)})

    def load_input(self, context: dg.InputContext) -> pl.DataFrame:
        raise NotImplementedError


def _hand_price(metadata: dict, prices: dict) -> float:
    """The rate card's formulas, written out independently of hcml.cost.rate_card."""
    return (
        metadata["hcml/cpu_seconds"] / 3600 * prices["vcpu_hour"]
        + metadata["hcml/peak_memory_bytes"] / GIB * metadata["hcml/wall_seconds"] / 3600 * prices["memory_gib_hour"]
        + (metadata["hcml/bytes_written"] + metadata.get("hcml/stored_bytes", 0)) / GIB * prices["storage_gb_month"]
        * prices.get("storage_months", 1.0)
        + (metadata["hcml/bytes_read"] + metadata["hcml/bytes_written"] + metadata.get("hcml/stored_bytes", 0)) / GIB
        * prices.get("io_per_gb", 0.0)
    )


@pytest.fixture(scope="module")
def costed(tmp_path_factory):
    """Four attributed runs of real steps, then analysis_costs for their day, on a fresh instance."""
    home = tmp_path_factory.mktemp("dagster_home")
    data = tmp_path_factory.mktemp("hcml_data")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HCML_DATA_DIR", str(data))
        for name in ("HCML_AZURE_STORAGE_CONNECTION_STRING", "HCML_AZURE_STORAGE_ACCOUNT_URL", "HCML_RATE_CARD",
                     "HCML_BUDGETS", "HCML_PROMETHEUS_PUSHGATEWAY"):
            mp.delenv(name, raising=False)
        with dg.instance_for_test(temp_dir=str(home)) as instance:
            steps = _test_assets(data)
            recorded = []  # (attribution, asset, usage metadata as the step's run reported it)
            for (tags, selection), attribution in zip(RUNS, EXPECTED_ATTRIBUTION):
                result = dg.materialize(steps, instance=instance, tags=tags, selection=selection,
                                        resources={"parquet_files": ParquetFiles(root=str(data))})
                assert result.success
                records = instance.get_records_for_run(
                    result.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
                ).records
                assert len(records) == len(selection)
                for record in records:
                    materialization = record.event_log_entry.asset_materialization
                    metadata = {k: v.value for k, v in materialization.metadata.items() if k.startswith("hcml/")}
                    if "path" in materialization.metadata:  # what the IO manager stored, measured independently
                        assert metadata["hcml/stored_bytes"] == Path(materialization.metadata["path"].value).stat().st_size
                    recorded.append(
                        (attribution, materialization.asset_key.to_user_string(), metadata, record.event_log_entry.timestamp)
                    )
            day = datetime.fromtimestamp(recorded[-1][3], tz=timezone.utc).strftime("%Y-%m-%d")
            metric = {"department": "oncology"}
            before = {name: REGISTRY.get_sample_value(name, metric) or 0.0
                      for name in ("hcml_analysis_cost_count", "hcml_analysis_cost_sum")}
            costs_result = dg.materialize([analysis_costs], instance=instance, partition_key=day)
            observed = {name: (REGISTRY.get_sample_value(name, metric) or 0.0) - value for name, value in before.items()}
            yield {
                "instance": instance, "home": home, "data": data, "day": day, "recorded": recorded,
                "steps": steps, "costs_result": costs_result, "mp": mp, "observed": observed,
            }


def _day_table(costed) -> pl.DataFrame:
    metadata = costed["costs_result"].asset_materializations_for_node("analysis_costs")[0].metadata
    return pl.read_parquet(read_uri(metadata["dagster/uri"].value))


def test_steps_measured_real_work(costed, sources) -> None:
    for _attribution, asset, metadata, _ts in costed["recorded"]:
        if asset == "cpu_burn":
            assert metadata["hcml/cpu_seconds"] >= 0.29
        elif asset == "clinvar_gene_counts":
            assert metadata["hcml/bytes_read"] >= sources["clinvar"].stat().st_size
            assert metadata["hcml/stored_bytes"] > 0
        else:  # read the whole ClinVar file and wrote a Parquet file
            assert metadata["hcml/bytes_read"] >= sources["clinvar"].stat().st_size
            assert metadata["hcml/bytes_written"] > 0
            assert metadata["hcml/peak_memory_bytes"] > 50 * 1024 * 1024


def test_one_row_per_materialization_attributed_from_run_tags(costed) -> None:
    table = _day_table(costed)
    day = costed["day"]
    expected = [r for r in costed["recorded"] if datetime.fromtimestamp(r[3], tz=timezone.utc).strftime("%Y-%m-%d") == day]
    assert table.height == len(expected)
    got = sorted(table.select("department", "project", "user", "analysis", "asset_key").rows())
    assert got == sorted((*attribution, asset) for attribution, asset, _m, _t in expected)
    assert table["measured"].all()


def test_usage_and_cost_match_the_recorded_metadata_priced_by_hand(costed) -> None:
    prices = yaml.safe_load((REPO_ROOT / "config" / "rate_card.yaml").read_text())["prices"]
    table = _day_table(costed).sort("timestamp")
    expected = sorted(costed["recorded"], key=lambda r: r[3])[-table.height:]
    total = 0.0
    for row, (_attribution, asset, metadata, _ts) in zip(table.iter_rows(named=True), expected):
        assert row["asset_key"] == asset
        assert row["cpu_seconds"] == pytest.approx(metadata["hcml/cpu_seconds"])
        assert row["wall_seconds"] == pytest.approx(metadata["hcml/wall_seconds"])
        assert row["peak_memory_bytes"] == metadata["hcml/peak_memory_bytes"]
        assert row["bytes_read"] == metadata["hcml/bytes_read"]
        assert row["bytes_written"] == metadata["hcml/bytes_written"]
        assert row["stored_bytes"] == metadata.get("hcml/stored_bytes", 0)
        assert row["cost"] == pytest.approx(_hand_price(metadata, prices), rel=1e-9)
        total += _hand_price(metadata, prices)
    summary = costed["costs_result"].asset_materializations_for_node("analysis_costs")[0].metadata
    assert summary["total_cost"].value == pytest.approx(total, rel=1e-9)
    assert summary["currency"].value == "USD"


def test_prometheus_cost_per_analysis(costed) -> None:
    oncology = _day_table(costed).filter(pl.col("department") == "oncology")
    assert costed["observed"]["hcml_analysis_cost_count"] == oncology["analysis"].n_unique() == 2
    assert costed["observed"]["hcml_analysis_cost_sum"] == pytest.approx(oncology["cost"].sum(), rel=1e-9)


def test_csv_table_matches_parquet(costed) -> None:
    metadata = costed["costs_result"].asset_materializations_for_node("analysis_costs")[0].metadata
    csv = pl.read_csv(read_uri(metadata["csv_uri"].value))
    assert csv["cost"].sum() == pytest.approx(_day_table(costed)["cost"].sum(), rel=1e-9)


def test_chargeback_adds_up_and_budget_passes(costed) -> None:
    month = costed["day"][:8] + "01"
    result = dg.materialize([analysis_costs, chargeback_report], instance=costed["instance"], partition_key=month,
                            selection=["chargeback_report"])
    assert result.success
    metadata = result.asset_materializations_for_node("chargeback_report")[0].metadata
    uris = metadata["table_uris"].value
    departments = pl.read_parquet(read_uri(uris["departments"]))
    projects = pl.read_parquet(read_uri(uris["projects"]))
    # The month so far on this instance: the test steps plus analysis_costs' own measured (unattributed) run.
    prices = yaml.safe_load((REPO_ROOT / "config" / "rate_card.yaml").read_text())["prices"]
    own = costed["costs_result"].asset_materializations_for_node("analysis_costs")[0].metadata
    own_usage = {k: v.value for k, v in own.items() if k.startswith("hcml/")}
    priced = [(attribution, _hand_price(m, prices)) for attribution, _asset, m, _t in costed["recorded"]]
    priced.append((("unattributed",) * 4, _hand_price(own_usage, prices)))
    total = sum(cost for _a, cost in priced)
    assert metadata["total_cost"].value == pytest.approx(total, rel=1e-9)
    assert departments["cost"].sum() == pytest.approx(total, rel=1e-9)
    assert projects["cost"].sum() == pytest.approx(total, rel=1e-9)
    for department in ("clinical-genetics", "oncology", "unattributed"):
        got = departments.filter(pl.col("department") == department)["cost"].sum()
        assert got == pytest.approx(sum(c for a, c in priced if a[0] == department), rel=1e-9)
    by_analysis = {}
    for attribution, cost in priced:
        by_analysis[attribution[3]] = by_analysis.get(attribution[3], 0.0) + cost
    assert sum(by_analysis.values()) == pytest.approx(departments["cost"].sum(), rel=1e-9)
    top = pl.read_parquet(read_uri(uris["top_analyses"]))
    assert dict(zip(top["analysis"], top["cost"])) == pytest.approx(by_analysis, rel=1e-9)
    oncology = departments.filter(pl.col("department") == "oncology").row(0, named=True)
    assert oncology["analyses"] == 2  # A-002 and the unattributed one
    assert oncology["cost_per_analysis"] == pytest.approx(oncology["cost"] / 2, rel=1e-9)
    assert oncology["previous_cost"] == 0.0 and oncology["change_pct"] is None
    html = read_uri(metadata["html_uri"].value).decode()
    assert "data:image/png;base64," in html and "oncology" in html and "rare-disease" in html
    assert "src=\"http" not in html and "<script" not in html  # self-contained
    (evaluation,) = result.get_asset_check_evaluations()
    assert evaluation.check_name == BUDGET_CHECK and evaluation.passed
    assert REGISTRY.get_sample_value("hcml_department_spend", {"department": "oncology"}) == pytest.approx(
        oncology["cost"], rel=1e-9)
    assert REGISTRY.get_sample_value("hcml_department_budget", {"department": "oncology"}) == 300.0


def test_budget_alert_fails_blocking_check(costed, tmp_path) -> None:
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text(yaml.safe_dump({"currency": "USD", "monthly": {"oncology": 1e-9, "research": 100.0}}))
    costed["mp"].setenv("HCML_BUDGETS", str(budgets))
    try:

        @dg.asset(partitions_def=chargeback_report.partitions_def, deps=[chargeback_report])
        def invoice_export() -> None:
            """Downstream of the report: must not run when the budget alert fails."""

        month = costed["day"][:8] + "01"
        result = dg.materialize([analysis_costs, chargeback_report, invoice_export], instance=costed["instance"],
                                partition_key=month, selection=["chargeback_report", "invoice_export"],
                                raise_on_error=False)
        day_result = dg.materialize([analysis_costs], instance=costed["instance"], partition_key=costed["day"])
    finally:
        costed["mp"].delenv("HCML_BUDGETS")
    (evaluation,) = result.get_asset_check_evaluations()
    assert evaluation.check_name == BUDGET_CHECK
    assert not evaluation.passed
    assert evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert "oncology spent" in evaluation.description and "research" not in evaluation.description
    assert evaluation.metadata["over_budget"].value == ["oncology"]
    assert not result.asset_materializations_for_node("invoice_export")  # blocked
    (early,) = day_result.get_asset_check_evaluations()  # the daily month-to-date warning sees it too
    assert early.check_name == MONTH_TO_DATE_CHECK and not early.passed
    assert early.severity == dg.AssetCheckSeverity.WARN


def test_cli_report_reads_the_instance(costed) -> None:
    from hcml.cli import main

    env = {"DAGSTER_HOME": str(costed["home"]), "HCML_DATA_DIR": str(costed["data"])}
    month = costed["day"][:7]
    runner = CliRunner()
    answer = runner.invoke(main, ["costs", "report", "--month", month, "--format", "json"], env=env)
    assert answer.exit_code == 0, answer.output
    report = json.loads(answer.output[answer.output.index("{"):])
    instance_rows = pl.DataFrame(report["rows"])
    assert set(instance_rows["department"]) >= {"clinical-genetics", "oncology", "unattributed"}
    # the instance now also holds the cost assets' own (measured, unattributed) materializations
    assert report["total"] >= _day_table(costed)["cost"].sum()
    by_analysis = runner.invoke(main, ["costs", "report", "--month", month, "--by", "analysis", "--format", "json"],
                                env=env)
    rows = json.loads(by_analysis.output[by_analysis.output.index("{"):])["rows"]
    assert sum(r["cost"] for r in rows) == pytest.approx(report["total"], rel=1e-9)
    assert {"A-001", "A-002", "unattributed"} <= {r["analysis"] for r in rows}
    table = runner.invoke(main, ["costs", "report", "--month", month], env=env)
    assert table.exit_code == 0 and "clinical-genetics" in table.output
    bad = runner.invoke(main, ["costs", "report", "--month", "2026-13"], env=env)
    assert bad.exit_code == 2 and "YYYY-MM" in bad.output
