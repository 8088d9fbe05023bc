#!/usr/bin/env bash
# Azurite (the Azure Storage emulator, from the npm registry) for development and tests.
#   scripts/azurite.sh install            npm install into .tools/azurite (cached; quick the second time)
#   scripts/azurite.sh start DIR [PORT]   start the Blob service on 127.0.0.1:PORT (default: a free port),
#                                         data in DIR; waits until it answers; prints the port; pid in DIR/azurite.pid
#   scripts/azurite.sh stop DIR           stop the one started with that DIR
# Only Blob is started: Azurite has no Data Lake (dfs) endpoint and hcml uses plain Blob.
set -euo pipefail
cd "$(dirname "$0")/.."
AZURITE_VERSION="${AZURITE_VERSION:-3.37.0}"
TOOLS=".tools/azurite"
BIN="$TOOLS/node_modules/.bin/azurite-blob"

install() {
  if [[ -x "$BIN" ]] && grep -q "\"version\": \"$AZURITE_VERSION\"" "$TOOLS/node_modules/azurite/package.json" 2>/dev/null; then
    echo "azurite $AZURITE_VERSION already installed in $TOOLS"
    return
  fi
  command -v npm >/dev/null || { echo "npm is needed to install Azurite (apt-get install nodejs npm)" >&2; exit 1; }
  mkdir -p "$TOOLS"
  npm install --prefix "$TOOLS" --no-audit --no-fund --loglevel=error "azurite@$AZURITE_VERSION"
  echo "azurite $AZURITE_VERSION installed in $TOOLS"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

start() {
  local dir="${1:?usage: azurite.sh start DIR [PORT]}" port="${2:-}"
  [[ -x "$BIN" ]] || install >&2
  mkdir -p "$dir"
  [[ -n "$port" ]] || port="$(free_port)"
  "$BIN" --silent --skipApiVersionCheck --loose --blobHost 127.0.0.1 --blobPort "$port" \
    --location "$dir" >"$dir/azurite.log" 2>&1 &
  echo $! >"$dir/azurite.pid"
  for _ in $(seq 1 300); do
    if python3 -c "import socket,sys; s=socket.socket(); s.settimeout(0.5); sys.exit(s.connect_ex(('127.0.0.1', $port)))" 2>/dev/null; then
      echo "$port"
      return
    fi
    if ! kill -0 "$(cat "$dir/azurite.pid")" 2>/dev/null; then
      echo "azurite exited; log:" >&2; cat "$dir/azurite.log" >&2; exit 1
    fi
    sleep 0.2
  done
  echo "azurite did not open port $port; log:" >&2; cat "$dir/azurite.log" >&2
  stop "$dir"; exit 1
}

stop() {
  local dir="${1:?usage: azurite.sh stop DIR}"
  [[ -f "$dir/azurite.pid" ]] || return 0
  local pid; pid="$(cat "$dir/azurite.pid")"
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$dir/azurite.pid"
}

case "${1:-}" in
  install) install ;;
  start) shift; start "$@" ;;
  stop) shift; stop "$@" ;;
  *) echo "usage: $0 install | start DIR [PORT] | stop DIR" >&2; exit 2 ;;
esac
