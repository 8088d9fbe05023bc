"""The clinical web page end to end in headless Debian Chromium (Playwright drives /usr/bin/chromium)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pysam
import pytest

from hcml.config import REPO_ROOT

from .conftest import server_token

pytestmark = pytest.mark.slow

CHROMIUM = os.environ.get("HCML_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SAMPLES = REPO_ROOT / "data" / "samples"


@pytest.fixture(scope="module")
def browser_page(server, tmp_path_factory):
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/browser.sh install")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=CHROMIUM, headless=True,
            args=CHROMIUM_ARGS)
        page = context.new_page()
        page.set_default_timeout(60_000)
        page.goto(server.url + "/")
        page.fill("#token", server_token(server, "clinician"))
        page.click("#connect")
        page.wait_for_function("document.getElementById('who').textContent.includes('dev-clinician')")
        yield page
        context.close()


def _rows(page) -> list[dict]:
    return page.eval_on_selector_all("#results tbody tr", """rows => rows.map(r => ({
        cells: Array.from(r.children).map(td => td.textContent), consequence: r.dataset.consequence,
        score: r.dataset.score === '' ? null : Number(r.dataset.score)}))""")


def _wait_rows(page, n: int) -> list[dict]:
    page.wait_for_function(f"document.querySelectorAll('#results tbody tr').length === {n}")
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
    page.click("#results tbody tr:first-child a.provenance-link")
    page.wait_for_function("document.getElementById('provenance').textContent.includes('bundle_sha256')")
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
    page.wait_for_function("document.getElementById('progress').textContent.includes('result received')")
    rows = _rows(page)
    assert [r["cells"][1] for r in rows] == ["21-25891796-C-T"]
    assert rows[0]["cells"][2] == "APP" and rows[0]["consequence"] == "missense_variant"


def test_a_bad_token_is_refused_on_the_page(browser_page):
    page = browser_page
    page.fill("#token", "not-a-token")
    page.click("#connect")
    page.wait_for_function("document.getElementById('status').textContent.includes('malformed')")
    assert page.is_disabled("#annotate-variants")
