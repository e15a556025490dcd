#!/usr/bin/env bash
# One serve process, two frontends, one volume: bytes written through the
# FUSE file are read over NBD and the other way round, also through a file
# descriptor opened before the NBD write (volume files bypass the page cache).
. "$(dirname "$0")/functions.sh"
requires python3 nbdcopy qemu-io qemu-img cmp

ld volume create shared --size 64M >/dev/null || fail "volume create"
start_server
file=$MNT/volumes/shared.raw

# FUSE -> NBD: dd with conv=fsync (the fsync is the flush), read by nbdcopy
# and by qemu-img from the NBD URI.
head -c $((4 << 20)) /dev/urandom >"$WORK/a"
dd if="$WORK/a" of="$file" bs=1M seek=8 conv=notrunc,fsync status=none || fail "dd to the FUSE file"
nbdcopy "$(nbd_uri shared)" "$WORK/nbd.raw" || fail "nbdcopy"
cmp -i $((8 << 20)):0 -n $((4 << 20)) "$WORK/nbd.raw" "$WORK/a" || fail "NBD does not see the FUSE write"
cmp "$WORK/nbd.raw" "$file" || fail "NBD and FUSE disagree on the whole volume"
qemu-img convert -f raw -O raw "$(nbd_uri shared)" "$WORK/qemu.raw" || fail "qemu-img convert"
cmp "$WORK/qemu.raw" "$file" || fail "qemu-img over NBD and FUSE disagree"

# NBD -> FUSE, through an already open descriptor and a fresh open.
python3 - "$file" "$(nbd_uri shared)" <<'PY' || fail "FUSE does not see the NBD write"
import os, subprocess, sys
path, uri = sys.argv[1], sys.argv[2]
fd = os.open(path, os.O_RDONLY)
before = os.pread(fd, 1 << 20, 40 << 20)
assert before == bytes(1 << 20), "region not zero before the NBD write"
subprocess.run(["qemu-io", "-f", "raw", "-c", "write -P 0xab 40M 1M", uri],
               check=True, stdout=subprocess.DEVNULL)
after = os.pread(fd, 1 << 20, 40 << 20)
assert after == b"\xab" * (1 << 20), "open descriptor read stale bytes"
with open(path, "rb") as f:
    f.seek(40 << 20)
    assert f.read(1 << 20) == b"\xab" * (1 << 20), "fresh open read stale bytes"
os.close(fd)
PY

# Interleaved small writes from both sides land in one place.
for i in 0 1 2 3; do
  printf 'fuse-%d' "$i" | dd of="$file" bs=1 seek=$((50 * 1048576 + i * 8192)) conv=notrunc status=none
  qemu-io -f raw -c "write -P $((0x30 + i)) $((50 * 1048576 + i * 8192 + 4096)) 512" "$(nbd_uri shared)" >/dev/null
done
nbdcopy "$(nbd_uri shared)" "$WORK/nbd2.raw" || fail "nbdcopy"
cmp "$WORK/nbd2.raw" "$file" || fail "interleaved writes: NBD and FUSE disagree"

stop_server
echo "PASS"
