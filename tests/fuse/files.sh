#!/usr/bin/env bash
# The tree follows the store live, files read as `layerdisk export` writes
# them, and what may not change refuses with a clear errno: EROFS for
# snapshots and layers, EINVAL for a resize, EPERM for rm.
. "$(dirname "$0")/functions.sh"
requires python3 cmp

make_image "$WORK/os.img" 16
ld layer import os "$WORK/os.img" >/dev/null || fail "import"
ld volume create desk --layers os --size 32M >/dev/null || fail "volume create"
ld snapshot create desk first >/dev/null || fail "snapshot create"
start_server

# Layout and sizes.
[ "$(ls "$MNT")" = "$(printf 'layers\nsnapshots\nvolumes')" ] || fail "root: $(ls "$MNT")"
[ -f "$MNT/volumes/desk.raw" ] || fail "no volumes/desk.raw"
[ -f "$MNT/snapshots/desk/first.raw" ] || fail "no snapshots/desk/first.raw"
[ -f "$MNT/layers/os.raw" ] || fail "no layers/os.raw"
[ "$(stat -c %s "$MNT/volumes/desk.raw")" = $((32 << 20)) ] || fail "volume size"
[ "$(stat -c %s "$MNT/layers/os.raw")" = $((16 << 20)) ] || fail "layer size"
# Thin: half of the layer is holes, the volume's tail past it was never written.
blocks=$(stat -c %b "$MNT/volumes/desk.raw")
[ "$blocks" -eq $((8 << 11)) ] || fail "volume st_blocks $blocks, want $((8 << 11)) (8 MiB of data)"
[ "$(stat -c %a "$MNT/volumes/desk.raw")" = 644 ] || fail "volume mode"
[ "$(stat -c %a "$MNT/layers/os.raw")" = 444 ] || fail "layer mode"

# Every file reads exactly as the CLI exports the same device.
for pair in desk:volumes/desk.raw desk@first:snapshots/desk/first.raw layer:os:layers/os.raw; do
  device=${pair%:*} path=${pair##*:}
  ld export "$device" "$WORK/export.raw" >/dev/null || fail "export $device"
  cmp "$WORK/export.raw" "$MNT/$path" || fail "$path differs from layerdisk export $device"
  rm -f "$WORK/export.raw"
done
cmp -n $((16 << 20)) "$WORK/os.img" "$MNT/volumes/desk.raw" || fail "volume differs from its layer"
# Export to another format straight from the file.
if command -v qemu-img >/dev/null; then
  qemu-img convert -f raw -O vhdx "$MNT/volumes/desk.raw" "$WORK/desk.vhdx" || fail "qemu-img convert to vhdx"
  qemu-img compare -f raw -F vhdx "$MNT/volumes/desk.raw" "$WORK/desk.vhdx" >/dev/null ||
    fail "the vhdx made from the FUSE file differs"
fi

# Files appear and disappear as the control socket changes the store.
ld volume create extra --size 8M >/dev/null || fail "volume create extra"
ls "$MNT/volumes" | grep -qx extra.raw || fail "extra.raw not listed after create"
[ "$(stat -c %s "$MNT/volumes/extra.raw")" = $((8 << 20)) ] || fail "extra.raw size"
[ -d "$MNT/snapshots/extra" ] || fail "no snapshots/extra directory"
ld snapshot create extra s1 >/dev/null || fail "snapshot extra"
[ -f "$MNT/snapshots/extra/s1.raw" ] || fail "snapshot file did not appear"
ld volume delete extra >/dev/null || fail "volume delete extra (the FUSE mount must not hold it)"
ls "$MNT/volumes" | grep -qx extra.raw && fail "extra.raw still listed after delete"
wait_for test ! -e "$MNT/volumes/extra.raw" || fail "extra.raw still resolves after delete"
wait_for test ! -e "$MNT/snapshots/extra" || fail "snapshots/extra still there after delete"
# Re-created under the same name: a new file with the new content.
ld volume create extra --size 4M >/dev/null || fail "volume re-create extra"
wait_for test "$(stat -c %s "$MNT/volumes/extra.raw" 2>/dev/null)" = $((4 << 20)) ||
  fail "re-created extra.raw has size $(stat -c %s "$MNT/volumes/extra.raw")"
ld layer import os2 "$WORK/os.img" >/dev/null || fail "layer import os2"
[ -f "$MNT/layers/os2.raw" ] || fail "layers/os2.raw did not appear"

# Read-only files: EROFS on any write, including a writable open.
expect_errno() {  # ERRNO-NAME PYTHON-STATEMENT (f: the path)
  python3 - "$1" "$2" "$3" <<'PY' || fail "$3: expected $1"
import errno, os, sys
want, stmt, path = sys.argv[1], sys.argv[2], sys.argv[3]
try:
    exec(stmt, {"os": os, "f": path})
except OSError as e:
    if e.errno == getattr(errno, want):
        sys.exit(0)
    print("got", errno.errorcode.get(e.errno, e.errno), e)
    sys.exit(1)
print("no error")
sys.exit(1)
PY
}
for ro in "$MNT/snapshots/desk/first.raw" "$MNT/layers/os.raw"; do
  expect_errno EROFS 'os.open(f, os.O_WRONLY)' "$ro"
  expect_errno EROFS 'os.open(f, os.O_RDWR)' "$ro"
done
# A fixed size: truncation refused (as on a block device), the server says why.
expect_errno EINVAL 'os.truncate(f, 1 << 20)' "$MNT/volumes/desk.raw"
expect_errno EINVAL 'os.close(os.open(f, os.O_WRONLY | os.O_TRUNC))' "$MNT/volumes/desk.raw"
python3 -c 'import os, sys; os.truncate(sys.argv[1], 32 << 20)' "$MNT/volumes/desk.raw" ||
  fail "truncate to the same size must succeed"
grep -q 'fixed size of 33554432 bytes' "$SERVER_LOG" || fail "no reason logged for the refused truncate"
# Writes past the end: ENOSPC, as on a block device.
expect_errno ENOSPC 'fd = os.open(f, os.O_WRONLY); os.pwrite(fd, b"x", 32 << 20)' "$MNT/volumes/desk.raw"
# Objects are made and removed with the CLI only.
expect_errno EPERM 'os.unlink(f)' "$MNT/volumes/desk.raw"
expect_errno EPERM 'os.rename(f, f + ".bak")' "$MNT/volumes/desk.raw"
expect_errno EPERM 'open(os.path.join(os.path.dirname(f), "new.raw"), "w")' "$MNT/volumes/desk.raw"
cmp -n $((16 << 20)) "$WORK/os.img" "$MNT/volumes/desk.raw" || fail "a refused operation changed the volume"

# A volume deleted by force under an open file: its I/O fails with ESTALE;
# without --force the delete is refused while the file is open.
python3 - "$MNT/volumes/extra.raw" "$LAYERDISK" <<'PY' || fail "open file of a force-deleted volume"
import errno, os, subprocess, sys
path, layerdisk = sys.argv[1], sys.argv[2]
fd = os.open(path, os.O_RDWR)
os.pread(fd, 4096, 0)
r = subprocess.run([layerdisk, "volume", "delete", "extra"], capture_output=True)
assert r.returncode == 5, f"delete of an open volume: exit {r.returncode}"
subprocess.run([layerdisk, "volume", "delete", "extra", "--force"], check=True,
               stdout=subprocess.DEVNULL)
try:
    os.pread(fd, 4096, 0)
    sys.exit("read after a forced delete succeeded")
except OSError as e:
    assert e.errno == errno.ESTALE, e
os.close(fd)
PY

stop_server
echo "PASS"
