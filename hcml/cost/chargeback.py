"""Usage records -> priced rows -> chargeback tables, budget status and an HTML page (pure polars).

A usage record is one asset materialization: who it was for (department, project, user, analysis from the
run tags; `unattributed` where a tag is missing, never dropped), what it used (the `hcml/...` metadata of
`hcml.cost.usage`). Reading them from the Dagster instance is the Dagster layer's job (`assets/costs.py`).
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

import polars as pl

from hcml.cost import usage as u
from hcml.cost.rate_card import Budgets, RateCard

UNATTRIBUTED = "unattributed"
ATTRIBUTION_COLUMNS = ("department", "project", "user", "analysis")
USAGE_SCHEMA: dict[str, pl.DataType] = {
    "storage_id": pl.Int64(),
    "timestamp": pl.Datetime("us", "UTC"),
    "run_id": pl.Utf8(),
    "job_name": pl.Utf8(),
    "asset_key": pl.Utf8(),
    "partition": pl.Utf8(),
    "department": pl.Utf8(),
    "project": pl.Utf8(),
    "user": pl.Utf8(),
    "analysis": pl.Utf8(),
    "measured": pl.Boolean(),
    "cpu_seconds": pl.Float64(),
    "wall_seconds": pl.Float64(),
    "peak_memory_bytes": pl.Int64(),
    "bytes_read": pl.Int64(),
    "bytes_written": pl.Int64(),
    "stored_bytes": pl.Int64(),
    "gpu_seconds": pl.Float64(),
}
COST_COLUMNS = ("cpu_cost", "memory_cost", "gpu_cost", "storage_cost", "io_cost")
GROUPINGS: dict[str, tuple[str, ...]] = {
    "department": ("department",),
    "project": ("department", "project"),
    "user": ("user",),
    "analysis": ("analysis",),
    "asset": ("asset_key",),
}
_METADATA_COLUMNS = {
    u.CPU_SECONDS: "cpu_seconds",
    u.WALL_SECONDS: "wall_seconds",
    u.PEAK_MEMORY_BYTES: "peak_memory_bytes",
    u.BYTES_READ: "bytes_read",
    u.BYTES_WRITTEN: "bytes_written",
    u.STORED_BYTES: "stored_bytes",
    u.GPU_SECONDS: "gpu_seconds",
}


def usage_record(
    *,
    storage_id: int,
    timestamp: float,
    run_id: str,
    job_name: str | None,
    asset_key: str,
    partition: str | None,
    tags: Mapping[str, str],
    metadata: Mapping[str, Any],
    tag_keys: Mapping[str, str],
) -> dict[str, Any]:
    """One row of `USAGE_SCHEMA` from a materialization's plain metadata values and its run's tags.

    `tag_keys` maps attribution column -> run-tag key (`resources.tags`).
    """
    row: dict[str, Any] = {
        "storage_id": storage_id,
        "timestamp": datetime.fromtimestamp(timestamp, tz=UTC),
        "run_id": run_id,
        "job_name": job_name,
        "asset_key": asset_key,
        "partition": partition,
    }
    for column in ATTRIBUTION_COLUMNS:
        value = (tags.get(tag_keys[column]) or "").strip()
        row[column] = value or UNATTRIBUTED
    row["measured"] = u.CPU_SECONDS in metadata and u.WALL_SECONDS in metadata
    for key, column in _METADATA_COLUMNS.items():
        value = metadata.get(key)
        try:
            number = float(value) if value is not None else 0.0
        except (TypeError, ValueError):
            number = 0.0
        number = max(number, 0.0)
        row[column] = int(number) if USAGE_SCHEMA[column] == pl.Int64() else number
    return row


def usage_frame(records: Iterable[Mapping[str, Any]]) -> pl.DataFrame:
    rows = list(records)
    frame = pl.DataFrame(rows, schema=USAGE_SCHEMA, orient="row") if rows else pl.DataFrame(schema=USAGE_SCHEMA)
    return frame.with_columns(
        [pl.col(c).fill_null(UNATTRIBUTED) for c in ATTRIBUTION_COLUMNS]
        + [pl.col(c).fill_null(0) for c in _METADATA_COLUMNS.values()]
    ).sort("storage_id")


def price_usage(usage: pl.DataFrame, rate_card: RateCard) -> pl.DataFrame:
    """Add the cost columns (rate card currency) and `cost`, their sum, to each usage row."""
    priced = usage.with_columns(**rate_card.cost_expressions())
    return priced.with_columns(
        cost=pl.sum_horizontal(*COST_COLUMNS),
        currency=pl.lit(rate_card.currency),
        day=pl.col("timestamp").dt.date(),
    )


def summarise_costs(priced: pl.DataFrame, by: str = "department") -> pl.DataFrame:
    """Totals per group, most expensive first; `share_pct` of the whole."""
    if by not in GROUPINGS:
        raise ValueError(f"--by must be one of {', '.join(GROUPINGS)}, got {by!r}")
    keys = list(GROUPINGS[by])
    total = priced["cost"].sum() if priced.height else 0.0
    table = (
        priced.group_by(keys)
        .agg(
            cost=pl.col("cost").sum(),
            cpu_hours=pl.col("cpu_seconds").sum() / 3600,
            memory_gib_hours=(pl.col("peak_memory_bytes") / 1024**3 * pl.col("wall_seconds") / 3600).sum(),
            gib_written=(pl.col("bytes_written") + pl.col("stored_bytes")).sum() / 1024**3,
            materializations=pl.len(),
            runs=pl.col("run_id").n_unique(),
            analyses=pl.col("analysis").n_unique(),
        )
        .with_columns(
            cost_per_analysis=pl.col("cost") / pl.col("analyses"),
            share_pct=pl.col("cost") / total * 100 if total else pl.lit(0.0),
        )
        .sort(["cost", *keys], descending=[True, *[False] * len(keys)])
    )
    return table


def with_trend(current: pl.DataFrame, previous: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """Join the previous period's cost per group: `previous_cost`, `change`, `change_pct` (null from 0)."""
    prev = (
        previous.group_by(keys).agg(previous_cost=pl.col("cost").sum())
        if previous.height
        else (pl.DataFrame(schema={**{k: pl.Utf8() for k in keys}, "previous_cost": pl.Float64()}))
    )
    joined = current.join(prev, on=keys, how="full", coalesce=True)
    return (
        joined.with_columns(
            pl.col("cost").fill_null(0.0),
            pl.col("previous_cost").fill_null(0.0),
        )
        .with_columns(change=pl.col("cost") - pl.col("previous_cost"))
        .with_columns(
            change_pct=pl.when(pl.col("previous_cost") > 0)
            .then(pl.col("change") / pl.col("previous_cost") * 100)
            .otherwise(None)
        )
        .sort(["cost", *keys], descending=[True, *[False] * len(keys)])
    )


