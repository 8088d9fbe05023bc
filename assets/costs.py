"""Cost attribution and chargeback assets: thin over `hcml.cost`.

`analysis_costs` (daily) prices every asset materialization of the day from the Dagster instance's event
log: the `hcml/...` usage metadata that `hcml.cost.usage.measure_usage()` recorded in the step, and the
run's attribution tags (`resources.tags`). `chargeback_report` (monthly) turns a month of them into
tables per department and project and an HTML page; its blocking `department_budgets` check is the
budget alert. Both read the event log directly (the source of truth), so a late materialization still
counts in the month it happened, and the `hcml costs report` CLI shows the same figures without Dagster
runs.
"""

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg
import polars as pl

from assets._common import parquet_bytes, table_schema
from hcml import observability as obs
from hcml.cost import chargeback as cb
from hcml.cost.rate_card import load_budgets, load_rate_card
from hcml.cost.usage import measure_usage
from hcml.storage import open_store
from resources import tags as hcml_tags
from resources.metadata import metadata_values

COST_START_DATE = "2025-01-01"
daily_partitions = dg.DailyPartitionsDefinition(start_date=COST_START_DATE, end_offset=1)
monthly_partitions = dg.MonthlyPartitionsDefinition(start_date=COST_START_DATE, end_offset=1)

TAG_KEYS = {
    "department": hcml_tags.DEPARTMENT,
    "project": hcml_tags.PROJECT,
    "user": hcml_tags.USER,
    "analysis": hcml_tags.ANALYSIS,
}
_FETCH_PAGE = 1000
_COMMON = {
    "group_name": "costs",
    "owners": ["team:platform"],
    "tags": {"domain": "finops"},
}
BUDGET_CHECK = "department_budgets"
MONTH_TO_DATE_CHECK = "department_budgets_month_to_date"


def read_usage(instance: dg.DagsterInstance, start: datetime, end: datetime) -> pl.DataFrame:
    """Every asset materialization with a timestamp in [start, end), as `hcml.cost.chargeback.USAGE_SCHEMA` rows."""
    events = []
    for asset_key in instance.get_asset_keys():
        records_filter = dg.AssetRecordsFilter(
            asset_key=asset_key,
            after_timestamp=start.timestamp() - 1e-6,  # the filter is strict: keep events at exactly `start`
            before_timestamp=end.timestamp(),
        )
        cursor = None
        while True:
            page = instance.fetch_materializations(records_filter, limit=_FETCH_PAGE, cursor=cursor, ascending=True)
            events.extend(page.records)
            if not page.has_more:
                break
            cursor = page.cursor
    run_ids = sorted({event.run_id for event in events})
    runs = {}
    for offset in range(0, len(run_ids), 500):
        for run in instance.get_runs(filters=dg.RunsFilter(run_ids=run_ids[offset : offset + 500])):
            runs[run.run_id] = run
    rows = []
    for event in events:
        materialization = event.asset_materialization
        if materialization is None:
            continue
        run = runs.get(event.run_id)
        rows.append(
            cb.usage_record(
                storage_id=event.storage_id,
                timestamp=event.timestamp,
                run_id=event.run_id,
                job_name=run.job_name if run else None,
                asset_key=materialization.asset_key.to_user_string(),
                partition=materialization.partition,
                tags=run.tags if run else {},
                metadata=metadata_values(materialization.metadata),
                tag_keys=TAG_KEYS,
            )
        )
    return cb.usage_frame(rows)


def _csv_bytes(frame: pl.DataFrame) -> bytes:
    return frame.with_columns(pl.col(pl.Datetime).dt.to_string("%Y-%m-%dT%H:%M:%S%.6fZ")).write_csv().encode()


def _store_table(store: Any, key: str, frame: pl.DataFrame) -> tuple[str, str, str]:
    """Parquet + CSV of one table; returns (parquet uri, csv uri, sha256 of the parquet bytes)."""
    data = parquet_bytes(frame)
    return (
        store.put(f"{key}.parquet", data),
        store.put(f"{key}.csv", _csv_bytes(frame)),
        hashlib.sha256(data).hexdigest(),
    )


