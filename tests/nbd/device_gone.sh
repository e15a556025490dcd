#!/bin/bash
# A device detached under its clients, as a forced volume delete or
# rollback detaches a served volume: the requests in flight when it goes
# and every later one fail with EIO, none succeeds, and the server ends each
# such connection once its replies are out, logs why, and goes on serving
# the other exports and new clients. The store's forced commands also
# disconnect the clients themselves (live.sh), so whether a request meets
# the detached device first is a race there; this runs the same NbdServer
# over files (nbd_test_server), whose SIGUSR1 detaches the ":detachable"
# export at the moment the test picks, under four libnbd clients and then
# a raw client with dozens of requests in flight: the teardown path that
# had a use after free (e28bfea), which the sanitized suite catches again
# (with that fix reverted it failed 8 runs of 9).
. "$(dirname "$0")/functions.sh"
: "${NBD_TEST_SERVER:?set NBD_TEST_SERVER to the nbd_test_server binary}"
requires nbdsh
requires_python_libnbd

head -c 16M /dev/urandom >"$WORK/gone.img"
cp "$WORK/gone.img" "$WORK/gone.orig"
head -c 4M /dev/urandom >"$WORK/other.img"
SERVER_LOG=$WORK/server.log
"$NBD_TEST_SERVER" --listen "unix:$WORK/nbd.sock" \
    --export gone="$WORK/gone.img:detachable" --export other="$WORK/other.img" \
    >"$WORK/server.out" 2>"$SERVER_LOG" &
SERVER_PID=$!
SERVER_PIDS="$SERVER_PIDS $SERVER_PID"
for _ in $(seq 100); do grep -q '^listening' "$WORK/server.out" && break; sleep 0.05; done
grep -q '^listening' "$WORK/server.out" || fail "nbd_test_server did not start"

export WORK SERVER_PID
nbdsh -n -c - <<'PY' || fail "device gone checks"
import os, signal, time, nbd

K, M = 1024, 1 << 20
work = os.environ["WORK"]
def uri(export):
    return "nbd+unix:///%s?socket=%s/nbd.sock" % (export, work)
def connect(export):
    h = nbd.NBD()
    h.connect_uri(uri(export))
    return h
gone_img = open(work + "/gone.orig", "rb").read()
other_img = open(work + "/other.img", "rb").read()

clients = [connect("gone") for _ in range(4)]
other = connect("other")
for h in clients:
    assert h.pread(64 * K, 0) == gone_img[:64 * K], "read before the detach"

os.kill(int(os.environ["SERVER_PID"]), signal.SIGUSR1)
deadline = time.monotonic() + 10
while "detached" not in open(work + "/server.out").read():
    assert time.monotonic() < deadline, "the server did not detach the export"
    time.sleep(0.01)

# Reads, writes and flushes in flight on every connection at once. The
# first failure ends a connection, so libnbd may find it dead while this
# still queues: what was queued must fail all the same.
cookies = []
def issue(h, n):
    for i in range(32):
        cookies.append((h, h.aio_pread(nbd.Buffer(64 * K), ((n * 32 + i) * 64 * K) % (16 * M))))
    for i in range(8):
        data = nbd.Buffer.from_bytearray(bytearray(b"\xee" * 64 * K))
        cookies.append((h, h.aio_pwrite(data, i * M)))
    cookies.append((h, h.aio_flush()))
for n, h in enumerate(clients):
    try:
        issue(h, n)
    except nbd.Error:
        pass  # already ended
for h in clients:
    try:
        while h.aio_in_flight() > 0:
            h.poll(-1)
    except nbd.Error:
        pass  # the server ended the connection: what is left fails
assert cookies, "no request was queued"
for h, cookie in cookies:
    try:
        done = h.aio_command_completed(cookie)
    except nbd.Error:
        continue  # failed, as it must
    # Never answered: failed when the connection ended.
    assert not done, "a request succeeded on a detached export"
print("%d requests queued after the detach, none succeeded" % len(cookies))

for h in clients:
    try:
        h.pread(4 * K, 0)
        raise AssertionError("a client of the detached export is still connected")
    except nbd.Error:
        pass

# The server goes on: the other export, old and new clients.
assert other.pread(4 * M, 0) == other_img, "the other export after the detach"
assert connect("other").pread(4 * M, 0) == other_img, "a new client of the other export"
print("device gone checks passed")
PY

# A new client of the detached export writes a burst of requests before it
# reads any reply, so that dozens are in flight when the first fails: each
# one read gets an EIO reply, then the server closes.
PYTHONPATH="$(dirname "$0")" python3 - "$WORK/nbd.sock" <<'PY' || fail "burst on the detached export"
import struct, sys
from nbd_wire import CMD_FLUSH, CMD_READ, CMD_WRITE, EIO, REP_ACK, REQ_MAGIC, Client

K = 1024
c = Client(sys.argv[1])
c.greet()
assert c.go(b"gone") == REP_ACK
burst, sent = b"", set()
for handle in range(1, 97):
    cmd = CMD_READ if handle <= 64 else CMD_WRITE if handle <= 95 else CMD_FLUSH
    offset, length = (0, 0) if cmd == CMD_FLUSH else (handle * 64 * K, 64 * K)
    payload = b"\xee" * length if cmd == CMD_WRITE else b""
    burst += struct.pack(">IHHQQI", REQ_MAGIC, 0, cmd, handle, offset, length) + payload
    sent.add(handle)
try:
    c.s.sendall(burst)
except (BrokenPipeError, ConnectionResetError):
    pass  # the server stopped reading: the requests it read are answered
answered = set()
while True:
    try:
        err, handle = c.simple_reply()
    except (EOFError, ConnectionResetError):
        break
    assert err == EIO, (handle, err)
    assert handle in sent and handle not in answered, handle
    answered.add(handle)
assert answered, "no reply before the server closed"
print("burst: %d of %d requests answered EIO, then the server closed" % (len(answered), len(sent)))
PY

cmp -s "$WORK/gone.img" "$WORK/gone.orig" || fail "a write reached the detached export"
ended=$(grep -c "the export was deleted or rolled back" "$SERVER_LOG" || true)
[ "$ended" -eq 5 ] || fail "expected 5 connections ended for the detached export, log has $ended"
kill -TERM "$SERVER_PID"
wait "$SERVER_PID" || fail "nbd_test_server exited $? after the detach"
SERVER_PIDS=""
echo PASS