def chargeback_tables(current: pl.DataFrame, previous: pl.DataFrame, top: int = 10) -> dict[str, pl.DataFrame]:
    """The monthly chargeback: per department and per project (totals, cost per analysis, trend vs the
    previous month), top analyses and users, cost per day per department, cost per asset."""
    departments = with_trend(summarise_costs(current, "department"), previous, ["department"])
    projects = with_trend(summarise_costs(current, "project"), previous, ["department", "project"])
    analyses = (
        current.group_by("analysis")
        .agg(
            cost=pl.col("cost").sum(),
            department=pl.col("department").unique().sort().str.join(", "),
            project=pl.col("project").unique().sort().str.join(", "),
            user=pl.col("user").unique().sort().str.join(", "),
            runs=pl.col("run_id").n_unique(),
        )
        .sort(["cost", "analysis"], descending=[True, False])
        .head(top)
    )
    users = summarise_costs(current, "user").head(top)
    daily = (
        current.group_by(["day", "department"]).agg(cost=pl.col("cost").sum()).sort(["day", "department"])
        if current.height
        else pl.DataFrame(schema={"day": pl.Date(), "department": pl.Utf8(), "cost": pl.Float64()})
    )
    assets = summarise_costs(current, "asset")
    return {
        "departments": departments,
        "projects": projects,
        "top_analyses": analyses,
        "top_users": users,
        "daily": daily,
        "assets": assets,
    }


