"""`hcml costs ...`: chargeback tables for admins, read from the Dagster instance (DAGSTER_HOME).

Part of the Dagster layer (it reads the instance through `assets.costs.read_usage`); `hcml.cli` imports it
lazily. Dagster itself is imported only inside `report`, so `hcml costs rate-card` works without it.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import click
import polars as pl

from hcml.config import data_dir
from hcml.cost import chargeback as cb
from hcml.cost.rate_card import CostConfigError, load_budgets, load_rate_card


def dagster_home() -> Path:
    """DAGSTER_HOME, else `$HCML_DATA_DIR/dagster` where the demo keeps its instance."""
    home = os.environ.get("DAGSTER_HOME")
    if home:
        return Path(home)
    fallback = data_dir() / "dagster"
    if fallback.is_dir():
        return fallback
    raise click.ClickException(
        f"no Dagster instance: set DAGSTER_HOME (or run `hcml demo`, which keeps one in {fallback})"
    )


def _month_option(value: str | None) -> str:
    month = value or datetime.now(UTC).strftime("%Y-%m")
    try:
        cb.month_bounds(month)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--month") from exc
    return month[:7]


@click.group("costs")
def costs() -> None:
    """Cost attribution and chargeback: what each department, project, user and
    analysis used, priced with the rate card (HCML_RATE_CARD)."""


@costs.command("report")
@click.option("--month", metavar="YYYY-MM", help="Month to report (UTC). Default: the current month.")
@click.option(
    "--by",
    "by",
    type=click.Choice(list(cb.GROUPINGS)),
    default="department",
    show_default=True,
    help="Group the costs by this attribution.",
)
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@click.option("--top", type=int, default=0, help="Show only the N most expensive rows (0: all).")
def report(month: str | None, by: str, fmt: str, top: int) -> None:
    """Print the chargeback table of a month from the Dagster instance, with the trend vs the previous
    month and, for --by department, each department's budget."""
    import dagster as dg

    from assets.costs import read_usage

    month = _month_option(month)
    try:
        rate_card = load_rate_card()
        budgets = load_budgets()
    except CostConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    home = dagster_home()
    start, end = cb.month_bounds(month)
    previous_start, _ = cb.month_bounds(cb.previous_month(month))
    with dg.DagsterInstance.from_config(str(home)) as instance:
        current = cb.price_usage(read_usage(instance, start, end), rate_card)
        previous = cb.price_usage(read_usage(instance, previous_start, start), rate_card)
    keys = list(cb.GROUPINGS[by])
    table = cb.with_trend(cb.summarise_costs(current, by), previous, keys)
    if by == "department":
        status = cb.budget_status(table, budgets).select("department", "budget", "used_pct", "over")
        table = table.join(status, on="department", how="left")
    if top > 0:
        table = table.head(top)
    total = float(current["cost"].sum()) if current.height else 0.0
    if fmt == "csv":
        click.echo(table.write_csv(), nl=False)
        return
    if fmt == "json":
        click.echo(
            json.dumps(
                {
                    "month": month,
                    "by": by,
                    "currency": rate_card.currency,
                    "total": total,
                    "rate_card": rate_card.describe(),
                    "rows": table.to_dicts(),
                },
                indent=2,
                default=str,
            )
        )
        return
    click.echo(
        f"Chargeback {month} by {by} - {current.height} materializations in "
        f"{current['run_id'].n_unique() if current.height else 0} runs, total {total:.6f} {rate_card.currency} "
        f"(previous month {float(previous['cost'].sum()) if previous.height else 0.0:.6f}); "
        f"rate card {rate_card.name}, instance {home}"
    )
    shown = table.select(
        *keys,
        "cost",
        "previous_cost",
        "change_pct",
        "cost_per_analysis",
        "analyses",
        "runs",
        "cpu_hours",
        "memory_gib_hours",
        "gib_written",
        *(["budget", "used_pct", "over"] if by == "department" else []),
    )
    with pl.Config(
        tbl_rows=-1,
        tbl_cols=-1,
        tbl_width_chars=200,
        float_precision=6,
        tbl_hide_dataframe_shape=True,
        tbl_hide_column_data_types=True,
    ):
        click.echo(str(shown))
    if by == "department":
        status = cb.budget_status(table.select("department", "cost"), budgets)
        if status["over"].any():
            click.echo(cb.budget_alert_message(status, month, rate_card.currency))


@costs.command("rate-card")
def rate_card_command() -> None:
    """Show the rate card in use (HCML_RATE_CARD) and where its prices come from."""
    try:
        card = load_rate_card()
    except CostConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{card.name} ({card.path})")
    click.echo(f"effective {card.effective_date}, currency {card.currency}")
    for url in card.source_urls:
        click.echo(f"source: {url}")
    for name, value in card.describe().items():
        if name not in ("name", "currency", "effective_date"):
            click.echo(f"  {name:18} {value}")
