#!/bin/bash
# Live management: while `layerdisk serve` runs and clients are connected,
# the ordinary CLI commands (which reach the server over its control
# socket) work and their effects show on the NBD side at once: volume
# create/clone/delete, snapshot create/list/rollback, layer seal, stats,
# gc. A snapshot taken under a stream of writes holds every write
# acknowledged before it and no torn block; rollback and delete of a volume,
# and delete of a snapshot, with a connected client are refused without
# --force and disconnect it with --force.
. "$(dirname "$0")/functions.sh"
requires nbdsh nbdinfo qemu-img qemu-io
requires_python_libnbd

head -c 8M /dev/urandom >"$WORK/os.img"
make_layer os "$WORK/os.img"
ld volume create desk --layers os >/dev/null
start_server

exports() { nbdinfo --list --json "$(uri "")" |
  python3 -c 'import json, sys; print(" ".join(e["export-name"] for e in json.load(sys.stdin)["exports"]))'; }
has_export() { [[ " $(exports) " == *" $1 "* ]]; }

# Create and clone while serving: new exports appear at once.
ld volume create fresh --size 4M >/dev/null || fail "volume create while serving"
has_export fresh || fail "new volume not listed: $(exports)"
[ "$(nbdinfo --size "$(uri fresh)")" = 4194304 ] || fail "new volume size"
qemu-io -f raw -c 'write -P 0x33 0 64k' "$(uri desk)" >/dev/null
ld volume clone desk twin >/dev/null || fail "volume clone while serving"
has_export twin || fail "clone not listed: $(exports)"
qemu-img compare -f raw -F raw "$(uri desk)" "$(uri twin tcp)" || fail "clone differs"

export LAYERDISK LAYERDISK_STORE U_DESK=$(uri desk) U_TWIN=$(uri twin) SOCK
nbdsh -n -c - <<'PY' || fail "live checks"
import errno, os, subprocess, threading, time, nbd

M, B = 1 << 20, 4096
def uri(export):
    return "nbd+unix:///%s?socket=%s" % (export, os.environ["SOCK"])
def ld(*args):
    return subprocess.run([os.environ["LAYERDISK"], *args], capture_output=True, text=True)
def connect(u):
    h = nbd.NBD()
    h.connect_uri(u)
    return h
