#!/usr/bin/env bash
# Headless browser for the realtime service's end-to-end page test.
#   scripts/browser.sh install   apt-get install Debian's chromium + chromium-driver (idempotent)
#   scripts/browser.sh path      print the chromium executable the tests drive
# Playwright's own browser download needs the internet; the tests drive Debian's /usr/bin/chromium through
# playwright's `executable_path` instead (see tests/realtime/test_page.py).
set -euo pipefail
CHROMIUM="${HCML_CHROMIUM:-/usr/bin/chromium}"
case "${1:-}" in
  install)
    if [[ -x "$CHROMIUM" ]] && command -v chromedriver >/dev/null 2>&1; then
      echo "chromium already installed: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
      exit 0
    fi
    SUDO=""
    [[ $(id -u) -ne 0 ]] && SUDO="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends chromium chromium-driver fonts-liberation >/dev/null
    "$CHROMIUM" --version
    ;;
  path)
    echo "$CHROMIUM"
    ;;
  *)
    echo "usage: $0 install|path" >&2
    exit 2
    ;;
esac
