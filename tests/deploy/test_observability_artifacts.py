"""The Grafana dashboard and the Prometheus alert rules use only metrics (and labels) hcml defines."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from hcml import observability as obs
from hcml.config import REPO_ROOT

OBSERVABILITY = REPO_ROOT / "deploy" / "observability"
DASHBOARD = OBSERVABILITY / "grafana-dashboard.json"
ALERTS = OBSERVABILITY / "alerts.yaml"

# PromQL words that are not metric names
_KEYWORDS = {"sum", "avg", "min", "max", "count", "rate", "irate", "increase", "histogram_quantile", "by",
             "without", "and", "or", "unless", "on", "ignoring", "group_left", "group_right", "bool", "offset",
             "topk", "bottomk", "quantile", "abs", "clamp_min", "clamp_max", "delta", "deriv", "vector",
             "absent", "time", "label_replace", "predict_linear", "avg_over_time", "max_over_time"}


def series_in(expr: str) -> list[tuple[str, set[str]]]:
    """(metric name, label names matched) for every selector of a PromQL expression."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    expr = re.sub(r"\[[^\]]*\]", " ", expr)  # range selectors
    out = []
    for m in re.finditer(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{[^}]*\})?\s*(\()?", expr):
        name, matchers, call = m.group(1), m.group(2), m.group(3)
        if call or name in _KEYWORDS or re.fullmatch(r"\d.*|e|inf|nan", name, re.I):
            continue
        labels = set(re.findall(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)", matchers or ""))
        out.append((name, labels))
    return out


def _labels_of(series: str) -> set[str]:
    for name, metric in obs.METRICS.items():
        if series.startswith(name) and series[len(name):] in ("", "_total", "_created", "_bucket", "_sum", "_count"):
            labels = set(metric._labelnames)
            return labels | ({"le"} if series.endswith("_bucket") else set())
    raise KeyError(series)


def _dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]


def _alert_rules() -> list[dict]:
    return [r for g in yaml.safe_load(ALERTS.read_text())["groups"] for r in g["rules"]]


def test_parser_finds_metrics_and_labels():
    found = series_in('histogram_quantile(0.95, sum by (le, route) (rate(x_bucket{route=~"/v1/.*", a!="b"}[5m]))) > 1')
    assert found == [("x_bucket", {"route", "a"})]
    assert series_in("a / b and c > 0.9") == [("a", set()), ("b", set()), ("c", set())]


@pytest.mark.parametrize("source", ["dashboard", "alerts"])
def test_every_metric_used_is_defined_with_those_labels(source):
    exprs = _dashboard_exprs() if source == "dashboard" else [r["expr"] for r in _alert_rules()]
    assert exprs
    exposed = obs.exposed_series_names()
    used = set()
    for expr in exprs:
        for series, labels in series_in(expr):
            assert series in exposed, f"{series} (in {expr!r}) is not defined in hcml/observability.py"
            assert labels <= _labels_of(series), f"{series} has no label(s) {labels - _labels_of(series)}"
            used.add(series)
    assert used


def test_dashboard_covers_each_area_and_is_importable():
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] and dashboard["schemaVersion"] >= 36
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    used = {s for e in _dashboard_exprs() for s, _ in series_in(e)}
    families = {name for name in obs.METRICS if any(s.startswith(name) for s in used)}
    # every metric family is on the dashboard: nothing defined is invisible
    assert families == set(obs.METRICS)
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            assert target["datasource"]["uid"] == "${datasource}"


def test_alert_rules_cover_slo_lag_budget_and_failed_runs():
    rules = {r["alert"]: r for r in _alert_rules()}
    metric_of = {name: {s for s, _ in series_in(r["expr"])} for name, r in rules.items()}
    assert any("hcml_realtime_request_duration_seconds_bucket" in m for m in metric_of.values())
    assert any("hcml_kafka_consumer_lag" in m for m in metric_of.values())
    assert any("hcml_department_budget" in m for m in metric_of.values())
    assert any("hcml_dagster_runs_total" in m for m in metric_of.values())
    runbook = (REPO_ROOT / "docs" / "runbook.md").read_text().lower()
    for name, rule in rules.items():
        assert rule["labels"]["severity"] in ("page", "warning")
        assert rule["annotations"]["runbook"] == f"docs/runbook.md#{name.lower()}"
        assert f"### {name.lower()}" in runbook, f"docs/runbook.md has no section for {name}"
        if "for" in rule:
            assert re.fullmatch(r"\d+[smh]", rule["for"])