def budget_status(departments: pl.DataFrame, budgets: Budgets) -> pl.DataFrame:
    """Spend vs budget per department; `over` is true where the spend exceeds a set budget."""
    rows = []
    names = set(departments["department"].to_list()) | set(budgets.monthly)
    spend = dict(zip(departments["department"].to_list(), departments["cost"].to_list()))
    for department in sorted(names):
        budget = budgets.for_department(department)
        cost = float(spend.get(department, 0.0))
        rows.append(
            {
                "department": department,
                "spend": cost,
                "budget": budget,
                "used_pct": (cost / budget * 100) if budget else None,
                "over": budget is not None and cost > budget,
            }
        )
    return pl.DataFrame(
        rows,
        schema={
            "department": pl.Utf8(),
            "spend": pl.Float64(),
            "budget": pl.Float64(),
            "used_pct": pl.Float64(),
            "over": pl.Boolean(),
        },
        orient="row",
    )


def budget_alert_message(status: pl.DataFrame, period: str, currency: str) -> str:
    over = status.filter(pl.col("over"))
    if not over.height:
        return f"all departments within budget for {period}"
    parts = [
        f"{row['department']} spent {row['spend']:.6f} {currency} of its {row['budget']:.2f} {currency} "
        f"budget for {period} ({row['used_pct']:.0f}%)"
        for row in over.iter_rows(named=True)
    ]
    return "over budget: " + "; ".join(parts)


# ---------------------------------------------------------------------------------------------- HTML


