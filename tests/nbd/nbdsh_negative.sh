#!/bin/bash
# nbdsh against `layerdisk serve`: errors the server must return (out of
# range, zero length, unknown flags, writes to a snapshot or layer, unknown
# export), structured reads with hole chunks, block status (also over a
# layer with holes), simple replies, and the meta contexts listed.
. "$(dirname "$0")/functions.sh"
requires nbdsh
requires_python_libnbd

# The layer: 1 MiB, data in its second 64 KiB only.
python3 - "$WORK/ro.img" <<'PY'
import sys
with open(sys.argv[1], "wb") as f:
    f.truncate(1 << 20)
    f.seek(65536)
    f.write(b"\x7e" * 65536)
PY
make_layer ro "$WORK/ro.img"
make_volume disk 16M
ld snapshot create disk snap >/dev/null
start_server

export U_DISK=$(uri disk) U_RO=$(uri layer:ro) U_SNAP=$(uri disk@snap) U_NONE=$(uri nosuch)
nbdsh -n -c - <<'PY' || fail "nbdsh checks"
import errno, os, nbd

def expect_err(fn, code, what):
    try:
        fn()
    except nbd.Error as e:
        assert e.errnum == code, "%s: errno %s (%s), want %d" % (what, e.errnum, e.string, code)
        return
    raise AssertionError(what + ": no error")

def connect(uri, meta=True, structured=True):
    h = nbd.NBD()
    h.set_strict_mode(0)  # let bad requests reach the server
    if meta:
        h.add_meta_context("base:allocation")
    h.set_request_structured_replies(structured)
    h.connect_uri(uri)
    return h

M = 1 << 20
h = connect(os.environ["U_DISK"])
size = h.get_size()
assert size == 16 * M

# Ranges.
expect_err(lambda: h.pread(4096, size), errno.EINVAL, "read past end")
expect_err(lambda: h.pread(4096, size - 2048), errno.EINVAL, "read straddling end")
expect_err(lambda: h.pread(4096, (1 << 64) - 2048), errno.EINVAL, "read offset overflow")
expect_err(lambda: h.pwrite(b"x" * 4096, size - 2048), errno.ENOSPC, "write past end")
expect_err(lambda: h.trim(4096, size), errno.ENOSPC, "trim past end")
expect_err(lambda: h.zero(4096, (1 << 64) - 2048), errno.ENOSPC, "zero offset overflow")
expect_err(lambda: h.block_status(4096, size, lambda *a: 0), errno.EINVAL, "status past end")
# Zero length, unknown flags, oversized reads.
expect_err(lambda: h.pread(0, 0), errno.EINVAL, "zero-length read")
expect_err(lambda: h.pwrite(b"", 0), errno.EINVAL, "zero-length write")
expect_err(lambda: h.trim(0, 0), errno.EINVAL, "zero-length trim")
expect_err(lambda: h.zero(0, 0), errno.EINVAL, "zero-length zero")
expect_err(lambda: h.pread(512, 0, flags=1 << 9), errno.EINVAL, "unknown flag")
expect_err(lambda: h.pwrite(b"x" * 512, 0, flags=nbd.CMD_FLAG_REQ_ONE), errno.EINVAL,
           "flag not valid for write")
expect_err(lambda: h.pread(33 * M, 0), errno.EINVAL, "read over 32 MiB")

# The connection still works after every error.
h.pwrite(b"\xab" * 4096, 0, flags=nbd.CMD_FLAG_FUA)
assert h.pread(4096, 0) == b"\xab" * 4096

# Structured read: data where written, hole chunks elsewhere.
h.pwrite(b"\x5a" * 65536, M)
chunks = []
def chunk(sub, off, status, err):
    chunks.append((off, len(sub), status))
    return 0
buf = h.pread_structured(4 * M, 0, chunk)
assert buf == b"\xab" * 4096 + bytes(M - 4096) + b"\x5a" * 65536 + bytes(3 * M - 65536)
data = sorted((o, l) for o, l, s in chunks if s == nbd.READ_DATA)
holes = sorted((o, l) for o, l, s in chunks if s == nbd.READ_HOLE)
assert data == [(0, 4096), (M, 65536)], chunks
assert holes == [(4096, M - 4096), (M + 65536, 3 * M - 65536)], chunks
# DF: one content chunk.
chunks.clear()
h.pread_structured(4 * M, 0, chunk, flags=nbd.CMD_FLAG_DF)
assert len(chunks) == 1 and chunks[0][2] == nbd.READ_DATA, chunks

# Block status.
extents = []
def status(ctx, off, entries, err):
    assert ctx == "base:allocation", ctx
    extents.extend(zip(entries[::2], entries[1::2]))
    return 0
