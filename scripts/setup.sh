#!/usr/bin/env bash
# Create .venv/ in the repository root and install hcml (pinned in pyproject.toml) into it.
#   scripts/setup.sh          runtime dependencies
#   scripts/setup.sh --dev    plus the test and benchmark tools
# Idempotent: a second run only installs what changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null || PYTHON=python3
extra="[pipeline,train]"  # the whole platform; the realtime image installs only the core (pyproject.toml)
[[ "${1:-}" == "--dev" ]] && extra="[pipeline,train,dev]"
if [[ ! -x .venv/bin/python || ! -x .venv/bin/pip ]]; then  # also a venv left half-made by an interrupted run
  echo "==> creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv --clear .venv
  .venv/bin/pip install --quiet --upgrade pip
fi
stamp=".venv/.hcml-installed${extra}"
if [[ ! -f "$stamp" || pyproject.toml -nt "$stamp" ]]; then
  echo "==> installing hcml${extra} and its pinned dependencies into .venv (torch is large: the first time takes a few minutes)"
  .venv/bin/pip install --quiet --disable-pip-version-check -e ".${extra}"
  touch "$stamp"
else
  echo "==> .venv is up to date"
fi
# hcml's compiled core (rust/hcml_core, module hcml_core): built from source with maturin (pinned in its
# pyproject.toml) into a wheel under dist/hcml_core (the container images install that wheel too), then
# installed into .venv. Rebuilt when its sources change. Needs Rust's cargo; there is no Python fallback.
scripts/build-core.sh
core_wheel=$(ls -t dist/hcml_core/hcml_core-*.whl | head -1)
core_stamp=.venv/.hcml-core-installed
if [[ ! -f "$core_stamp" || "$core_wheel" -nt "$core_stamp" ]] || ! .venv/bin/python -c "import hcml_core" 2>/dev/null; then
  echo "==> installing the compiled core ($core_wheel) into .venv"
  .venv/bin/pip install --quiet --disable-pip-version-check --no-deps --force-reinstall "$core_wheel"
  touch "$core_stamp"
fi
