#!/bin/bash
# nbdinfo: export list, size and flags, and the allocation map.
. "$(dirname "$0")/functions.sh"
requires nbdinfo qemu-io

truncate -s 64M "$WORK/disk.img"
truncate -s 8M "$WORK/ro.img"
start_server --export disk="$WORK/disk.img" --export ro="$WORK/ro.img:ro"

list=$(nbdinfo --list "$(uri disk)")
echo "$list" | grep -q 'export="disk"' || fail "disk missing from --list: $list"
echo "$list" | grep -q 'export="ro"' || fail "ro missing from --list: $list"
echo "$list" | grep -q "description: file $WORK/ro.img" || fail "no description"

[ "$(nbdinfo --size "$(uri disk)")" = 67108864 ] || fail "disk size"
[ "$(nbdinfo --size "$(uri ro tcp)")" = 8388608 ] || fail "ro size over TCP"
[ "$(nbdinfo --is read-only "$(uri ro)"; echo $?)" = 0 ] || fail "ro not read-only"
nbdinfo --is read-only "$(uri disk)" && fail "disk read-only"
nbdinfo --can multi-conn "$(uri disk)" || fail "no multi-conn"
nbdinfo --can fua "$(uri disk)" || fail "no fua"
nbdinfo --can zero "$(uri disk)" || fail "no write zeroes"
nbdinfo --can fast-zero "$(uri disk)" || fail "no fast zero"
nbdinfo --can trim "$(uri disk)" || fail "no trim"
nbdinfo "$(uri disk)" | grep -q 'block_size_maximum: 33554432' || fail "block size"
nbdinfo "$(uri disk)" | grep -q 'is_rotational: false' || fail "rotational"

# Data at 1 MiB..2 MiB and 10 MiB..10 MiB+64K, the rest a hole.
qemu-io -f raw -c 'write -P 0x5a 1M 1M' -c 'write -P 0x11 10M 64k' "$(uri disk)" >/dev/null
map=$(nbdinfo --map "$(uri disk)")
echo "$map"
expected="         0     1048576    3  hole,zero
   1048576     1048576    0  data
   2097152     8388608    3  hole,zero
  10485760       65536    0  data
  10551296    56557568    3  hole,zero"
[ "$map" = "$expected" ] || fail "unexpected map"
[ "$(nbdinfo --map --totals "$(uri disk)" | awk '$3 == 0 {print $1}')" = 1114112 ] ||
  fail "data total"
echo PASS
