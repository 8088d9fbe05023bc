"""The clinical web page end to end in headless Debian Chromium (Playwright drives /usr/bin/chromium)."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pysam
import pytest

from hcml.config import REPO_ROOT

from .conftest import server_token

pytestmark = pytest.mark.slow

try:  # the page runs under its Content-Security-Policy: waits use locators (no eval in the page)
    from playwright.sync_api import expect

    expect.set_options(timeout=60_000)
except ImportError:  # reported by the fixture
    expect = None

CHROMIUM = os.environ.get("HCML_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SAMPLES = REPO_ROOT / "data" / "samples"


@pytest.fixture(scope="module")
def playwright():
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/browser.sh install")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


def _open_page(playwright, profile: Path, url: str, token: str):
    """Debian's Chromium, a fresh profile, the page signed in with `token`."""
    context = playwright.chromium.launch_persistent_context(str(profile), executable_path=CHROMIUM, headless=True,
                                                           args=CHROMIUM_ARGS)
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(url + "/")
    page.fill("#token", token)
    page.click("#connect")
    expect(page.locator("#who")).to_contain_text("dev-clinician")
    return context, page


@pytest.fixture(scope="module")
def browser_page(server, playwright, tmp_path_factory):
    context, page = _open_page(playwright, tmp_path_factory.mktemp("chromium-profile"), server.url,
                               server_token(server, "clinician"))
    yield page
    context.close()


def _rows(page) -> list[dict]:
    return page.eval_on_selector_all("#results tbody tr", """rows => rows.map(r => ({
        cells: Array.from(r.children).map(td => td.textContent), consequence: r.dataset.consequence,
        score: r.dataset.score === '' ? null : Number(r.dataset.score)}))""")


def _wait_rows(page, n: int) -> list[dict]:
    expect(page.locator("#results tbody tr")).to_have_count(n)
    return _rows(page)


def test_paste_variants_live_progress_sorted_results_and_provenance(browser_page, bundle_dir):
    from hcml.genomics.consequences import SEVERITY_RANK

    page = browser_page
    clinvar = [l.split("\t") for l in (SAMPLES / "clinvar2016_chr21_region.vcf").read_text().splitlines()
               if not l.startswith("#")]
    variants = [f"{r[0]}-{r[1]}-{r[3]}-{r[4]}" for r in clinvar] + ["ENST00000999999.1:c.1A>G"]
    page.fill("#variants", "\n".join(variants))
    page.click("#annotate-variants")
    rows = _wait_rows(page, len(clinvar))
    progress = page.inner_text("#progress")
    for stage in ("received", "parsed", "annotated", "result received"):
        assert stage in progress
    assert "27 variant(s), 1 rejected" in progress
    ranks = [SEVERITY_RANK[r["consequence"]] for r in rows]
    assert ranks == sorted(ranks)  # most severe first
    assert rows[-1]["consequence"] == "synonymous_variant"
    missense = [r["score"] for r in rows if r["consequence"] == "missense_variant"]
    assert missense == sorted(missense, reverse=True) and all(0 <= s <= 1 for s in missense)
    assert page.is_visible("#rejects-box")
    assert "ENST00000999999" in page.inner_text("#rejects")
    # every row's ClinVar column shows the significance the ClinVar sample states
    expected = {f"{r[0]}-{r[1]}-{r[3]}-{r[4]}": dict(kv.split("=") for kv in r[7].split(";"))["CLNSIG"].lower()
                for r in clinvar}
    for row in rows:
        assert expected[row["cells"][1]] in row["cells"][7].split(",")
    # the ACMG/AMP column: a class with its points and criteria, the evidence lines on hover
    classes = ("Pathogenic", "Likely pathogenic", "Uncertain significance", "Likely benign", "Benign")
    for row in rows:
        assert row["cells"][11].split(" (")[0] in classes, row["cells"]
    evidence = page.get_attribute("#results tbody tr:first-child td.acmg", "title")
    assert evidence and ":" in evidence
    page.click("#results tbody tr:first-child a.provenance-link")
    expect(page.locator("#provenance")).to_contain_text("bundle_sha256")
    provenance = json.loads(page.inner_text("#provenance"))
    manifest = json.loads((bundle_dir / "manifest.json").read_text())
    assert provenance["bundle"]["bundle_sha256"] == manifest["bundle_sha256"]
    assert provenance["n_variants"] == 27 and provenance["n_rejects"] == 1


