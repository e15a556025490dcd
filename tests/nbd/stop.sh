#!/bin/bash
# Stopping `layerdisk serve` with SIGTERM while clients are attached (one
# mid-transmission with unflushed writes to a volume over a layer, one
# mid-handshake) ends promptly, removes its sockets, and loses no
# acknowledged write: the store, opened afresh, holds them and passes fsck.
. "$(dirname "$0")/functions.sh"
requires nbdsh
requires_python_libnbd

head -c 16M /dev/urandom >"$WORK/base.img"
make_filled_volume disk "$WORK/base.img"
start_server

export U_DISK=$(uri disk) SOCK READY=$WORK/client.ready
nbdsh -n -c - <<'PY' &
import os, socket, time, nbd
h = nbd.NBD()
h.connect_uri(os.environ["U_DISK"])
h.pwrite(b"\x99" * 65536, 4096)          # acknowledged, never flushed
h.pwrite(b"\x98" * 100, 1 << 20)         # a partial block over the layer
h.zero(8192, 2 << 20)
s = socket.socket(socket.AF_UNIX)
s.connect(os.environ["SOCK"])            # and one that never negotiates
s.recv(18)
open(os.environ["READY"], "w").close()
time.sleep(30)
PY
CLIENT=$!
for _ in $(seq 100); do [ -e "$READY" ] && break; sleep 0.05; done
[ -e "$READY" ] || fail "client did not connect"

start=$(date +%s)
stop_server
elapsed=$(( $(date +%s) - start ))
kill "$CLIENT" 2>/dev/null || true
[ "$elapsed" -le 7 ] || fail "stop took ${elapsed}s"
[ ! -e "$SOCK" ] || fail "unix socket left behind"
[ ! -e "$LAYERDISK_STORE/control.sock" ] || fail "control socket left behind"
grep -q "received, stopping" "$SERVER_LOG" || fail "stop not logged"
[ "$(grep -c 'connect from' "$SERVER_LOG")" -ge 2 ] || fail "connections not logged"
grep -q "disconnect" "$SERVER_LOG" || fail "no disconnect logged"

ld export disk "$WORK/after.img" >/dev/null || fail "export after stop"
python3 - "$WORK/after.img" "$WORK/base.img" <<'PY' || fail "write lost"
import sys
d, base = (open(p, "rb").read() for p in sys.argv[1:])
want = bytearray(base)
want[4096:4096 + 65536] = b"\x99" * 65536
want[1 << 20:(1 << 20) + 100] = b"\x98" * 100
want[2 << 20:(2 << 20) + 8192] = bytes(8192)
assert d == bytes(want)
PY
ld fsck >"$WORK/fsck.out" 2>&1 || { cat "$WORK/fsck.out"; fail "fsck after stop"; }
echo PASS
