"""The package code passes the project's linter, formatter check and type checker (config in pyproject.toml).

scripts/test.sh runs the same three commands before pytest; this test makes a plain `pytest` run catch them
too. Each runs the pinned tool of this environment over the folders pyproject.toml names.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _run(*command: str) -> subprocess.CompletedProcess:
    tool = BIN / command[0]
    if not tool.exists():
        pytest.fail(f"{tool} is missing: install the dev extra (scripts/setup.sh --dev)")
    return subprocess.run(
        [str(tool), *command[1:]], cwd=REPO, capture_output=True, text=True, timeout=900, check=False
    )


def test_ruff_lint():
    done = _run("ruff", "check", "--no-cache", ".")
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]


def test_ruff_format():
    done = _run("ruff", "format", "--check", "--no-cache", ".")
    assert done.returncode == 0, "run `.venv/bin/ruff format` on:\n" + done.stdout[-6000:] + done.stderr[-2000:]


def test_mypy():
    done = _run("mypy")  # files, plugins and per-module settings from [tool.mypy]
    assert done.returncode == 0, done.stdout[-8000:] + done.stderr[-2000:]


ISSUE_NUMBER = re.compile(r"\bissues? #?\d+|\(#\d+\)", re.IGNORECASE)


def test_no_comment_cites_an_issue_number():
    """The code says why in its own words: an issue number means nothing to a reader without the tracker."""
    found = []
    for folder in ("hcml", "realtime", "resources", "assets", "sensors", "hcml_dagster", "bench"):
        for path in sorted((REPO / folder).rglob("*.py")):
            for n, line in enumerate(path.read_text().splitlines(), 1):
                if ISSUE_NUMBER.search(line):
                    found.append(f"{path.relative_to(REPO)}:{n}: {line.strip()}")
    assert not found, "\n".join(found)
