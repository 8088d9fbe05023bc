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
