# Shared by the NBD integration tests. Source it, then:
#   requires TOOL...          exit 77 (skip) unless every TOOL is on PATH
#   start_server ARGS...      run nbd_test_server with ARGS plus a unix and a
#                             TCP listener; sets SOCK, TCP, UNIX_URI_BASE,
#                             TCP_URI_BASE; the server is killed on exit
#   uri EXPORT [tcp]          nbd:// URI of EXPORT on the server
# $WORK is a fresh temporary directory removed on exit.
set -eu

: "${NBD_TEST_SERVER:?set NBD_TEST_SERVER to the nbd_test_server binary}"

# libnbd's Python bindings live under /usr/lib/python3; a venv python first
# on PATH would not see them.
export PATH=/usr/bin:$PATH

WORK=$(mktemp -d)
SERVER_PIDS=""
cleanup() {
  for pid in $SERVER_PIDS; do kill "$pid" 2>/dev/null || true; done
  for pid in $SERVER_PIDS; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

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

# start_server [--name N] ARGS... ; a second server gets a different --name.
start_server() {
  local name=server
  if [ "${1:-}" = "--name" ]; then name=$2; shift 2; fi
  SOCK=$WORK/$name.sock
  "$NBD_TEST_SERVER" --listen "unix:$SOCK" --listen tcp:127.0.0.1:0 "$@" \
      >"$WORK/$name.out" 2>"$WORK/$name.log" &
  local pid=$!
  SERVER_PIDS="$SERVER_PIDS $pid"
  SERVER_PID=$pid
  for _ in $(seq 100); do
    if grep -q '^listening on tcp:' "$WORK/$name.out" 2>/dev/null; then break; fi
    if ! kill -0 "$pid" 2>/dev/null; then
      cat "$WORK/$name.log" >&2
      echo "FAIL: server exited"
      exit 1
    fi
    sleep 0.05
  done
  TCP=$(sed -n 's/^listening on tcp://p' "$WORK/$name.out")
  if [ -z "$TCP" ]; then echo "FAIL: server did not start"; exit 1; fi
  TCP_HOST=${TCP%:*}
  TCP_PORT=${TCP##*:}
}

uri() {
  if [ "${2:-}" = tcp ]; then
    echo "nbd://$TCP_HOST:$TCP_PORT/$1"
  else
    echo "nbd+unix:///$1?socket=$SOCK"
  fi
}

fail() {
  echo "FAIL: $*"
  if [ -f "$WORK/server.log" ]; then
    echo "--- server log (tail)"
    tail -20 "$WORK/server.log"
  fi
  exit 1
}
