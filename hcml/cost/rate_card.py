"""The rate card (prices per unit of usage) and the budgets, both plain YAML files under `config/`.

`HCML_RATE_CARD` and `HCML_BUDGETS` point at other files of the same shape; they are read when called.
A malformed file raises `CostConfigError` naming the file and the field.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from hcml.config import REPO_ROOT

GIB = 1024**3
PRICE_FIELDS = ("vcpu_hour", "memory_gib_hour", "gpu_hour", "storage_gb_month", "storage_months", "io_per_gb")


class CostConfigError(ValueError):
    """A rate card or budget file that cannot be used; the message names the file and the field."""


def default_rate_card_path() -> Path:
    """HCML_RATE_CARD, default `<repo>/config/rate_card.yaml`."""
    return Path(os.environ.get("HCML_RATE_CARD") or REPO_ROOT / "config" / "rate_card.yaml")


def default_budgets_path() -> Path:
    """HCML_BUDGETS, default `<repo>/config/budgets.yaml`."""
    return Path(os.environ.get("HCML_BUDGETS") or REPO_ROOT / "config" / "budgets.yaml")


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise CostConfigError(f"{path}: file not found") from exc
    except yaml.YAMLError as exc:
        raise CostConfigError(f"{path}: not valid YAML ({exc})") from exc
    if not isinstance(loaded, dict):
        raise CostConfigError(f"{path}: expected a mapping at the top level")
    return loaded


def _amount(path: Path, name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise CostConfigError(f"{path}: {name} must be a non-negative number, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class RateCard:
    name: str
    currency: str
    effective_date: str
    source_urls: tuple[str, ...]
    vcpu_hour: float
    memory_gib_hour: float
    gpu_hour: float
    storage_gb_month: float
    storage_months: float = 1.0
    io_per_gb: float = 0.0
    path: str = ""

    def cost_expressions(self) -> dict[str, pl.Expr]:
        """Cost columns from the usage columns of `chargeback.USAGE_SCHEMA` (vectorised, no row loop)."""
        return {
            "cpu_cost": pl.col("cpu_seconds") / 3600 * self.vcpu_hour,
            "memory_cost": pl.col("peak_memory_bytes") / GIB * pl.col("wall_seconds") / 3600 * self.memory_gib_hour,
            "gpu_cost": pl.col("gpu_seconds") / 3600 * self.gpu_hour,
            "storage_cost": (pl.col("bytes_written") + pl.col("stored_bytes"))
            / GIB
            * self.storage_gb_month
            * self.storage_months,
            "io_cost": (pl.col("bytes_read") + pl.col("bytes_written") + pl.col("stored_bytes")) / GIB * self.io_per_gb,
        }

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "currency": self.currency,
            "effective_date": self.effective_date,
            **{name: getattr(self, name) for name in PRICE_FIELDS},
        }


def load_rate_card(path: str | Path | None = None) -> RateCard:
    path = Path(path) if path else default_rate_card_path()
    raw = _read_yaml(path)
    prices = raw.get("prices")
    if not isinstance(prices, dict):
        raise CostConfigError(f"{path}: missing the `prices` mapping")
    required = ("vcpu_hour", "memory_gib_hour", "gpu_hour", "storage_gb_month")
    missing = [name for name in required if name not in prices]
    if missing:
        raise CostConfigError(f"{path}: prices.{missing[0]} is missing (required: {', '.join(required)})")
    unknown = sorted(set(prices) - set(PRICE_FIELDS))
    if unknown:
        raise CostConfigError(f"{path}: prices.{unknown[0]} is not a known price ({', '.join(PRICE_FIELDS)})")
    values = {name: _amount(path, f"prices.{name}", prices[name]) for name in prices}
    for name in ("currency", "effective_date"):
        if not raw.get(name):
            raise CostConfigError(f"{path}: `{name}` is required (a rate card says what it is and when)")
    return RateCard(
        name=str(raw.get("name") or path.stem),
        currency=str(raw["currency"]),
        effective_date=str(raw["effective_date"]),
        source_urls=tuple(str(url) for url in raw.get("source_urls") or ()),
        path=str(path),
        **values,
    )


@dataclass(frozen=True)
class Budgets:
    currency: str
    monthly: dict[str, float] = field(default_factory=dict)
    default: float | None = None
    path: str = ""

    def for_department(self, department: str) -> float | None:
        return self.monthly.get(department, self.default)


def load_budgets(path: str | Path | None = None) -> Budgets:
    path = Path(path) if path else default_budgets_path()
    raw = _read_yaml(path)
    monthly = raw.get("monthly") or {}
    if not isinstance(monthly, dict):
        raise CostConfigError(f"{path}: `monthly` must map department -> amount")
    default = raw.get("default")
    return Budgets(
        currency=str(raw.get("currency") or ""),
        monthly={str(dept): _amount(path, f"monthly.{dept}", amount) for dept, amount in monthly.items()},
        default=None if default is None else _amount(path, "default", default),
        path=str(path),
    )