def test_upload_a_vcf(browser_page):
    page = browser_page
    page.set_input_files("#vcf-file", str(SAMPLES / "HG00096_chr21_region.vcf"))
    page.click("#annotate-vcf")
    rows = _wait_rows(page, 132)
    ids = {r["cells"][1] for r in rows}
    first = next(l.split("\t") for l in (SAMPLES / "HG00096_chr21_region.vcf").read_text().splitlines()
                 if not l.startswith("#"))
    assert f"{first[0]}-{first[1]}-{first[3]}-{first[4]}" in ids


def test_paste_a_sequence(browser_page):
    with pysam.FastaFile(str(REPO_ROOT / "data/reference/chr21_full_length_Nmasked.GRCh38.fa.gz")) as fa:
        region = fa.fetch("21", 25891700 - 1, 25891900)
    offset = 25891796 - 25891700
    mutated = region[:offset] + "T" + region[offset + 1:]
    page = browser_page
    lines = [mutated[i:i + 60] for i in range(0, len(mutated), 60)]
    page.fill("#sequence", ">patient read\n" + "\n".join(lines))
    page.click("#annotate-sequence")
    expect(page.locator("#progress")).to_contain_text("result received")
    rows = _rows(page)
    assert [r["cells"][1] for r in rows] == ["21-25891796-C-T"]
    assert rows[0]["cells"][2] == "APP" and rows[0]["consequence"] == "missense_variant"


def test_a_bad_token_is_refused_on_the_page(browser_page):
    page = browser_page
    page.fill("#token", "not-a-token")
    page.click("#connect")
    expect(page.locator("#status")).to_contain_text("malformed")
    assert page.is_disabled("#annotate-variants")


@pytest.mark.kafka
def test_queued_vcf_report_is_pushed_to_the_page(kafka_bootstrap, bundle_dir, tmp_path_factory, playwright):
    """Queue a VCF from the page; when the run's result lands on genetic-data-annotated the page shows it."""
    from datetime import UTC, datetime

    from hcml.events import topics
    from hcml.events.messages import SOURCE_DAGSTER, Result, result_event
    from hcml.events.producer import EventProducer
    from hcml.storage import LocalStore

    from .conftest import start_server, stop_server

    data_dir = tmp_path_factory.mktemp("realtime-queued-page")
    srv = start_server(data_dir, bundle_dir, data_dir / "server.log", HCML_KAFKA_BOOTSTRAP=kafka_bootstrap)
    try:
        import httpx

        deadline = time.monotonic() + 60  # the publisher's first contact with the broker
        while not httpx.get(f"{srv.url}/readyz").json()["kafka"]["broker_up"]:
            assert time.monotonic() < deadline, "the service did not reach the broker"
            time.sleep(0.1)
        context, page = _open_page(playwright, tmp_path_factory.mktemp("chromium-profile"), srv.url,
                                   server_token(srv, "clinician"))
        try:
            page.set_input_files("#vcf-file", str(SAMPLES / "HG00096_chr21_region.vcf"))
            page.click("#submit-vcf")
            expect(page.locator("#progress")).to_contain_text("queued as submission")
            sid = page.inner_text("#progress").split("queued as submission ")[1].split(";")[0].strip()
            report = {"report_type": "hcml.clinical_report", "submission_id": sid,
                      "summary": {"model": {"name": "hcml-pathogenicity", "version": "7"}},
                      "variants": [{"rank": 1, "chrom": "21", "pos": 25891796, "ref": "C", "alt": "T", "gene": "APP",
                                    "consequence": "missense_variant", "impact": "MODERATE",
                                    "clinvar_significance": "pathogenic", "pathogenicity_score": 0.63}],
                      "provenance": {"reference_bundle": {"bundle_sha256": "ef" * 32}}}
            uri = LocalStore(data_dir / "store").put(f"reports/{sid}/report.json", json.dumps(report).encode())
            result = Result(submission_id=sid, status="succeeded", summary={"n_reported": 1}, report_uri=uri,
                            provenance={"provenance_sha256": "ab" * 32}, run_id="run-page",
                            completed_at=datetime.now(UTC))
            with EventProducer(kafka_bootstrap) as producer:
                producer.send(topics.ANNOTATED, result_event(result, SOURCE_DAGSTER, event_id="run-page:result"))
            expect(page.locator("#progress")).to_contain_text(f"{sid}: succeeded")
            rows = _wait_rows(page, 1)
            assert rows[0]["cells"][1] == "21-25891796-C-T" and rows[0]["cells"][7] == "pathogenic"
            page.click("#results tbody tr:first-child a.provenance-link")
            expect(page.locator("#provenance")).to_contain_text("provenance_sha256")
            provenance = json.loads(page.inner_text("#provenance"))
            assert provenance["provenance_sha256"] == "ab" * 32 and provenance["submission_id"] == sid
        finally:
            context.close()
    finally:
        stop_server(srv)
