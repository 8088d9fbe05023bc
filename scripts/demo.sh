#!/usr/bin/env bash
# The README's first command: set up .venv and run the main job on the embedded default
# (local Parquet, SQLite Dagster instance and MLflow store under var/; nothing to start by hand).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/hcml demo "$@"