def _budget_result(
    check_name: str, departments: pl.DataFrame, period: str, currency: str, severity: dg.AssetCheckSeverity
) -> tuple[dg.AssetCheckResult, pl.DataFrame]:
    """The budget check and the budget status it is based on (spend vs budget per department)."""
    budgets = load_budgets()
    status = cb.budget_status(departments, budgets)
    for row in status.iter_rows(named=True):
        obs.DEPARTMENT_SPEND.labels(row["department"]).set(row["spend"])
        if row["budget"] is not None:
            obs.DEPARTMENT_BUDGET.labels(row["department"]).set(row["budget"])
    over = status.filter(pl.col("over"))
    check = dg.AssetCheckResult(
        check_name=check_name,
        passed=over.height == 0,
        severity=severity,
        description=cb.budget_alert_message(status, period, currency),
        metadata={
            "period": period,
            "budgets_file": budgets.path,
            "over_budget": dg.MetadataValue.json(over["department"].to_list()),
            "status": dg.MetadataValue.md(_markdown(status)),
        },
    )
    return check, status


def _markdown(frame: pl.DataFrame) -> str:
    lines = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    for row in frame.iter_rows():
        lines.append(
            "| "
            + " | ".join("-" if v is None else (f"{v:.6f}" if isinstance(v, float) else str(v)) for v in row)
            + " |"
        )
    return "\n".join(lines)


@dg.asset(
    partitions_def=daily_partitions,
    deps=["rate_card"],
    kinds={"polars", "parquet"},
    code_version="1",
    check_specs=[
        dg.AssetCheckSpec(
            MONTH_TO_DATE_CHECK,
            asset="analysis_costs",
            description="Early warning: month-to-date spend per department up to the end of this day vs its monthly budget.",
        )
    ],
    **_COMMON,
)
def analysis_costs(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    """One row per asset materialization of the day (UTC): who it was for (department, project, user,
    analysis from the run tags; `unattributed` when missing), what it used (CPU s, wall s, peak memory,
    bytes read/written, GPU s) and what that costs on the rate card (`config/rate_card.yaml`)."""
    with measure_usage() as usage:
        day = context.partition_key
        start, end = cb.day_bounds(day)
        month_start, _ = cb.month_bounds(day)
        rate_card = load_rate_card()
        # one read of the event log: the month up to the end of this day, of which this day is the tail
        month_to_date = cb.price_usage(read_usage(context.instance, month_start, end), rate_card)
        priced = month_to_date.filter(pl.col("timestamp") >= start)
        parquet_uri, csv_uri, sha256 = _store_table(open_store(), f"costs/daily/{day}", priced)
        per_analysis = priced.group_by(["department", "analysis"]).agg(cost=pl.col("cost").sum())
        for department, _analysis, cost in per_analysis.iter_rows():
            obs.observe_analysis_cost(department, cost)
        check, _ = _budget_result(
            MONTH_TO_DATE_CHECK,
            cb.summarise_costs(month_to_date, "department"),
            f"{day[:7]} up to {day}",
            rate_card.currency,
            dg.AssetCheckSeverity.WARN,
        )
        obs.push_metrics("hcml-costs")
    context.log.info(f"{priced.height} materializations on {day}: {priced['cost'].sum():.6f} {rate_card.currency}")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": priced.height,
            "dagster/column_schema": table_schema(priced),
            "dagster/uri": parquet_uri,
            "csv_uri": csv_uri,
            "content_sha256": sha256,
            "total_cost": float(priced["cost"].sum()),
            "currency": rate_card.currency,
            "rate_card": rate_card.name,
            "unmeasured_materializations": int(priced.filter(~pl.col("measured")).height),
            "unattributed_cost": float(priced.filter(pl.col("department") == cb.UNATTRIBUTED)["cost"].sum()),
            **usage.as_metadata(),
        },
        check_results=[check],
    )


