#!/bin/bash
# nbdinfo against `layerdisk serve`: the export list (volumes, VOL@SNAP,
# layer:NAME with their descriptions), size and flags, and the allocation
# map of a volume, a snapshot and an imported sparse layer.
. "$(dirname "$0")/functions.sh"
requires nbdinfo qemu-io

# A layer with data at 2 MiB..3 MiB and 6 MiB..6 MiB+8K, holes elsewhere.
truncate -s 8M "$WORK/ro.img"
head -c 1M /dev/urandom | dd of="$WORK/ro.img" bs=1M seek=2 conv=notrunc status=none
head -c 8K /dev/urandom | dd of="$WORK/ro.img" bs=1K seek=6144 conv=notrunc status=none
make_layer ro "$WORK/ro.img"
make_volume disk 64M
ld snapshot create disk empty >/dev/null
start_server

list=$(nbdinfo --list "$(uri disk)")
echo "$list" | grep -q '^export="disk":' || fail "disk missing from --list: $list"
echo "$list" | grep -q '^export="disk@empty":' || fail "snapshot missing from --list: $list"
echo "$list" | grep -q '^export="layer:ro":' || fail "layer missing from --list: $list"
echo "$list" | grep -q 'description: volume, 64.0 MiB' || fail "no volume description: $list"
echo "$list" | grep -q 'description: snapshot of disk' || fail "no snapshot description"
echo "$list" | grep -q 'description: layer, 8.0 MiB' || fail "no layer description"
[ "$(echo "$list" | grep '^export=' | tr '\n' ' ')" = \
  'export="disk": export="disk@empty": export="layer:ro": ' ] || fail "unexpected exports: $list"

[ "$(nbdinfo --size "$(uri disk)")" = 67108864 ] || fail "disk size"
[ "$(nbdinfo --size "$(uri layer:ro tcp)")" = 8388608 ] || fail "layer size over TCP"
[ "$(nbdinfo --size "$(uri disk@empty tcp)")" = 67108864 ] || fail "snapshot size over TCP"
nbdinfo --is read-only "$(uri layer:ro)" || fail "layer not read-only"
nbdinfo --is read-only "$(uri disk@empty)" || fail "snapshot not read-only"
nbdinfo --is read-only "$(uri disk)" && fail "volume read-only"
nbdinfo --can multi-conn "$(uri disk)" || fail "no multi-conn"
nbdinfo --can fua "$(uri disk)" || fail "no fua"
nbdinfo --can zero "$(uri disk)" || fail "no write zeroes"
nbdinfo --can fast-zero "$(uri disk)" || fail "no fast zero"
nbdinfo --can trim "$(uri disk)" || fail "no trim"
nbdinfo "$(uri disk)" | grep -q 'block_size_maximum: 33554432' || fail "block size"
nbdinfo "$(uri disk)" | grep -q 'is_rotational: false' || fail "rotational"
# NBD_OPT_GO / INFO of one export carry its description too.
nbdinfo "$(uri disk)" | grep -q 'description: volume, 64.0 MiB' || fail "no description in GO"
nbdinfo "$(uri layer:ro)" | grep -q 'description: layer, 8.0 MiB' || fail "no layer description in GO"

# Data at 1 MiB..2 MiB and 10 MiB..10 MiB+64K, the rest a hole.
qemu-io -f raw -c 'write -P 0x5a 1M 1M' -c 'write -P 0x11 10M 64k' "$(uri disk)" >/dev/null
map=$(nbdinfo --map "$(uri disk)")
echo "$map"
expected="         0     1048576    3  hole,zero
   1048576     1048576    0  data
   2097152     8388608    3  hole,zero
  10485760       65536    0  data
  10551296    56557568    3  hole,zero"
[ "$map" = "$expected" ] || fail "unexpected volume map"
[ "$(nbdinfo --map --totals "$(uri disk)" | awk '$3 == 0 {print $1}')" = 1114112 ] ||
  fail "data total"
# The snapshot taken before the writes is still all hole.
[ "$(nbdinfo --map "$(uri disk@empty tcp)")" = "         0    67108864    3  hole,zero" ] ||
  fail "snapshot map: $(nbdinfo --map "$(uri disk@empty)")"

# The imported layer's holes stay holes.
map=$(nbdinfo --map "$(uri layer:ro)")
echo "$map"
expected="         0     2097152    3  hole,zero
   2097152     1048576    0  data
   3145728     3145728    3  hole,zero
   6291456        8192    0  data
   6299648     2088960    3  hole,zero"
[ "$map" = "$expected" ] || fail "unexpected layer map"
echo PASS
