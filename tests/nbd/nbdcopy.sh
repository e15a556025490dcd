#!/bin/bash
# nbdcopy against `layerdisk serve`: 256 MiB round trip through a volume
# (multi-conn, parallel requests) with cmp, the store's own export of it,
# and a copy out of the same image imported as a layer.
. "$(dirname "$0")/functions.sh"
requires nbdcopy cmp

src=$WORK/src.img
truncate -s 256M "$src"
# Random data with holes between, so both data and zero paths run.
for mb in 0 17 64 100 150 248; do
  head -c 8M /dev/urandom | dd of="$src" bs=1M seek=$mb conv=notrunc status=none
done
make_volume disk 256M
make_layer src "$src"
start_server

nbdcopy --connections=4 --requests=32 "$src" "$(uri disk)" || fail "copy in"
nbdcopy "$(uri disk tcp)" "$WORK/out.img" || fail "copy out"
cmp "$src" "$WORK/out.img" || fail "round trip differs"
rm "$WORK/out.img"
# What the store holds, exported by the CLI through the control socket.
ld export disk "$WORK/exported.img" >/dev/null || fail "export while serving"
cmp "$src" "$WORK/exported.img" || fail "store content differs"
rm "$WORK/exported.img"
# The imported layer, copied out with several connections.
nbdcopy --connections=2 "$(uri layer:src)" "$WORK/out2.img" || fail "copy layer out"
cmp "$src" "$WORK/out2.img" || fail "layer copy differs"
echo PASS
