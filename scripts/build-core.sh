#!/usr/bin/env bash
# Build hcml's compiled core (rust/hcml_core: a PyO3 extension, module hcml_core) from source into a wheel
# under dist/hcml_core/, with maturin (pinned in rust/hcml_core/pyproject.toml) run by .venv's Python.
# Called by scripts/setup.sh (which installs the wheel into .venv) and scripts/images.sh (which copies it
# into the images). Skips the build while the wheel is newer than every source file. Needs Rust's cargo.
set -euo pipefail
cd "$(dirname "$0")/.."
CRATE=rust/hcml_core
OUT=dist/hcml_core
MATURIN_VERSION=$(sed -n 's/^requires = \["maturin==\(.*\)"\]/\1/p' "$CRATE/pyproject.toml")
[[ -n "$MATURIN_VERSION" ]] || { echo "build-core: no pinned maturin in $CRATE/pyproject.toml" >&2; exit 1; }
wheel=$(ls -t "$OUT"/hcml_core-*.whl 2>/dev/null | head -1 || true)
if [[ -n "$wheel" ]] && [[ -z "$(find "$CRATE" -path "$CRATE/target" -prune -o -type f -newer "$wheel" -print -quit)" ]]; then
  exit 0
fi
if ! command -v cargo >/dev/null; then
  [[ -x "$HOME/.cargo/bin/cargo" ]] && export PATH="$HOME/.cargo/bin:$PATH"
fi
if ! command -v cargo >/dev/null; then
  echo "setup: hcml's compiled core (rust/hcml_core) must be built from source and Rust's cargo is not" \
       "installed here: install Rust (https://rustup.rs: curl ... | sh -s -- -y --profile minimal) and" \
       "run this again. hcml has no Python fallback for these rules." >&2
  exit 1
fi
if ! .venv/bin/python -m maturin --version 2>/dev/null | grep -qx "maturin $MATURIN_VERSION"; then
  echo "==> installing maturin $MATURIN_VERSION (builds the compiled core)"
  .venv/bin/pip install --quiet --disable-pip-version-check "maturin==$MATURIN_VERSION"
fi
echo "==> building the compiled core ($CRATE, $(cargo --version)): the first build fetches its crates and takes a minute or two"
rm -f "$OUT"/hcml_core-*.whl
.venv/bin/python -m maturin build --quiet --release --locked -m "$CRATE/Cargo.toml" -o "$OUT" -i .venv/bin/python
