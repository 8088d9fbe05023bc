"""The rate card and budgets files: the shipped prices against the Azure list prices they were derived
from, the overrides, and precise errors for bad files. Pricing and trend on hand-made usage."""

from __future__ import annotations

from datetime import datetime, timezone

import polars as pl
import pytest
import yaml

from hcml.cost import chargeback as cb
from hcml.cost.rate_card import CostConfigError, load_budgets, load_rate_card

GIB = 1024**3


def test_shipped_rate_card_is_dated_and_reproduces_the_azure_vm_prices() -> None:
    card = load_rate_card()
    assert card.currency == "USD" and card.effective_date and card.source_urls
    # Azure pay-as-you-go East US Linux hourly list prices the split was derived from (see the file):
    assert 2 * card.vcpu_hour + 8 * card.memory_gib_hour == pytest.approx(0.096)  # Standard_D2s_v5
    assert 2 * card.vcpu_hour + 16 * card.memory_gib_hour == pytest.approx(0.126)  # Standard_E2s_v5
    assert 4 * card.vcpu_hour + 16 * card.memory_gib_hour == pytest.approx(0.192)  # Standard_D4s_v5 (not used to derive)
    assert 4 * card.vcpu_hour + 28 * card.memory_gib_hour + card.gpu_hour == pytest.approx(0.526)  # NC4as_T4_v3


def test_override_by_environment(tmp_path, monkeypatch) -> None:
    path = tmp_path / "card.yaml"
    path.write_text(yaml.safe_dump({
        "name": "flat", "currency": "EUR", "effective_date": "2026-01-01",
        "prices": {"vcpu_hour": 1.0, "memory_gib_hour": 0.0, "gpu_hour": 0.0, "storage_gb_month": 0.0},
    }))
    monkeypatch.setenv("HCML_RATE_CARD", str(path))
    card = load_rate_card()
    assert (card.name, card.currency, card.vcpu_hour, card.storage_months) == ("flat", "EUR", 1.0, 1.0)


@pytest.mark.parametrize(
    ("prices", "message"),
    [
        ({"vcpu_hour": 1, "memory_gib_hour": 1, "gpu_hour": 1}, "prices.storage_gb_month is missing"),
        ({"vcpu_hour": -1, "memory_gib_hour": 1, "gpu_hour": 1, "storage_gb_month": 1}, "prices.vcpu_hour must be a non-negative number"),
        ({"vcpu_hour": "cheap", "memory_gib_hour": 1, "gpu_hour": 1, "storage_gb_month": 1}, "prices.vcpu_hour must be"),
        ({"vcpu_hour": 1, "memory_gib_hour": 1, "gpu_hour": 1, "storage_gb_month": 1, "tpu_hour": 2}, "prices.tpu_hour is not a known price"),
    ],
)
def test_bad_rate_card_names_the_field(tmp_path, prices, message) -> None:
    path = tmp_path / "card.yaml"
    path.write_text(yaml.safe_dump({"currency": "USD", "effective_date": "2026-01-01", "prices": prices}))
    with pytest.raises(CostConfigError, match=message) as caught:
        load_rate_card(path)
    assert str(path) in str(caught.value)


def test_rate_card_without_a_date_or_file(tmp_path) -> None:
    path = tmp_path / "card.yaml"
    path.write_text(yaml.safe_dump({"currency": "USD", "prices": {"vcpu_hour": 1, "memory_gib_hour": 1, "gpu_hour": 1, "storage_gb_month": 1}}))
    with pytest.raises(CostConfigError, match="effective_date"):
        load_rate_card(path)
    with pytest.raises(CostConfigError, match="file not found"):
        load_rate_card(tmp_path / "missing.yaml")


def test_budgets_default_and_errors(tmp_path) -> None:
    shipped = load_budgets()
    assert shipped.for_department("oncology") == 300.0 and shipped.for_department("nobody") is None
    path = tmp_path / "budgets.yaml"
    path.write_text(yaml.safe_dump({"default": 5, "monthly": {"oncology": "lots"}}))
    with pytest.raises(CostConfigError, match="monthly.oncology must be a non-negative number"):
        load_budgets(path)


