#!/usr/bin/env bash
# A real PostgreSQL server (Debian's package) for the local Dagster instance and the tests.
#
#   scripts/postgres.sh install        install Debian's `postgresql` package if no initdb is found
#   scripts/postgres.sh up   [DIR]     initdb + pg_ctl start on a free loopback port, database `dagster`,
#                                      user `hcml` (trust auth on 127.0.0.1 only); prints the URL (also in
#                                      DIR/url) and the DAGSTER_PG_* variables (DIR/env)
#   scripts/postgres.sh down [DIR]     pg_ctl stop -m fast
#   scripts/postgres.sh status [DIR]
#
# DIR defaults to $HCML_DATA_DIR/postgres (var/postgres in the repository). PostgreSQL refuses to run as
# root: when run as root, the cluster is owned by and started as the `postgres` user (HCML_PG_OS_USER).
# Environment: HCML_PG_PORT (default: a free port), HCML_PG_START_TIMEOUT (seconds, default 60).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DIR="${2:-${HCML_DATA_DIR:-$ROOT/var}/postgres}"
OS_USER="${HCML_PG_OS_USER:-postgres}"
START_TIMEOUT="${HCML_PG_START_TIMEOUT:-60}"

log() { echo "postgres.sh: $*" >&2; }

bindir() {
  local d
  if command -v pg_config >/dev/null && [[ -x "$(pg_config --bindir)/initdb" ]]; then
    pg_config --bindir; return
  fi
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [[ -x "$d/initdb" ]] && { echo "$d"; return; }
  done
  command -v initdb >/dev/null && { dirname "$(readlink -f "$(command -v initdb)")"; return; }
  return 1
}

install() {
  if bin="$(bindir)"; then
    log "PostgreSQL already installed ($bin)"
    return
  fi
  local sudo=""
  [[ $(id -u) -ne 0 ]] && sudo="sudo"
  log "installing Debian's postgresql package"
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends postgresql >&2
  bin="$(bindir)" || { log "postgresql installed but initdb not found"; exit 1; }
  # Debian's package creates and starts a system cluster: not ours, leave it alone.
  log "PostgreSQL installed ($bin)"
}

# Run a command as the cluster owner (ourselves, or $OS_USER when we are root).
as_owner() {
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u "$OS_USER" -- "$@"
  else
    "$@"
  fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

up() {
  local bin port
  bin="$(bindir)" || { log "PostgreSQL is not installed: scripts/postgres.sh install"; exit 1; }
  mkdir -p "$DIR"
  if [[ -f "$DIR/data/postmaster.pid" ]] && as_owner "$bin/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1; then
    log "already running"; cat "$DIR/url"; return
  fi
  if [[ $(id -u) -eq 0 ]]; then
    id "$OS_USER" >/dev/null 2>&1 || { log "user $OS_USER does not exist (set HCML_PG_OS_USER)"; exit 1; }
    chown "$OS_USER" "$DIR"
    chmod 755 "$DIR"
  fi
  if [[ ! -f "$DIR/data/PG_VERSION" ]]; then
    as_owner "$bin/initdb" -D "$DIR/data" -U hcml --auth-local=trust --auth-host=trust \
      --encoding=UTF8 --no-locale >"$DIR/initdb.log" 2>&1 || { cat "$DIR/initdb.log" >&2; exit 1; }
  fi
  port="${HCML_PG_PORT:-$(free_port)}"
  # Loopback only, socket in DIR, small footprint: this is a test/dev server on a shared machine.
  as_owner "$bin/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t "$START_TIMEOUT" \
    -o "-p $port -k $DIR -c listen_addresses=127.0.0.1 -c shared_buffers=32MB -c max_connections=100 -c fsync=off" \
    start >&2 || { tail -n 30 "$DIR/server.log" >&2; exit 1; }
  if ! as_owner "$bin/psql" -h 127.0.0.1 -p "$port" -U hcml -d postgres -tAc \
      "SELECT 1 FROM pg_database WHERE datname='dagster'" | grep -q 1; then
    as_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U hcml dagster
  fi
  echo "postgresql://hcml@127.0.0.1:$port/dagster" >"$DIR/url"
  cat >"$DIR/env" <<EOF
DAGSTER_PG_HOST=127.0.0.1
DAGSTER_PG_PORT=$port
DAGSTER_PG_USERNAME=hcml
DAGSTER_PG_PASSWORD=trust-auth-on-loopback
DAGSTER_PG_DB=dagster
EOF
  log "PostgreSQL up on 127.0.0.1:$port (data in $DIR/data)"
  cat "$DIR/url"
}

down() {
  local bin
  bin="$(bindir)" || exit 0
  if [[ -f "$DIR/data/postmaster.pid" ]]; then
    as_owner "$bin/pg_ctl" -D "$DIR/data" -m fast -w stop >&2 || true
  fi
  log "stopped ($DIR)"
}

status() {
  local bin
  bin="$(bindir)" || { echo "not installed"; exit 1; }
  as_owner "$bin/pg_ctl" -D "$DIR/data" status && cat "$DIR/url"
}

case "${1:-}" in
  install) install ;;
  up) up ;;
  down) down ;;
  status) status ;;
  *) echo "usage: $0 install|up [DIR]|down [DIR]|status [DIR]" >&2; exit 2 ;;
esac
