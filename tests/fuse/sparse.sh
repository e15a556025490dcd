#!/usr/bin/env bash
# Holes through the file: SEEK_DATA/SEEK_HOLE against a known layout,
# qemu-img map and cp --sparse skip them, st_blocks counts data only, and
# fallocate PUNCH_HOLE / ZERO_RANGE read back as zeroes.
. "$(dirname "$0")/functions.sh"
requires python3 qemu-img fallocate cmp

# Layer: 16 MiB, data in even MiBs, holes in odd ones. Volume: 32 MiB over it.
make_image "$WORK/os.img" 16
ld layer import os "$WORK/os.img" >/dev/null || fail "import"
ld volume create v --layers os --size 32M >/dev/null || fail "volume create"
start_server
file=$MNT/volumes/v.raw
MiB=1048576

seeks() {  # prints "whence:offset->result" for each pair, ENXIO as "enxio"
  python3 - "$file" "$@" <<'PY'
import errno, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
for spec in sys.argv[2:]:
    kind, off = spec.split(":")
    whence = os.SEEK_DATA if kind == "data" else os.SEEK_HOLE
    try:
        r = os.lseek(fd, int(off), whence)
    except OSError as e:
        if e.errno != errno.ENXIO: raise
        r = "enxio"
    print(f"{spec}->{r}")
PY
}
expect_seeks() {
  local got want
  got=$(seeks "${@%%=*}")
  want=$(for a in "$@"; do echo "${a%%=*}->${a#*=}"; done)
  [ "$got" = "$want" ] || fail "seeks: got
$got
want
$want"
}
expect_seeks \
  data:0=0 hole:0=$MiB data:$MiB=$((2 * MiB)) data:$((MiB + 5))=$((2 * MiB)) \
  hole:$((2 * MiB + 7))=$((3 * MiB)) data:$((14 * MiB + 1))=$((14 * MiB + 1)) \
  hole:$((14 * MiB))=$((15 * MiB)) data:$((15 * MiB))=enxio \
  hole:$((31 * MiB))=$((31 * MiB)) data:$((32 * MiB))=enxio hole:$((32 * MiB))=enxio

# st_blocks: 8 MiB of data.
[ "$(stat -c %b "$file")" -eq $((8 * 2048)) ] || fail "st_blocks $(stat -c %b "$file"), want $((8 * 2048))"

# qemu-img map (which uses SEEK_DATA/SEEK_HOLE on a raw file) lists the data.
map=$(qemu-img map -f raw --output=json "$file" | python3 -c '
import json, sys
print(" ".join("%d+%d" % (e["start"] // 1048576, e["length"] // 1048576)
               for e in json.load(sys.stdin) if e["data"]))')
[ "$map" = "0+1 2+1 4+1 6+1 8+1 10+1 12+1 14+1" ] || fail "qemu-img map data extents: $map"

# cp --sparse=always keeps the holes: the copy allocates about the data.
cp --sparse=always "$file" "$WORK/copy.raw"
cmp "$file" "$WORK/copy.raw" || fail "cp --sparse copy differs"
used=$(( $(stat -c %b "$WORK/copy.raw") * 512 ))
[ "$used" -le $((9 * MiB)) ] || fail "sparse copy allocates $used bytes, want about 8 MiB"

# Punch a hole through data: zeroes, and the map shows the hole.
fallocate --punch-hole -o $((2 * MiB)) -l $MiB "$file" || fail "punch hole"
cmp -n $MiB -i $((2 * MiB)):0 "$file" /dev/zero || fail "punched range is not zero"
expect_seeks data:$MiB=$((4 * MiB))
# An unaligned punch zeroes exactly its bytes.
fallocate --punch-hole -o $((4 * MiB + 100)) -l 10000 "$file" || fail "unaligned punch"
cmp -n 100 "$file" "$WORK/os.img" -i $((4 * MiB)):$((4 * MiB)) || fail "bytes before the punch changed"
cmp -n 10000 -i $((4 * MiB + 100)):0 "$file" /dev/zero || fail "unaligned punch not zero"
cmp -n $((MiB - 10100)) -i $((4 * MiB + 10100)):$((4 * MiB + 10100)) "$file" "$WORK/os.img" ||
  fail "bytes after the punch changed"
# ZERO_RANGE: zeroes too.
fallocate --zero-range -o $((6 * MiB)) -l $((MiB / 2)) "$file" || fail "zero range"
cmp -n $((MiB / 2)) -i $((6 * MiB)):0 "$file" /dev/zero || fail "zeroed range is not zero"
cmp -n $((MiB / 2)) -i $((6 * MiB + MiB / 2)):$((6 * MiB + MiB / 2)) "$file" "$WORK/os.img" ||
  fail "zero range went too far"
# The layer below is untouched; st_blocks follows (recomputed after 1 s).
cmp "$MNT/layers/os.raw" "$WORK/os.img" || fail "the layer changed"
sleep 1.1
blocks=$(stat -c %b "$file")
[ "$blocks" -lt $((8 * 2048)) ] || fail "st_blocks $blocks did not drop after punching"

stop_server
echo "PASS"
