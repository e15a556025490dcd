#!/bin/bash
# Multi-conn against `layerdisk serve`: a flush on one connection covers
# writes acknowledged on others (checked by reading on a third connection,
# and by killing the server with SIGKILL right after the flush and reading
# the store offline), on an empty volume and on one over a layer. Then
# out-of-order replies: a slow read does not hold up the ones behind it.
. "$(dirname "$0")/functions.sh"
requires nbdsh
requires_python_libnbd
: "${NBD_TEST_SERVER:?set NBD_TEST_SERVER to the nbd_test_server binary}"

head -c 16M /dev/urandom >"$WORK/base.img"
make_volume disk 16M
make_filled_volume layered "$WORK/base.img"
start_server

export U_DISK=$(uri disk) U_DISK_TCP=$(uri disk tcp) U_LAYERED=$(uri layered)
nbdsh -n -c - <<'PY' || fail "multi-conn checks"
import os, nbd

M = 1 << 20
for name, u in (("disk", os.environ["U_DISK"]), ("layered", os.environ["U_LAYERED"])):
    conns = []
    for uri in (u, u, os.environ["U_DISK_TCP"].replace("/disk", "/" + name)):
        h = nbd.NBD()
        h.connect_uri(uri)
        assert h.can_multi_conn()
        conns.append(h)
    a, b, c = conns
    for i, (w, f, r) in enumerate([(a, b, c), (b, c, a), (c, a, b)]):
        data = bytes([i + 1]) * (256 * 1024)
        w.pwrite(data, i * M + 512)
        f.flush()
        assert r.pread(len(data), i * M + 512) == data, (name, i)
    # Many writes in flight on two connections, one flush on a third: the
    # store must hold all of them (checked after a SIGKILL below).
    cookies = []
    for j in range(64):
        h = a if j % 2 else b
        cookies.append((h, h.aio_pwrite(nbd.Buffer.from_bytearray(
            bytearray([0x40 + j % 32]) * 8192), 4 * M + j * 8192)))
    for h, cookie in cookies:
        while not h.aio_command_completed(cookie):
            h.poll(-1)
    c.flush()
    for h in conns:
        h.shutdown()
print("multi-conn checks passed")
PY

kill -KILL "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true
for name in disk layered; do
  ld export "$name" "$WORK/$name.img" >/dev/null || fail "export $name after SIGKILL"
done
python3 - "$WORK/disk.img" "$WORK/layered.img" "$WORK/base.img" <<'PY' || fail "flushed writes lost"
import sys
M = 1 << 20
disk, layered, base = (open(p, "rb").read() for p in sys.argv[1:])
for name, d, under in (("disk", disk, bytes(16 * M)), ("layered", layered, base)):
    want = bytearray(under)
    for i in range(3):
        want[i * M + 512:i * M + 512 + 256 * 1024] = bytes([i + 1]) * (256 * 1024)
    for j in range(64):
        want[4 * M + j * 8192:4 * M + (j + 1) * 8192] = bytes([0x40 + j % 32]) * 8192
    assert d == bytes(want), name
PY

# Out of order. The store answers every read from memory or one file read,
# so nothing there is slow enough to show it: this part runs the same
# NbdServer over files with nbd_test_server, whose ":slow" export makes
# reads of its first 4 KiB take a second.
truncate -s 16M "$WORK/slow.img"
"$NBD_TEST_SERVER" --listen "unix:$WORK/slow.sock" --export slow="$WORK/slow.img:slow" \
    >"$WORK/slow.out" 2>"$WORK/slow.log" &
SERVER_PIDS="$SERVER_PIDS $!"
for _ in $(seq 100); do grep -q '^listening' "$WORK/slow.out" && break; sleep 0.05; done
export U_SLOW="nbd+unix:///slow?socket=$WORK/slow.sock"
nbdsh -n -c - <<'PY' || fail "out-of-order checks"
import os, time, nbd
M = 1 << 20
s = nbd.NBD()
s.connect_uri(os.environ["U_SLOW"])
slow_buf = nbd.Buffer(4096)
start = time.monotonic()
slow = s.aio_pread(slow_buf, 0)
fast = [s.aio_pread(nbd.Buffer(4096), M + i * 4096) for i in range(16)]
for cookie in fast:
    while not s.aio_command_completed(cookie):
        s.poll(-1)
fast_done = time.monotonic() - start
assert not s.aio_command_completed(slow), "slow read finished first"
while not s.aio_command_completed(slow):
    s.poll(-1)
assert fast_done < 0.8, fast_done
assert time.monotonic() - start >= 0.9
s.shutdown()
print("out-of-order checks passed")
PY
echo PASS
