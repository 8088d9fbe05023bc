"""The Dagster UI (a real dagster-webserver on this code location) shows, in headless Chromium, the chain from
the raw inputs to the clinical report and to the model: an asset's upstream lineage view lists only its ancestors."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx
import pytest

from hcml.config import REPO_ROOT

pytestmark = pytest.mark.slow

CHROMIUM = os.environ.get("HCML_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
REPORT_CHAIN = {"clinvar_release", "ensembl_gene_models", "genome_fasta", "population_variants", "vcf_landing",
                "submissions_topic", "reference_bundle", "sample_variants", "variant_annotations",
                "variant_features", "variant_predictions", "champion_model", "clinical_report"}
MODEL_CHAIN = {"clinvar_release", "curated_labels", "clinvar_labels", "training_set", "pathogenicity_model",
               "model_evaluation", "champion_model"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def webserver(tmp_path_factory):
    home = tmp_path_factory.mktemp("dagster-home")
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    port = _free_port()
    env = {**os.environ, "DAGSTER_HOME": str(home), "PYTHONPATH": str(REPO_ROOT),
           "HCML_DATA_DIR": str(tmp_path_factory.mktemp("ui-data"))}
    env.pop("HCML_KAFKA_BOOTSTRAP", None)
    log = open(home / "webserver.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "dagster_webserver", "-m", "hcml_dagster.definitions",
                             "-h", "127.0.0.1", "-p", str(port)], cwd=REPO_ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            if proc.poll() is not None:
                pytest.fail(f"dagster-webserver exited: {(home / 'webserver.log').read_text()[-2000:]}")
            try:
                if httpx.get(url + "/server_info", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("dagster-webserver did not answer within 300 s")
            time.sleep(1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="module")
def page(webserver):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        # large enough that the whole graph is drawn at a zoom with full node names (small views abbreviate)
        pg = browser.new_page(viewport={"width": 4800, "height": 3200})
        pg.set_default_timeout(120_000)
        yield pg
        browser.close()


def _lineage(page, base: str, asset: str, scope: str) -> set[str]:
    """Names of the asset nodes the lineage view draws (full names are in the nodes' tooltips)."""
    page.goto(f"{base}/assets/{asset}?view=lineage&lineageScope={scope}&lineageDepth=20")
    page.locator(f'svg [data-tooltip="{asset}"]').first.wait_for()
    page.wait_for_timeout(1000)  # the graph lays out all nodes in one render; let it settle
    return set(page.eval_on_selector_all("svg [data-tooltip]", "els => els.map(e => e.dataset.tooltip)"))


def test_report_lineage_reaches_the_raw_inputs(page, webserver):
    shown = _lineage(page, webserver, "clinical_report", "upstream")
    assert shown >= REPORT_CHAIN
    assert "cohort_allele_stats" not in shown  # downstream of the samples, not an ancestor: the view is upstream


def test_model_lineage_and_clinvar_downstream(page, webserver):
    assert _lineage(page, webserver, "champion_model", "upstream") >= MODEL_CHAIN
    downstream = _lineage(page, webserver, "clinvar_release", "downstream")
    assert {"reference_bundle", "clinvar_labels", "clinical_report", "champion_model"} <= downstream
    assert "genome_fasta" not in downstream