h.block_status(4 * M, 0, status)
HZ = nbd.STATE_HOLE | nbd.STATE_ZERO
assert extents == [(4096, 0), (M - 4096, HZ), (65536, 0), (3 * M - 65536, HZ)], extents
extents.clear()
h.block_status(4 * M, 0, status, flags=nbd.CMD_FLAG_REQ_ONE)
assert extents == [(4096, 0)], extents

# Write zeroes (fast, no-hole, FUA) and trim read back as zeroes.
h.zero(4096, 0, flags=nbd.CMD_FLAG_FAST_ZERO)
h.zero(8192, M, flags=nbd.CMD_FLAG_NO_HOLE | nbd.CMD_FLAG_FUA)
h.trim(65536 - 8192, M + 8192, flags=nbd.CMD_FLAG_FUA)
assert h.pread(M + 65536, 0) == bytes(M + 65536)
h.flush()
h.shutdown()

# No meta context negotiated: block status is refused.
n = connect(os.environ["U_DISK"], meta=False)
expect_err(lambda: n.block_status(4096, 0, status), errno.EINVAL, "status without context")
n.shutdown()

# Simple replies (no structured replies): data and errors.
s = connect(os.environ["U_DISK"], meta=False, structured=False)
assert not s.get_structured_replies_negotiated()
s.pwrite(b"\x01" * 8192, 2 * M)
assert s.pread(8192, 2 * M) == b"\x01" * 8192
expect_err(lambda: s.pread(4096, size), errno.EINVAL, "simple read past end")
assert s.pread(512, 2 * M) == b"\x01" * 512
s.shutdown()

# Read-only exports: a layer and a snapshot.
for u in (os.environ["U_RO"], os.environ["U_SNAP"]):
    r = connect(u)
    assert r.is_read_only(), u
    expect_err(lambda: r.pwrite(b"x" * 512, 0), errno.EPERM, "write to read-only " + u)
    expect_err(lambda: r.pwrite(b"x" * 512, 0, flags=nbd.CMD_FLAG_FUA), errno.EPERM,
               "FUA write to read-only " + u)
    expect_err(lambda: r.trim(512, 0), errno.EPERM, "trim on read-only " + u)
    expect_err(lambda: r.zero(512, 0), errno.EPERM, "zero on read-only " + u)
    assert r.pread(512, 0) == bytes(512)
    r.flush()
    r.shutdown()
# The snapshot was taken before any write: still all zeroes, all hole.
r = connect(os.environ["U_SNAP"])
assert r.pread(M, 0) == bytes(M)
extents.clear()
r.block_status(16 * M, 0, status)
assert extents == [(16 * M, HZ)], extents
r.shutdown()
# The layer: its hole reads as zeroes, reported as hole; its data as data.
r = connect(os.environ["U_RO"])
extents.clear()
r.block_status(M, 0, status)
assert extents == [(65536, HZ), (65536, 0), (M - 131072, HZ)], extents
chunks.clear()
assert r.pread_structured(M, 0, chunk) == bytes(65536) + b"\x7e" * 65536 + bytes(M - 131072)
assert sorted((o, l) for o, l, s in chunks if s == nbd.READ_DATA) == [(65536, 65536)], chunks
r.shutdown()

# Unknown export: refused during the handshake.
u = nbd.NBD()
try:
    u.connect_uri(os.environ["U_NONE"])
    raise AssertionError("connected to an unknown export")
except nbd.Error as e:
    assert e.errnum == errno.ENOENT, e.string

# Option negotiation: list, info with name and description, meta contexts.
o = nbd.NBD()
o.set_opt_mode(True)
o.set_full_info(True)
o.connect_uri(os.environ["U_DISK"])
names = []
o.opt_list(lambda name, desc: names.append((name, desc)) or 0)
assert sorted(n for n, d in names) == ["disk", "disk@snap", "layer:ro"], names
assert dict(names)["layer:ro"] == "layer, 1.0 MiB", names
assert dict(names)["disk"].startswith("volume, 16.0 MiB"), names
o.set_export_name("layer:ro")
o.opt_info()
assert o.get_size() == M and o.is_read_only()
assert o.get_canonical_export_name() == "layer:ro"
o.set_export_name("disk@snap")
o.opt_info()
assert o.get_size() == 16 * M and o.is_read_only()
contexts = []
o.opt_list_meta_context(lambda name: contexts.append(name) or 0)
assert contexts == ["base:allocation", "layerdisk:layer"], contexts
o.set_export_name("nosuch")
expect_err(lambda: o.opt_info(), errno.ENOENT, "info on unknown export")
o.set_export_name("disk")
o.opt_go()
assert o.get_size() == 16 * M
o.shutdown()
print("nbdsh checks passed")
PY
echo PASS
