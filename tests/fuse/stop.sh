#!/usr/bin/env bash
# Stopping: SIGTERM (and SIGINT) flush and unmount even while a program
# holds a file open; `serve --fuse` alone serves no NBD; a server killed with
# SIGKILL leaves a stale mount (ENOTCONN) that the next start detaches, and
# every write acknowledged before an fsync is there afterwards; a live mount
# of another server is refused.
. "$(dirname "$0")/functions.sh"
requires python3 cmp

ld volume create v --size 16M >/dev/null || fail "volume create"

# FUSE only: no NBD listener, no NBD socket.
start_server --fuse "$MNT"
grep -q '^  nbd ' "$SERVER_LOG" && fail "serve --fuse alone started NBD listeners"
[ -e "$LAYERDISK_STORE/nbd.sock" ] && fail "serve --fuse alone made an NBD socket"
head -c $((2 << 20)) /dev/urandom >"$WORK/a"
dd if="$WORK/a" of="$MNT/volumes/v.raw" bs=1M conv=notrunc status=none || fail "dd"
# SIGTERM while a reader holds the file open: the server still stops, flushes
# and unmounts; the reader then gets an error, not a hang.
sleep 60 <"$MNT/volumes/v.raw" &
holder=$!
sleep 0.3
stop_server
grep -q 'fuse: unmounted' "$SERVER_LOG" || fail "no unmount logged"
kill "$holder" 2>/dev/null || true
wait "$holder" 2>/dev/null || true

# The data written before SIGTERM (no fsync) was flushed at stop.
start_server
cmp -n $((2 << 20)) "$WORK/a" "$MNT/volumes/v.raw" || fail "data written before SIGTERM is lost"

# SIGKILL after an fsync'd write: stale mount, cleaned on the next start.
head -c $((1 << 20)) /dev/urandom >"$WORK/b"
dd if="$WORK/b" of="$MNT/volumes/v.raw" bs=1M seek=4 conv=notrunc,fsync status=none || fail "dd fsync"
kill -KILL "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true
SERVER_PID=""
python3 - "$MNT" <<'PY' || fail "the mount is not stale after SIGKILL"
import errno, os, sys
try:
    os.statvfs(sys.argv[1])
except OSError as e:
    sys.exit(0 if e.errno == errno.ENOTCONN else 1)
sys.exit(1)
PY
start_server
grep -q 'is a stale FUSE mount' "$SERVER_LOG" || fail "the stale mount was not reported"
cmp -n $((1 << 20)) -i 0:$((4 << 20)) "$WORK/b" "$MNT/volumes/v.raw" ||
  fail "an fsync'd write is lost after SIGKILL"

# A second server (another store) on the live mount point is refused.
rc=0
LAYERDISK_STORE=$WORK/other "$LAYERDISK" init >/dev/null
LAYERDISK_STORE=$WORK/other timeout 20 "$LAYERDISK" serve --fuse "$MNT" >"$WORK/other.log" 2>&1 || rc=$?
[ "$rc" -ne 0 ] || fail "a second server mounted over a live mount"
grep -q 'already a live FUSE mount' "$WORK/other.log" || fail "unclear refusal: $(cat "$WORK/other.log")"
[ -f "$MNT/volumes/v.raw" ] || fail "the first mount was disturbed"

# SIGINT stops cleanly too.
kill -INT "$SERVER_PID"
rc=0
wait "$SERVER_PID" || rc=$?
SERVER_PID=""
[ "$rc" -eq 0 ] || fail "layerdisk serve exited $rc after SIGINT"
if mountpoint -q "$MNT"; then fail "$MNT is still mounted after SIGINT"; fi
echo "PASS"
