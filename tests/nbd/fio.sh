#!/bin/bash
# fio's nbd engine: random mixed I/O at queue depth 32 with crc32c verify.
. "$(dirname "$0")/functions.sh"
requires fio
fio --enghelp 2>/dev/null | grep -qw nbd || { echo "SKIP: fio lacks the nbd engine"; exit 77; }

truncate -s 64M "$WORK/disk.img"
start_server --export disk="$WORK/disk.img"

for u in "$(uri disk)" "$(uri disk tcp)"; do
  fio --name=verify --ioengine=nbd --uri="$u" --rw=randwrite --bs=4k \
      --size=32M --iodepth=32 --verify=crc32c --verify_fatal=1 \
      --do_verify=1 --output="$WORK/fio.out" || { cat "$WORK/fio.out"; fail "fio $u"; }
  grep -q 'err= 0' "$WORK/fio.out" || { cat "$WORK/fio.out"; fail "fio errors"; }
done
fio --name=mixed --ioengine=nbd --uri="$(uri disk)" --rw=randrw --bs=4k-64k \
    --size=64M --iodepth=32 --runtime=3 --time_based \
    --output="$WORK/fio.out" || { cat "$WORK/fio.out"; fail "fio mixed"; }
grep -q 'err= 0' "$WORK/fio.out" || { cat "$WORK/fio.out"; fail "fio mixed errors"; }
echo PASS
