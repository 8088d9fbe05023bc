"""`hcml demo` end to end in a subprocess, on a fresh data directory, twice (idempotent)."""

import json
import os
import subprocess
import sys

import pytest

from hcml.config import REPO_ROOT


def _demo(env, *args):
    hcml = os.path.join(os.path.dirname(sys.executable), "hcml")
    return subprocess.run([hcml, "demo", "--no-models", *args], cwd=REPO_ROOT, env=env, capture_output=True,
                          text=True, timeout=1200)


@pytest.mark.slow
def test_demo_runs_and_is_idempotent(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HCML_AZURE", "DAGSTER_HOME", "HCML_MLFLOW"))}
    env["HCML_DATA_DIR"] = str(tmp_path / "var")
    first = _demo(env)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    home = tmp_path / "var" / "dagster"
    assert f"DAGSTER_HOME={home}" in first.stdout and "dagster dev -w" in first.stdout
    reports = sorted((tmp_path / "var" / "store" / "reports").glob("*/report.json"))
    assert [p.parent.name for p in reports] == ["HG00096_chr21_region.HG00096", "clinvar2016_chr21_region"]
    for p in reports:
        assert p.as_uri() in first.stdout and p.with_suffix(".html").is_file()
    hashes = {p: json.loads(p.read_text())["integrity"]["content_sha256"] for p in reports}
    assert (home / "history").is_dir() or (home / "storage").is_dir()  # persistent SQLite instance

    second = _demo(env)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert second.stdout.count("up to date, skipped") == 2
    assert "up to date)" in second.stdout  # the bundle is not rebuilt
    assert {p: json.loads(p.read_text())["integrity"]["content_sha256"] for p in reports} == hashes

    # the report it prints verifies
    verify = subprocess.run([os.path.join(os.path.dirname(sys.executable), "hcml"), "provenance", "verify",
                             str(reports[0])], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert verify.returncode == 0 and "chain holds" in verify.stdout, verify.stdout + verify.stderr
