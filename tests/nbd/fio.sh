#!/bin/bash
# fio's nbd engine against `layerdisk serve`: random writes at queue depth 32
# verified with crc32c on an empty volume and on one over a layer, then
# random mixed I/O; afterwards the store passes fsck.
. "$(dirname "$0")/functions.sh"
requires fio
fio --enghelp 2>/dev/null | grep -qw nbd || { echo "SKIP: fio lacks the nbd engine"; exit 77; }

head -c 64M /dev/urandom >"$WORK/base.img"
make_volume disk 64M
make_filled_volume layered "$WORK/base.img"
start_server

run_fio() {
  fio "$@" --output="$WORK/fio.out" || { cat "$WORK/fio.out"; fail "fio $*"; }
  grep -q 'err= 0' "$WORK/fio.out" || { cat "$WORK/fio.out"; fail "fio errors: $*"; }
}
for u in "$(uri disk)" "$(uri disk tcp)" "$(uri layered)"; do
  run_fio --name=verify --ioengine=nbd --uri="$u" --rw=randwrite --bs=4k \
      --size=32M --iodepth=32 --verify=crc32c --verify_fatal=1 --do_verify=1
done
# Mixed sizes (unaligned to the 4 KiB chunks at the tail) over the layer.
run_fio --name=mixed --ioengine=nbd --uri="$(uri layered)" --rw=randrw --bs=4k-64k \
    --size=64M --iodepth=32 --runtime=3 --time_based
run_fio --name=verify-mixed --ioengine=nbd --uri="$(uri disk)" --rw=randwrite \
    --bsrange=512-128k --size=64M --iodepth=16 --verify=crc32c --verify_fatal=1 \
    --do_verify=1 --number_ios=2000
stop_server
ld fsck >"$WORK/fsck.out" 2>&1 || { cat "$WORK/fsck.out"; fail "fsck after fio"; }
echo PASS
