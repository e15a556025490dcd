# Shared by the NBD integration tests, which drive the real `layerdisk serve`
# with real clients. Source it, then:
#   requires TOOL...          exit 77 (skip) unless every TOOL is on PATH
#   ld ARGS...                the layerdisk CLI on the current store
#   use_store [NAME]          the store $WORK/NAME (default "store"), made
#                             if new, that later ld calls and start_server
#                             use; the default one is made on sourcing
#   make_volume NAME SIZE     an empty writable export
#   make_layer NAME FILE      FILE imported as a sealed layer: the read-only
#                             export layer:NAME
#   make_filled_volume NAME FILE   a writable export reading as FILE (a
#                             volume over the layer NAME-content)
#   start_server [--name N] [SERVE-ARGS...]
#                             `layerdisk serve` on the current store with a
#                             unix and a TCP listener; sets SOCK, TCP_HOST,
#                             TCP_PORT, SERVER_PID; killed on exit
#   stop_server               SIGTERM, then wait: fails unless it exits 0
#   uri EXPORT [tcp]          nbd:// URI of EXPORT on the last server started
# $WORK is a fresh temporary directory removed on exit.
set -eu

: "${LAYERDISK:?set LAYERDISK to the layerdisk binary}"

# libnbd's Python bindings live under /usr/lib/python3; a venv python first
# on PATH would not see them.
export PATH=/usr/bin:$PATH

WORK=$(mktemp -d)
SERVER_PIDS=""
SERVER_LOG=""
cleanup() {
  for pid in $SERVER_PIDS; do kill "$pid" 2>/dev/null || true; done
  for pid in $SERVER_PIDS; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*"
  if [ -n "$SERVER_LOG" ] && [ -f "$SERVER_LOG" ]; then
    echo "--- server log (tail)"
    tail -20 "$SERVER_LOG"
  fi
  exit 1
}

requires() {
  for tool in "$@"; do
    if ! command -v "$tool" >/dev/null 2>&1; then
      echo "SKIP: $tool not installed"
      exit 77
    fi
  done
}

requires_python_libnbd() {
  if ! python3 -c 'import nbd' 2>/dev/null; then
    echo "SKIP: python3-libnbd not installed"
    exit 77
  fi
}

ld() { "$LAYERDISK" "$@"; }

use_store() {
  export LAYERDISK_STORE=$WORK/${1:-store}
  [ -d "$LAYERDISK_STORE" ] || ld init >/dev/null || fail "layerdisk init $LAYERDISK_STORE"
}
use_store

make_volume() { ld volume create "$1" --size "$2" >/dev/null || fail "volume create $1"; }
make_layer() { ld layer import "$1" "$2" >/dev/null || fail "layer import $1"; }
make_filled_volume() {
  make_layer "$1-content" "$2"
  ld volume create "$1" --layers "$1-content" >/dev/null || fail "volume create $1"
}

# Waits for the "  control  unix:..." line serve prints after its listeners.
start_server() {
  local name=server
  if [ "${1:-}" = "--name" ]; then name=$2; shift 2; fi
  SOCK=$WORK/$name.sock
  SERVER_LOG=$WORK/$name.log
  # A restarted server reuses the names: the wait below must not read the
  # previous server's report before the new one truncates it.
  rm -f "$WORK/$name.out" "$SERVER_LOG"
  "$LAYERDISK" serve --nbd "unix:$SOCK" --nbd tcp:127.0.0.1:0 "$@" \
      >"$WORK/$name.out" 2>"$SERVER_LOG" &
  local pid=$!
  SERVER_PIDS="$SERVER_PIDS $pid"
  SERVER_PID=$pid
  for _ in $(seq 200); do
    if grep -q '^  control ' "$WORK/$name.out" 2>/dev/null; then break; fi
    kill -0 "$pid" 2>/dev/null || fail "layerdisk serve $* exited: $(cat "$SERVER_LOG")"
    sleep 0.05
  done
  grep -q "^  nbd  *unix:$SOCK\$" "$WORK/$name.out" ||
    fail "serve did not report unix:$SOCK: $(cat "$WORK/$name.out")"
  local tcp
  tcp=$(sed -n 's/^  nbd  *tcp://p' "$WORK/$name.out")
  [ -n "$tcp" ] || fail "serve did not report its TCP address: $(cat "$WORK/$name.out")"
  TCP_HOST=${tcp%:*}
  TCP_PORT=${tcp##*:}
  [ "$TCP_PORT" -gt 0 ] || fail "serve reported port $TCP_PORT for tcp:127.0.0.1:0"
}

stop_server() {
  kill -TERM "$SERVER_PID"
  local rc=0
  wait "$SERVER_PID" || rc=$?
  [ "$rc" = 0 ] || fail "serve exited $rc after SIGTERM"
  grep -q '^layerdisk: stopped$' "$SERVER_LOG" || fail "serve did not report stopping"
}

uri() {
  if [ "${2:-}" = tcp ]; then
    echo "nbd://$TCP_HOST:$TCP_PORT/$1"
  else
    echo "nbd+unix:///$1?socket=$SOCK"
  fi
}
