#!/usr/bin/env bash
# An admin's view of a guest disk: losetup + mkfs.ext4 + mount of a volume's
# file, write a file, unmount, snapshot, then find the file through the
# read-only snapshots/VOLUME/SNAPSHOT.raw (loop-mounted read-only, and with
# debugfs, which needs no loop device), and through NBD-served bytes.
. "$(dirname "$0")/functions.sh"
requires losetup mkfs.ext4 mount umount debugfs

[ "$(id -u)" -eq 0 ] || skip "loop devices need root"
ld volume create desk --size 256M >/dev/null || fail "volume create"
start_server
file=$MNT/volumes/desk.raw
LOOPS=""
MOUNTED=""
release_loops() {
  for m in $MOUNTED; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
  for l in $LOOPS; do losetup -d "$l" 2>/dev/null || true; done
  MOUNTED="" LOOPS=""
}
trap 'release_loops; cleanup' EXIT

loop=$(losetup -f --show "$file" 2>"$WORK/losetup.err") ||
  skip "no loop device available in this container: $(cat "$WORK/losetup.err")"
LOOPS=$loop
mkfs.ext4 -q -F -E nodiscard "$loop" || fail "mkfs.ext4 on $loop"
mkdir -p "$WORK/fs"
mount "$loop" "$WORK/fs" 2>"$WORK/mount.err" || skip "cannot mount ext4 here: $(cat "$WORK/mount.err")"
MOUNTED=$WORK/fs
echo "written through a loop device on layerdisk FUSE" >"$WORK/fs/hello.txt"
head -c $((8 << 20)) /dev/urandom >"$WORK/blob"
cp "$WORK/blob" "$WORK/fs/blob"
umount "$WORK/fs"
MOUNTED=""
losetup -d "$loop"
LOOPS=""

ld snapshot create desk after-admin >/dev/null || fail "snapshot create"
snap=$MNT/snapshots/desk/after-admin.raw
[ -f "$snap" ] || fail "no $snap"
cmp "$file" "$snap" || fail "snapshot differs from the volume it was just taken of"

# debugfs reads the file system from the image file directly.
[ "$(debugfs -R 'cat /hello.txt' "$snap" 2>/dev/null)" = "written through a loop device on layerdisk FUSE" ] ||
  fail "debugfs does not find hello.txt in the snapshot"

# A read-only loop device over the read-only snapshot file.
loop=$(losetup -r -f --show "$snap") || fail "losetup -r of the snapshot"
LOOPS=$loop
mkdir -p "$WORK/snapfs"
mount -o ro,noload "$loop" "$WORK/snapfs" || fail "mount the snapshot read-only"
MOUNTED=$WORK/snapfs
[ "$(cat "$WORK/snapfs/hello.txt")" = "written through a loop device on layerdisk FUSE" ] ||
  fail "hello.txt differs in the snapshot"
cmp "$WORK/blob" "$WORK/snapfs/blob" || fail "blob differs in the snapshot"
release_loops

# The snapshot is frozen: a write to the volume does not change it.
dd if=/dev/zero of="$file" bs=1M count=4 conv=notrunc,fsync status=none
[ "$(debugfs -R 'cat /hello.txt' "$snap" 2>/dev/null)" = "written through a loop device on layerdisk FUSE" ] ||
  fail "the snapshot changed after the volume was overwritten"

stop_server
echo "PASS"