def block(i, gen):
    return (b"%08d:%04d;" % (i, gen)) * (B // 14) + b"#" * (B % 14)

def expect_disconnected(h, what):
    try:
        h.pread(B, 0)
        raise AssertionError("client still connected after a " + what)
    except nbd.Error as e:
        print(what, "disconnected the client:", e.string)

# A snapshot under load. Two connections write 4 KiB blocks, each with its
# own content, in disjoint halves of the volume; the snapshot is taken while
# they run.
os_img = open(os.path.join(os.path.dirname(os.environ["LAYERDISK_STORE"]), "os.img"), "rb").read()
desk_before = connect(uri("desk")).pread(8 * M, 0)
acked = [[], []]          # block numbers, in acknowledgement order
issued_before = set()     # blocks sent before the snapshot returned
issued_after = [[], []]   # blocks sent after it
state = {"started": False, "done": False, "acked_at_start": None}
def writer(k):
    # Until 200 writes after the snapshot; blocks 16.. and 1040.. (clear of
    # the first 64 KiB), rewritten with the same content when they wrap.
    h = connect(uri("desk"))
    n = 0
    while len(issued_after[k]) < 200:
        i = k * 1024 + 16 + n % 1000
        if state["done"]:
            issued_after[k].append(i)
        else:
            issued_before.add(i)
        h.pwrite(block(i, 1), i * B)
        acked[k].append(i)
        n += 1
    h.shutdown()
threads = [threading.Thread(target=writer, args=(k,)) for k in (0, 1)]
for t in threads:
    t.start()
while min(len(a) for a in acked) < 100:
    time.sleep(0.01)
state["acked_at_start"] = [list(a) for a in acked]
r = ld("snapshot", "create", "desk", "busy")
state["done"] = True
assert r.returncode == 0, r.stderr
for t in threads:
    t.join()
snap = connect(uri("desk@busy"))
content = snap.pread(8 * M, 0)
snap.shutdown()
only_after = set(issued_after[0] + issued_after[1]) - issued_before
for k in (0, 1):
    for i in state["acked_at_start"][k]:
        assert content[i * B:(i + 1) * B] == block(i, 1), ("acked write missing", i)
for i in only_after:
    assert content[i * B:(i + 1) * B] == desk_before[i * B:(i + 1) * B], ("later write in", i)
for i in range(2048):
    got = content[i * B:(i + 1) * B]
    assert got in (block(i, 1), desk_before[i * B:(i + 1) * B]), ("torn block", i)
print("snapshot under load: %d and %d writes acknowledged before it, %d blocks "
      "written only after it" % (len(state["acked_at_start"][0]),
                                 len(state["acked_at_start"][1]), len(only_after)))
r = ld("snapshot", "list", "desk")
assert r.returncode == 0 and "busy" in r.stdout, r

# Rollback with a connected client: refused, then forced.
h = connect(uri("desk"))
h.pwrite(b"\xdd" * B, 0)
r = ld("snapshot", "rollback", "desk", "busy")
assert r.returncode == 5, (r.returncode, r.stderr)
assert r.stderr.startswith("layerdisk: error: ") and "in use" in r.stderr and "--force" in r.stderr, r.stderr
assert r.stderr.count("\n") == 1, r.stderr
assert h.pread(B, 0) == b"\xdd" * B      # the refusal left the client alone
r = ld("snapshot", "rollback", "desk", "busy", "--force")
assert r.returncode == 0, r.stderr
expect_disconnected(h, "forced rollback")
del h
assert connect(uri("desk")).pread(8 * M, 0) == content, "rollback content"

# Delete with a connected client: refused, then forced.
t = connect(uri("twin"))
r = ld("volume", "delete", "twin")
assert r.returncode == 5 and "in use" in r.stderr, (r.returncode, r.stderr)
assert t.pread(B, 0) == b"\x33" * B
r = ld("volume", "delete", "twin", "--force")
assert r.returncode == 0, r.stderr
expect_disconnected(t, "forced delete")
del t
try:
    connect(uri("twin"))
    raise AssertionError("deleted volume still served")
except nbd.Error as e:
    assert e.errnum == errno.ENOENT, e.string

# Deleting a snapshot a client reads: refused, then forced.
r = ld("snapshot", "create", "desk", "gone")
assert r.returncode == 0, r.stderr
g = connect(uri("desk@gone"))
gone_content = g.pread(B, 0)
r = ld("snapshot", "delete", "desk", "gone")
assert r.returncode == 5 and "in use" in r.stderr and "desk@gone" in r.stderr, (r.returncode, r.stderr)
assert g.pread(B, 0) == gone_content      # the refusal left the reader alone
r = ld("snapshot", "delete", "desk", "gone", "--force")
assert r.returncode == 0, r.stderr
expect_disconnected(g, "forced snapshot delete")
del g
print("live checks passed")
PY
has_export twin && fail "deleted volume still listed: $(exports)"
has_export desk@busy || fail "snapshot not listed: $(exports)"
has_export desk@gone && fail "deleted snapshot still listed: $(exports)"
[ "$(grep -c '^nbd: disconnecting 1 client' "$SERVER_LOG")" = 3 ] ||
  fail "forced disconnects not logged"

# Seal what desk holds above its layer while a client is connected: the
# volume reads the same, layer:NAME holds only the change, and a volume
# composed over both layers reads as desk.
ld export desk "$WORK/desk-before-seal.img" >/dev/null
ld layer seal desk delta >/dev/null || fail "layer seal while serving"
has_export layer:delta || fail "sealed layer not listed: $(exports)"
qemu-img compare -f raw -F raw "$WORK/desk-before-seal.img" "$(uri desk)" || fail "seal changed desk"
qemu-io -f raw -r -c 'read -P 0x33 0 64k' "$(uri layer:delta)" | grep -q 'read 65536' ||
  fail "sealed layer lacks the volume's write"
[ "$(nbdinfo --is read-only "$(uri layer:delta)"; echo $?)" = 0 ] || fail "sealed layer writable"
ld volume create desk2 --layers os,delta >/dev/null || fail "compose over the sealed layer"
qemu-img compare -f raw -F raw "$(uri desk)" "$(uri desk2 tcp)" || fail "composed volume differs"

# Stats and gc while serving.
ld --json stats >"$WORK/stats.json" || fail "stats while serving"
python3 -c 'import json, sys; d = json.load(open(sys.argv[1]))
assert {l["name"] for l in d["layers"]} >= {"os", "delta"}, d' "$WORK/stats.json" ||
  fail "stats: $(cat "$WORK/stats.json")"
ld gc >"$WORK/gc.out" || fail "gc while serving: $(cat "$WORK/gc.out")"
qemu-img compare -f raw -F raw "$WORK/desk-before-seal.img" "$(uri desk)" || fail "gc changed desk"
stop_server
ld fsck >"$WORK/fsck.out" 2>&1 || { cat "$WORK/fsck.out"; fail "fsck after live management"; }
echo PASS
