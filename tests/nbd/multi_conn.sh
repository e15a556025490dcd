#!/bin/bash
# Multi-conn: a flush on one connection covers writes made on another; and
# requests complete out of order (a slow read does not hold up others).
. "$(dirname "$0")/functions.sh"
requires nbdsh
requires_python_libnbd

truncate -s 16M "$WORK/disk.img"
truncate -s 16M "$WORK/slow.img"
start_server --export disk="$WORK/disk.img" --export slow="$WORK/slow.img:slow"

export U_DISK=$(uri disk) U_DISK_TCP=$(uri disk tcp) U_SLOW=$(uri slow)
nbdsh -n -c - <<'PY' || fail "nbdsh checks"
import os, time, nbd

M = 1 << 20
conns = []
for u in (os.environ["U_DISK"], os.environ["U_DISK"], os.environ["U_DISK_TCP"]):
    h = nbd.NBD()
    h.connect_uri(u)
    assert h.can_multi_conn()
    conns.append(h)
a, b, c = conns
for i, (w, f, r) in enumerate([(a, b, c), (b, c, a), (c, a, b)]):
    data = bytes([i + 1]) * (256 * 1024)
    w.pwrite(data, i * M)
    f.flush()
    assert r.pread(len(data), i * M) == data, i
for h in conns:
    h.shutdown()

# Out of order: the read of the slow export's first block takes a second;
# reads queued behind it on the same connection complete first.
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
print("multi-conn checks passed")
PY
echo PASS
