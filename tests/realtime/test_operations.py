"""Health, readiness, metrics and the OpenAPI document."""

from __future__ import annotations

import json
import os

import pytest
from prometheus_client.parser import text_string_to_metric_families

from .conftest import auth


def _samples(text: str) -> dict[tuple, float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_health_and_readiness(client, bundle_dir):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    body = ready.json()
    manifest = json.loads((bundle_dir / "manifest.json").read_text())
    assert body["ready"] is True and body["bundle"]["bundle_sha256"] == manifest["bundle_sha256"]
    assert body["model"]["version"] and body["model_error"] is None
    assert body["kafka"]["configured"] is False  # this module runs without Kafka


def test_metrics_count_requests_by_route_template_and_variants(client, tokens):
    key = ("hcml_realtime_requests_total", (("method", "POST"), ("route", "/v1/annotate"), ("status", "2xx")))
    before = _samples(client.get("/metrics").text)
    for _ in range(3):
        assert client.post("/v1/annotate", json={"variants": ["21-25891796-C-T", "21-25891796-C-A"]},
                           headers=auth(tokens["clinician"])).status_code == 200
    client.get("/v1/submissions/some-unknown-id", headers=auth(tokens["clinician"]))
    text = client.get("/metrics").text
    after = _samples(text)
    assert after[key] - before.get(key, 0) == 3
    variants = ("hcml_realtime_variants_total", (("outcome", "annotated"),))
    assert after[variants] - before.get(variants, 0) == 6
    # label values are route templates, never ids or variants
    assert "some-unknown-id" not in text and "25891796" not in text
    assert any(k[0] == "hcml_realtime_requests_total" and ("route", "/v1/submissions/{submission_id}") in k[1]
               for k in after)


def test_openapi_documents_the_clinical_api_and_its_security(client):
    doc = client.get("/openapi.json").json()
    paths = doc["paths"]
    for path, method in [("/v1/annotate", "post"), ("/v1/submissions", "post"),
                         ("/v1/submissions/{submission_id}", "get"), ("/v1/results/{result_id}/provenance", "get")]:
        op = paths[path][method]
        assert op.get("security"), path  # the bearer scheme is declared on every clinical operation
        assert {"401", "403"} <= set(op["responses"]), path
    assert "413" in paths["/v1/annotate"]["post"]["responses"]
    assert "503" in paths["/v1/submissions"]["post"]["responses"]
    assert doc["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


def test_page_and_api_headers(client, tokens):
    page = client.get("/")
    csp = page.headers["content-security-policy"]
    assert "script-src 'sha256-" in csp and "unsafe" not in csp and "frame-ancestors 'none'" in csp
    assert page.headers["x-frame-options"] == "DENY" and page.headers["cache-control"] == "no-store"
    r = client.post("/v1/annotate", json={"variants": ["21-25891796-C-T"]}, headers=auth(tokens["clinician"]))
    assert r.headers["cache-control"] == "no-store"  # patient answers never cached
    assert client.get("/v1/whoami").headers["cache-control"] == "no-store"  # refusals neither


@pytest.mark.parametrize("env, variable", [
    ({"HCML_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "HCML_KAFKA_SASL_PASSWORD": "s3cret-pw"},
     "HCML_KAFKA_SASL_MECHANISM"),
    ({"HCML_REALTIME_MAX_VARIANTS": "many"}, "HCML_REALTIME_MAX_VARIANTS"),
])
def test_serve_refuses_malformed_settings_in_one_line(rt_env, env, variable):
    """Inconsistent Kafka security settings (or a malformed number) stop the real `hcml serve` process before
    it listens, naming the variable, never printing a secret -- rather than a service that answers 503 for
    every submission while its publisher thread has died."""
    import subprocess
    import sys

    from hcml.config import REPO_ROOT

    from .conftest import free_port

    proc_env = {**os.environ, **rt_env, "HCML_KAFKA_BOOTSTRAP": "127.0.0.1:1", **env}
    try:  # were the check missing, the service would start and serve until this guard stops it
        proc = subprocess.run([sys.executable, "-m", "hcml.cli", "serve", "--port", str(free_port())],
                              cwd=REPO_ROOT, env=proc_env, capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        pytest.fail("hcml serve started despite the malformed setting")
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2, output
    assert proc.stderr.startswith("error: ") and variable in proc.stderr
    assert "s3cret-pw" not in output and "Traceback" not in output
