#!/bin/bash
# Stopping the server with clients attached (one mid-transmission with
# unflushed writes, one mid-handshake) ends promptly and loses no
# acknowledged write.
. "$(dirname "$0")/functions.sh"
requires nbdsh
requires_python_libnbd

truncate -s 16M "$WORK/disk.img"
start_server --export disk="$WORK/disk.img"

export U_DISK=$(uri disk) SOCK
nbdsh -n -c - <<'PY' &
import os, socket, time, nbd
h = nbd.NBD()
h.connect_uri(os.environ["U_DISK"])
h.pwrite(b"\x99" * 65536, 4096)          # acknowledged, never flushed
s = socket.socket(socket.AF_UNIX)
s.connect(os.environ["SOCK"])            # and one that never negotiates
s.recv(18)
open(os.environ["U_DISK"].split("socket=")[1] + ".ready", "w").close()
time.sleep(30)
PY
CLIENT=$!
for _ in $(seq 100); do [ -e "$SOCK.ready" ] && break; sleep 0.05; done
[ -e "$SOCK.ready" ] || fail "client did not connect"

start=$(date +%s)
kill -TERM "$SERVER_PID"
wait "$SERVER_PID" || fail "server exit status $?"
elapsed=$(( $(date +%s) - start ))
kill "$CLIENT" 2>/dev/null || true
[ "$elapsed" -le 7 ] || fail "stop took ${elapsed}s"
[ ! -e "$SOCK" ] || fail "unix socket left behind"
python3 - "$WORK/disk.img" <<'PY' || fail "write lost"
import sys
d = open(sys.argv[1], "rb").read()
assert d[4096:4096 + 65536] == b"\x99" * 65536
PY
grep -q "disconnect" "$WORK/server.log" || fail "no disconnect logged"
echo PASS
