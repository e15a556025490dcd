#!/bin/bash
# qemu-img against `layerdisk serve`: info, map, compare, and convert into
# and out of a volume; an imported layer served as layer:NAME compares
# equal to its image and maps as it; a volume over it and its snapshot too.
. "$(dirname "$0")/functions.sh"
requires qemu-img qemu-io cmp

# A source image with data, zeroes and holes.
src=$WORK/src.img
truncate -s 48M "$src"
head -c 3M /dev/urandom | dd of="$src" bs=1M seek=2 conv=notrunc status=none
head -c 1M /dev/urandom | dd of="$src" bs=1M seek=30 conv=notrunc status=none
make_volume disk 48M
make_layer src "$src"
ld volume create over --layers src >/dev/null
start_server

qemu-img info "$(uri disk)" | grep -q 'virtual size: 48 MiB (50331648 bytes)' ||
  fail "info: $(qemu-img info "$(uri disk)")"

# Convert a file into the volume, compare, and back out again.
qemu-img convert -n -f raw -O raw "$src" "$(uri disk)" || fail "convert in"
qemu-img compare -f raw -F raw "$src" "$(uri disk)" || fail "compare after convert"
qemu-img convert -f raw -O raw "$(uri disk tcp)" "$WORK/out.img" || fail "convert out"
cmp "$src" "$WORK/out.img" || fail "round trip differs"

# The layer export reads as the imported image, over both transports.
qemu-img compare -f raw -F raw "$src" "$(uri layer:src)" || fail "layer differs from its image"
qemu-img compare -f raw -F raw "$(uri layer:src tcp)" "$(uri disk)" || fail "layer vs volume"

# The maps of the layer, and of the volume composed over it, match the
# image's own layout.
check_map() {
  local map
  map=$(qemu-img map --output=json -f raw "$1")
  echo "$map" | python3 -c '
import json, sys
m = json.load(sys.stdin)
M = 1 << 20
data = [(e["start"], e["length"]) for e in m if e["data"]]
assert data == [(2 * M, 3 * M), (30 * M, M)], data
assert all(e["zero"] for e in m if not e["data"]), m
assert sum(e["length"] for e in m) == 48 * M, m
' || fail "map of $1: $map"
}
check_map "$(uri layer:src)"
check_map "$(uri over tcp)"

# compare notices a difference; a snapshot keeps the state before it.
ld snapshot create over before >/dev/null || fail "snapshot while serving"
qemu-io -f raw -c 'write -P 1 40M 512' "$(uri over)" >/dev/null
if qemu-img compare -f raw -F raw "$src" "$(uri over)" >/dev/null; then
  fail "compare missed a difference"
fi
qemu-img compare -f raw -F raw "$src" "$(uri over@before)" || fail "snapshot changed"
check_map "$(uri over@before)"
# Converting out of a snapshot gives the image back.
qemu-img convert -f raw -O raw "$(uri over@before)" "$WORK/snap.img" || fail "convert snapshot"
cmp "$src" "$WORK/snap.img" || fail "snapshot round trip differs"
echo PASS