def _usage(department: str, analysis: str, cpu_s: float, peak: int, wall_s: float, written: int, gpu_s: float = 0.0,
           when: datetime = datetime(2026, 10, 5, tzinfo=timezone.utc), storage_id: int = 1) -> dict:
    return {"storage_id": storage_id, "timestamp": when, "run_id": f"run-{analysis}", "job_name": "j",
            "asset_key": "a", "partition": None, "department": department, "project": "p", "user": "u",
            "analysis": analysis, "measured": True, "cpu_seconds": cpu_s, "wall_seconds": wall_s,
            "peak_memory_bytes": peak, "bytes_read": 0, "bytes_written": written, "gpu_seconds": gpu_s}


def test_pricing_worked_example() -> None:
    card = load_rate_card()
    # 1 vCPU-hour of CPU, 2 GiB peak for half an hour, 0.5 GiB written, 6 GPU-minutes:
    # 0.033 + 2 * 0.5 * 0.00375 + 0.5 * 0.0184 + 0.1 * 0.289 = 0.033 + 0.00375 + 0.0092 + 0.0289 = 0.07485 USD
    priced = cb.price_usage(cb.usage_frame([_usage("onc", "A", 3600, 2 * GIB, 1800, GIB // 2, 360)]), card)
    assert priced["cost"][0] == pytest.approx(0.07485)
    assert priced["cpu_cost"][0] == pytest.approx(0.033)
    assert priced["storage_cost"][0] == pytest.approx(0.0092)


def test_trend_against_the_previous_month() -> None:
    card = load_rate_card()
    current = cb.price_usage(cb.usage_frame([
        _usage("onc", "A", 7200, 0, 0, 0), _usage("gen", "B", 3600, 0, 0, 0, storage_id=2),
    ]), card)
    previous = cb.price_usage(cb.usage_frame([
        _usage("onc", "C", 3600, 0, 0, 0, when=datetime(2026, 9, 3, tzinfo=timezone.utc)),
        _usage("old", "D", 3600, 0, 0, 0, when=datetime(2026, 9, 3, tzinfo=timezone.utc), storage_id=2),
    ]), card)
    tables = cb.chargeback_tables(current, previous)
    departments = {row["department"]: row for row in tables["departments"].iter_rows(named=True)}
    assert departments["onc"]["change_pct"] == pytest.approx(100.0)  # 2 vCPU-h vs 1
    assert departments["gen"]["previous_cost"] == 0.0 and departments["gen"]["change_pct"] is None
    assert departments["old"]["cost"] == 0.0 and departments["old"]["change_pct"] == pytest.approx(-100.0)
    assert tables["departments"]["cost"].sum() == pytest.approx(3 * 0.033)


def test_month_helpers() -> None:
    assert cb.previous_month("2026-01") == "2025-12"
    start, end = cb.month_bounds("2026-12-01")
    assert (start.month, end.year, end.month) == (12, 2027, 1)
    with pytest.raises(ValueError, match="YYYY-MM"):
        cb.month_bounds("Nov 2026")
    with pytest.raises(ValueError, match="--by must be one of"):
        cb.summarise_costs(cb.price_usage(cb.usage_frame([]), load_rate_card()), "hospital")


def test_empty_month_renders_and_is_within_budget() -> None:
    empty = cb.price_usage(cb.usage_frame([]), load_rate_card())
    tables = cb.chargeback_tables(empty, empty)
    assert all(frame.height == 0 for frame in tables.values())
    status = cb.budget_status(tables["departments"], load_budgets())
    assert not status["over"].any() and status["spend"].sum() == 0.0
    page = cb.render_html(tables, empty, "2026-02", load_rate_card(), status)
    assert "Total: <strong>0.000000 USD</strong>" in page and "All departments are within budget" in page

