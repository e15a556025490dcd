#!/bin/bash
# The layerdisk:layer meta context next to base:allocation: LIST and SET
# name it, BLOCK_STATUS answers both contexts in one reply, and each
# extent's flags are the stack position of the layer `volume map` says
# serves it (1 = lowest, the head last, 0 = hole).
. "$(dirname "$0")/functions.sh"
requires nbdsh
requires_python_libnbd

K=1024
# os: 1 MiB with data in its first 256 KiB (the rest holes).
python3 - "$WORK/os.img" <<'PY'
import sys
with open(sys.argv[1], "wb") as f:
    f.truncate(1 << 20)
    f.write(b"\x11" * (256 << 10))
PY
make_layer os "$WORK/os.img"
# app: 64 KiB at 128 KiB, captured on os.
ld volume create capture --layers os >/dev/null || fail "volume create capture"
head -c $((64 * K)) /dev/urandom >"$WORK/app.bin"
ld volume write capture "$WORK/app.bin" --offset $((128 * K)) >/dev/null || fail "write app"
ld layer seal capture app >/dev/null || fail "seal app"
# desk = os, app, head: the head writes 4 KiB at 512 KiB and zeroes 0-4 KiB.
ld volume create desk --layers os,app >/dev/null 2>&1 || fail "volume create desk"
head -c $((4 * K)) /dev/urandom >"$WORK/head.bin"
ld volume write desk "$WORK/head.bin" --offset $((512 * K)) >/dev/null || fail "write head"
head -c $((4 * K)) /dev/zero >"$WORK/zero.bin"
ld volume write desk "$WORK/zero.bin" --offset 0 >/dev/null || fail "zero head"
start_server

# The CLI's map, through the running server, names the positions.
ld volume map desk --json >"$WORK/map.json" || fail "volume map desk"

export U_DESK=$(uri desk) U_OS=$(uri layer:os) MAP=$WORK/map.json
nbdsh -n -c - <<'PY' || fail "nbdsh checks"
import json, os, nbd

K = 1024
doc = json.load(open(os.environ["MAP"]))
assert doc["layers"] == ["os", "app", "(head)"], doc["layers"]

def listed(uri, queries):
    h = nbd.NBD()
    h.set_opt_mode(True)
    h.set_request_structured_replies(True)
    for q in queries:
        h.add_meta_context(q)
    h.connect_uri(uri)
    names = []
    h.opt_list_meta_context(lambda name: names.append(name) or 0)
    h.opt_abort()
    return sorted(names)

assert listed(os.environ["U_DESK"], []) == ["base:allocation", "layerdisk:layer"]
assert listed(os.environ["U_DESK"], ["layerdisk:"]) == ["layerdisk:layer"]
assert listed(os.environ["U_DESK"], ["base:"]) == ["base:allocation"]

def status(uri, contexts, size):
    """{context: [(offset, length, flags)...]} over the whole export."""
    h = nbd.NBD()
    for c in contexts:
        h.add_meta_context(c)
    h.connect_uri(uri)
    for c in contexts:
        assert h.can_meta_context(c), c
    runs = {c: [] for c in contexts}
    pos = 0
    while pos < size:
        got = {}
        def cb(ctx, offset, entries, err):
            got[ctx] = (offset, entries)
            return 0
        h.block_status(size - pos, pos, cb)
        assert set(got) == set(contexts), got.keys()
        ends = []
        for c, (offset, entries) in got.items():
            assert offset == pos
            o = pos
            for i in range(0, len(entries), 2):
                runs[c].append((o, entries[i], entries[i + 1]))
                o += entries[i]
            ends.append(o)
        pos = min(ends)
        # Keep only what both contexts described; ask again from there.
        for c in contexts:
            kept = []
            for (o, n, f) in runs[c]:
                if o >= pos:
                    continue
                kept.append((o, min(n, pos - o), f))
            runs[c] = kept
    h.shutdown()
    return runs

def merged(runs):
    out = []
    for (o, n, f) in runs:
        if out and out[-1][2] == f and out[-1][0] + out[-1][1] == o:
            out[-1] = (out[-1][0], out[-1][1] + n, f)
        else:
            out.append((o, n, f))
    return out

size = 1 << 20
runs = status(os.environ["U_DESK"], ["base:allocation", "layerdisk:layer"], size)
want_layers = [
    (0, 4 * K, 3),                 # the head's zero marker over os
    (4 * K, 124 * K, 1),           # os
    (128 * K, 64 * K, 2),          # app
    (192 * K, 64 * K, 1),          # os
    (256 * K, 256 * K, 0),         # hole
    (512 * K, 4 * K, 3),           # head data
    (516 * K, size - 516 * K, 0),  # hole
]
assert merged(runs["layerdisk:layer"]) == want_layers, merged(runs["layerdisk:layer"])
want_alloc = [
    (0, 4 * K, 3),                 # hole|zero
    (4 * K, 252 * K, 0),           # data
    (256 * K, 256 * K, 3),
    (512 * K, 4 * K, 0),
    (516 * K, size - 516 * K, 3),
]
assert merged(runs["base:allocation"]) == want_alloc, merged(runs["base:allocation"])

# The CLI's map attributes every extent to the same positions.
cli = [(e["offset"], e["length"], e["position"]) for e in doc["extents"]]
assert merged(cli) == want_layers, cli
kinds = {e["offset"]: e["kind"] for e in doc["extents"]}
assert kinds[0] == "zero" and kinds[128 * K] == "data" and kinds[256 * K] == "hole", kinds

# layerdisk:layer alone, and on a layer export (one layer: position 1).
runs = status(os.environ["U_DESK"], ["layerdisk:layer"], size)
assert merged(runs["layerdisk:layer"]) == want_layers
runs = status(os.environ["U_OS"], ["layerdisk:layer"], size)
assert merged(runs["layerdisk:layer"]) == [(0, 256 * K, 1), (256 * K, size - 256 * K, 0)]

# REQ_ONE: one descriptor per context.
h = nbd.NBD()
h.add_meta_context("base:allocation")
h.add_meta_context("layerdisk:layer")
h.connect_uri(os.environ["U_DESK"])
got = {}
def one(ctx, offset, entries, err):
    got[ctx] = entries
    return 0
h.block_status(size, 0, one, nbd.CMD_FLAG_REQ_ONE)
assert got["layerdisk:layer"] == [4 * K, 3], got
assert got["base:allocation"] == [4 * K, 3], got
h.shutdown()
PY
echo "PASS"