@dg.asset(
    partitions_def=monthly_partitions,
    deps=[analysis_costs, "rate_card", "department_budgets"],
    kinds={"polars", "parquet", "html"},
    code_version="1",
    check_specs=[
        dg.AssetCheckSpec(
            BUDGET_CHECK,
            asset="chargeback_report",
            blocking=True,
            description="Budget alert: fails when a department's spend in the month exceeds its budget (config/budgets.yaml).",
        )
    ],
    **_COMMON,
)
def chargeback_report(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    """Monthly chargeback per department and project: totals, cost per analysis, top analyses and users,
    trend vs the previous month; Parquet/CSV tables and a self-contained HTML page with a chart."""
    with measure_usage() as usage:
        month = context.partition_key[:7]
        start, end = cb.month_bounds(month)
        previous_start, _ = cb.month_bounds(cb.previous_month(month))
        rate_card = load_rate_card()
        current = cb.price_usage(read_usage(context.instance, start, end), rate_card)
        previous = cb.price_usage(read_usage(context.instance, previous_start, start), rate_card)
        tables = cb.chargeback_tables(current, previous)
        check, status = _budget_result(
            BUDGET_CHECK, tables["departments"], month, rate_card.currency, dg.AssetCheckSeverity.ERROR
        )
        store = open_store()
        uris: dict[str, str] = {}
        hashes: dict[str, str] = {}
        for name, frame in tables.items():
            uris[name], _, hashes[name] = _store_table(store, f"costs/chargeback/{month}/{name}", frame)
        page = cb.render_html(tables, current, month, rate_card, status).encode("utf-8")
        html_uri = store.put(f"costs/chargeback/{month}/chargeback.html", page)
        obs.push_metrics("hcml-costs")
    departments = tables["departments"]
    context.log.info(f"chargeback {month}: {current['cost'].sum():.6f} {rate_card.currency}; {check.description}")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": departments.height,
            "dagster/column_schema": table_schema(departments),
            "dagster/uri": uris["departments"],
            "html_uri": html_uri,
            "table_uris": dg.MetadataValue.json(uris),
            "content_sha256": hashlib.sha256(page + "".join(sorted(hashes.values())).encode()).hexdigest(),
            "total_cost": float(current["cost"].sum()),
            "previous_month_cost": float(previous["cost"].sum()),
            "currency": rate_card.currency,
            "departments": dg.MetadataValue.md(
                _markdown(departments.select("department", "cost", "previous_cost", "change_pct"))
            ),
            **usage.as_metadata(),
        },
        check_results=[check],
    )


cost_assets = [analysis_costs, chargeback_report]


def cost_rollup_requests(now: datetime) -> list[tuple[str, str, str]]:
    """(asset, partition, run key) due at `now` (UTC): yesterday's `analysis_costs` once it is complete;
    the current month's `chargeback_report` once a day (so the budget alert fires within the month); the
    previous month's report once more after the month closed. Run keys make each request happen once."""
    today = now.astimezone(UTC).date()
    yesterday = today - timedelta(days=1)
    month_start = today.replace(day=1)
    requests = [
        ("analysis_costs", yesterday.isoformat(), f"analysis_costs:{yesterday.isoformat()}"),
        (
            "chargeback_report",
            month_start.isoformat(),
            f"chargeback_report:{month_start.isoformat()}:{today.isoformat()}",
        ),
    ]
    if yesterday.month != today.month:  # the previous month just closed: its final report
        closed = yesterday.replace(day=1)
        requests.append(("chargeback_report", closed.isoformat(), f"chargeback_report:{closed.isoformat()}:final"))
    return requests


def _rollup_sensor(asset: dg.AssetsDefinition, name: str, description: str) -> dg.SensorDefinition:
    # one sensor per asset: a sensor's target must share one partitions definition (daily vs monthly)
    asset_name = asset.key.to_user_string()

    @dg.sensor(
        name=name,
        target=[asset],
        minimum_interval_seconds=3600,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=description,
    )
    def _sensor(context: dg.SensorEvaluationContext):
        for target, partition, run_key in cost_rollup_requests(datetime.now(UTC)):
            if target != asset_name:
                continue
            yield dg.RunRequest(
                run_key=run_key,
                partition_key=partition,
                asset_selection=[asset.key],
                tags={
                    hcml_tags.DEPARTMENT: "platform",
                    hcml_tags.PROJECT: "chargeback",
                    hcml_tags.USER: "dagster",
                    hcml_tags.ANALYSIS: f"costs-{partition[:7]}",
                },
            )

    return _sensor


analysis_costs_sensor = _rollup_sensor(
    analysis_costs,
    "analysis_costs_sensor",
    "Once a day: yesterday's analysis_costs (and its month-to-date budget warning).",
)
chargeback_sensor = _rollup_sensor(
    chargeback_report,
    "chargeback_sensor",
    "Once a day: the current month's chargeback_report and its budget alert; the closed month's final report.",
)
COST_SENSORS = [analysis_costs_sensor, chargeback_sensor]
