#!/bin/bash
# qemu-img: info, map, compare, and convert into and out of an export.
. "$(dirname "$0")/functions.sh"
requires qemu-img cmp

# A source image with data, zeroes and holes.
src=$WORK/src.img
truncate -s 48M "$src"
head -c 3M /dev/urandom | dd of="$src" bs=1M seek=2 conv=notrunc status=none
head -c 1M /dev/urandom | dd of="$src" bs=1M seek=30 conv=notrunc status=none
truncate -s 48M "$WORK/disk.img"
start_server --export disk="$WORK/disk.img" --export src="$src:ro"

qemu-img info "$(uri disk)" | grep -q 'virtual size: 48 MiB (50331648 bytes)' ||
  fail "info: $(qemu-img info "$(uri disk)")"

# Convert a file into the export, compare, and back out again.
qemu-img convert -n -f raw -O raw "$src" "$(uri disk)" || fail "convert in"
qemu-img compare -f raw -F raw "$src" "$(uri disk)" || fail "compare after convert"
qemu-img convert -f raw -O raw "$(uri disk tcp)" "$WORK/out.img" || fail "convert out"
cmp "$src" "$WORK/out.img" || fail "round trip differs"

# The map of the read-only source export matches the file's own layout.
map=$(qemu-img map --output=json -f raw "$(uri src)")
echo "$map"
echo "$map" | python3 -c '
import json, sys
m = json.load(sys.stdin)
M = 1 << 20
data = [(e["start"], e["length"]) for e in m if e["data"]]
assert data == [(2 * M, 3 * M), (30 * M, M)], data
assert all(e["zero"] for e in m if not e["data"]), m
' || fail "map"

# compare notices a difference.
qemu-io -f raw -c 'write -P 1 40M 512' "$(uri disk)" >/dev/null
if qemu-img compare -f raw -F raw "$src" "$(uri disk)" >/dev/null; then
  fail "compare missed a difference"
fi
echo PASS
