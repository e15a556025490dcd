#!/bin/bash
# nbdcopy: 256 MiB round trip (multi-conn, parallel requests) with cmp.
. "$(dirname "$0")/functions.sh"
requires nbdcopy cmp

src=$WORK/src.img
truncate -s 256M "$src"
# Random data with holes between, so both data and zero paths run.
for mb in 0 17 64 100 150 255; do
  head -c 8M /dev/urandom | dd of="$src" bs=1M seek=$mb conv=notrunc status=none 2>/dev/null || true
done
truncate -s 256M "$src"
truncate -s 256M "$WORK/disk.img"
start_server --export disk="$WORK/disk.img"

nbdcopy --connections=4 --requests=32 "$src" "$(uri disk)" || fail "copy in"
nbdcopy "$(uri disk tcp)" "$WORK/out.img" || fail "copy out"
cmp "$src" "$WORK/out.img" || fail "round trip differs"
cmp "$src" "$WORK/disk.img" || fail "backing file differs"
# Copying out again through the unix socket with sparse detection.
nbdcopy --connections=2 "$(uri disk)" "$WORK/out2.img" || fail "copy out 2"
cmp "$src" "$WORK/out2.img" || fail "second copy differs"
echo PASS
