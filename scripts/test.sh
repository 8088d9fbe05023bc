#!/usr/bin/env bash
# The README's second command (and what .ci/run calls): set up everything the tests need and run them all.
# Services (Kafka, Azurite, MLflow server, PostgreSQL, Chromium) are installed here and started by the
# tests' own fixtures, so a clean clone on a fresh machine passes with nothing started by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --dev
scripts/install-test-services.sh
# the container images the tests in tests/images run (layers reused when nothing changed; tests skip when
# podman cannot run on the machine)
if scripts/images.sh usable; then scripts/images.sh build; else echo "==> podman cannot run here: image tests will skip"; fi
# lint, format check and type check of the package code first (config in pyproject.toml): a finding fails
# the command before the long suite starts
echo "==> ruff check, ruff format --check, mypy"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
set +e
.venv/bin/python -m pytest "$@"
rc=$?
set -e
if [[ $rc -eq 5 ]]; then echo "pytest collected no tests" >&2; exit 1; fi
# the whole suite (no arguments): the tests whose outcome depends on the small-input path (marker small_path)
# again with the row-by-row twins forced on, then off (docs/CONTRIBUTING.md, "Two paths, both tested")
if [[ $# -eq 0 ]]; then
  for path in on off; do
    echo "==> tests marked small_path with --small-path=$path"
    set +e
    .venv/bin/python -m pytest -q -m small_path --small-path="$path" tests/genomics tests/ml tests/realtime
    pass_rc=$?
    set -e
    if [[ $pass_rc -ne 0 ]]; then rc=$pass_rc; fi
  done
fi
exit $rc
