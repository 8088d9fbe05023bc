#!/usr/bin/env bash
# Install (not start) the real services the test suite talks to. Each is cached under .tools/ or
# installed from Debian's packages, so a second run is quick. Each service script owns its own install.
set -euo pipefail
cd "$(dirname "$0")/.."
for svc in kafka azurite postgres browser images; do
  if [[ -x "scripts/$svc.sh" ]]; then
    echo "==> installing $svc"
    "scripts/$svc.sh" install
  fi
done