def _chart_png(current: pl.DataFrame, departments: pl.DataFrame, month: str, currency: str) -> str:
    """Two panels: cost per department this month vs the previous one; daily cost per department."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8), dpi=100)
    names = departments["department"].to_list()
    positions = range(len(names))
    width = 0.4
    left.bar(
        [p - width / 2 for p in positions],
        departments["previous_cost"].to_list(),
        width,
        label="previous month",
        color="#b0b7c3",
    )
    left.bar([p + width / 2 for p in positions], departments["cost"].to_list(), width, label=month, color="#2f6db5")
    left.set_xticks(list(positions), names, rotation=20, ha="right")
    left.set_ylabel(currency)
    left.set_title("Cost per department")
    left.legend(frameon=False)
    start, end = month_bounds(month)
    days = list(range(1, (end - start).days + 1))
    bottom = [0.0] * len(days)
    if current.height:
        daily = current.group_by(["day", "department"]).agg(cost=pl.col("cost").sum())
        for name in names:
            part = dict(
                (d.day, c) for d, c in daily.filter(pl.col("department") == name).select("day", "cost").iter_rows()
            )
            heights = [part.get(d, 0.0) for d in days]
            if any(heights):
                right.bar(days, heights, 0.8, bottom=bottom, label=name)
                bottom = [b + h for b, h in zip(bottom, heights)]
        right.legend(frameon=False, fontsize="small")
    right.set_xlim(0.4, len(days) + 0.6)
    right.set_ylim(0, max(bottom) * 1.1 if max(bottom) > 0 else 1)
    right.set_xlabel(f"day of {month}")
    right.set_title("Daily cost")
    right.set_ylabel(currency)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _html_table(frame: pl.DataFrame, money: set[str]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in frame.columns)
    body = []
    for row in frame.iter_rows(named=True):
        cells = []
        for column, value in row.items():
            if value is None:
                text = "-"
            elif isinstance(value, float):
                text = f"{value:.6f}" if column in money else f"{value:.4g}"
            else:
                text = str(value)
            cells.append(f"<td>{html.escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def render_html(
    tables: Mapping[str, pl.DataFrame],
    current: pl.DataFrame,
    month: str,
    rate_card: RateCard,
    status: pl.DataFrame,
    generated_at: datetime | None = None,
) -> str:
    """A self-contained page (chart embedded as a data URI, no external resources)."""
    generated_at = generated_at or datetime.now(UTC)
    total = float(current["cost"].sum()) if current.height else 0.0
    money = {"cost", "previous_cost", "change", "cost_per_analysis", "spend", "budget"}
    chart = _chart_png(current, tables["departments"], month, rate_card.currency)
    over = status.filter(pl.col("over"))
    alert = (
        f'<p class="alert">{html.escape(budget_alert_message(status, month, rate_card.currency))}</p>'
        if over.height
        else '<p class="ok">All departments are within budget.</p>'
    )
    sections = [
        ("Departments", "departments"),
        ("Projects (cost per analysis, trend vs previous month)", "projects"),
        ("Top analyses", "top_analyses"),
        ("Top users", "top_users"),
        ("Cost per asset (pipeline step)", "assets"),
    ]
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>hcml chargeback {html.escape(month)}</title>",
        "<style>body{font-family:system-ui,sans-serif;margin:2em;color:#1b1f24}table{border-collapse:collapse;"
        "margin:0.5em 0 1.5em}th,td{border:1px solid #d0d7de;padding:4px 8px;text-align:right}"
        "th{background:#f3f5f7}td:first-child,th:first-child{text-align:left}.alert{color:#a40e26;"
        "font-weight:600}.ok{color:#1a7f37}.muted{color:#57606a;font-size:0.9em}</style></head><body>",
        f"<h1>Chargeback report {html.escape(month)}</h1>",
        f"<p>Total: <strong>{total:.6f} {html.escape(rate_card.currency)}</strong> over "
        f"{current.height} materializations in {current['run_id'].n_unique() if current.height else 0} runs.</p>",
        alert,
        f'<img alt="cost per department and per day" src="data:image/png;base64,{chart}">',
        "<h2>Budgets</h2>",
        _html_table(status, money),
    ]
    for title, name in sections:
        parts += [f"<h2>{html.escape(title)}</h2>", _html_table(tables[name], money)]
    parts.append(
        f"<p class='muted'>Rate card {html.escape(rate_card.name)} ({html.escape(rate_card.effective_date)}): "
        f"vCPU-hour {rate_card.vcpu_hour}, GiB-hour {rate_card.memory_gib_hour}, GPU-hour {rate_card.gpu_hour}, "
        f"GB-month {rate_card.storage_gb_month} x {rate_card.storage_months} months, I/O per GB "
        f"{rate_card.io_per_gb} {html.escape(rate_card.currency)}. Generated {generated_at.isoformat(timespec='seconds')}.</p>"
    )
    parts.append("</body></html>")
    return "\n".join(parts)


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """'2026-11' or '2026-11-01' -> [start, end) in UTC."""
    try:
        start = datetime.strptime(month[:7], "%Y-%m").replace(tzinfo=UTC)
    except ValueError as exc:
        raise ValueError(f"month must be YYYY-MM, got {month!r}") from exc
    end = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
    return start, end


def previous_month(month: str) -> str:
    start, _ = month_bounds(month)
    prev = start.replace(year=start.year - 1, month=12) if start.month == 1 else start.replace(month=start.month - 1)
    return prev.strftime("%Y-%m")


def day_bounds(day: str | date) -> tuple[datetime, datetime]:
    start = datetime.strptime(str(day)[:10], "%Y-%m-%d").replace(tzinfo=UTC)
    return start, start + timedelta(days=1)
