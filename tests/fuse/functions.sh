# Shared by the FUSE integration tests, which drive the real
# `layerdisk serve --fuse` with real programs. Source it, then:
#   requires TOOL...        exit 77 (skip) unless every TOOL is on PATH
#   ld ARGS...              the layerdisk CLI on this test's store
#   make_image FILE MIB     a raw image: 1 MiB of random data, then a 1 MiB
#                           hole, repeated
#   start_server [SERVE-ARGS...]
#                           `layerdisk serve --fuse $MNT --nbd unix:$SOCK`
#                           (or only the given args); waits for the mount;
#                           sets SERVER_PID; stopped on exit
#   stop_server             SIGTERM, then wait: fails unless it exits 0 and
#                           the mount is gone
#   nbd_uri EXPORT          nbd+unix:// URI of EXPORT on the server
#   wait_for CMD...         retries CMD for up to 5 s (entries the kernel
#                           cached are trusted for 1 s)
# $WORK is a fresh temporary directory, $MNT the mount point inside it.
set -eu

: "${LAYERDISK:?set LAYERDISK to the layerdisk binary}"
# libnbd's Python bindings live under /usr/lib/python3; a venv python first
# on PATH would not see them.
export PATH=/usr/bin:/usr/sbin:/sbin:$PATH

skip() { echo "SKIP: $*"; exit 77; }

if [ ! -c /dev/fuse ]; then skip "/dev/fuse is missing"; fi
command -v fusermount3 >/dev/null 2>&1 || skip "fusermount3 not installed (apt-get install fuse3)"

WORK=$(mktemp -d)
MNT=$WORK/mnt
SOCK=$WORK/nbd.sock
SERVER_PID=""
SERVER_LOG=$WORK/serve.log
export LAYERDISK_STORE=$WORK/store

cleanup() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  if mountpoint -q "$MNT" 2>/dev/null || ! stat "$MNT" >/dev/null 2>&1; then
    fusermount3 -u -z "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null || true
  fi
  rm -rf --one-file-system "$WORK"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*"
  if [ -f "$SERVER_LOG" ]; then
    echo "--- server log (tail)"
    tail -20 "$SERVER_LOG"
  fi
  exit 1
}

requires() {
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 || skip "$tool not installed"
  done
}

ld() { "$LAYERDISK" "$@"; }
ld init >/dev/null || fail "layerdisk init"

make_image() {
  python3 - "$1" "$2" <<'PY'
import random, sys
path, mib = sys.argv[1], int(sys.argv[2])
rng = random.Random(mib)
with open(path, "wb") as f:
    f.truncate(mib << 20)
    for i in range(0, mib, 2):
        f.seek(i << 20)
        f.write(rng.randbytes(1 << 20))
PY
}

start_server() {
  if [ $# -eq 0 ]; then set -- --fuse "$MNT" --nbd "unix:$SOCK"; fi
  # A restarted server must not be taken as started on the previous
  # server's log before the new one truncates it.
  rm -f "$SERVER_LOG"
  "$LAYERDISK" serve "$@" >"$SERVER_LOG" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 100); do
    grep -q '^  control  unix:' "$SERVER_LOG" 2>/dev/null && break
    kill -0 "$SERVER_PID" 2>/dev/null || fail "layerdisk serve exited at start"
    sleep 0.1
  done
  grep -q '^  control  unix:' "$SERVER_LOG" || fail "layerdisk serve did not start"
  if grep -q 'cannot mount FUSE' "$SERVER_LOG"; then skip "FUSE mounts are not allowed here"; fi
}

stop_server() {
  kill -TERM "$SERVER_PID"
  local rc=0
  wait "$SERVER_PID" || rc=$?
  SERVER_PID=""
  [ "$rc" -eq 0 ] || { cat "$SERVER_LOG"; fail "layerdisk serve exited $rc after SIGTERM"; }
  if mountpoint -q "$MNT"; then fail "$MNT is still mounted after SIGTERM"; fi
}

nbd_uri() { echo "nbd+unix:///$1?socket=$SOCK"; }

wait_for() {
  for _ in $(seq 50); do
    if "$@"; then return 0; fi
    sleep 0.1
  done
  return 1
}
