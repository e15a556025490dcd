#!/bin/bash
# Not a ctest: 4 KiB random IOPS at queue depth 32 through fio's nbd engine,
# `layerdisk serve` (a 256 MiB volume) against nbdkit's file plugin (a
# page-cached 256 MiB file) over unix sockets, both holding the same random
# data. Rounds alternate so background load hits both alike; the median of
# each is printed.
#   LAYERDISK=build/tools/layerdisk tests/nbd/bench_vs_nbdkit.sh [ROUNDS] [SECONDS]
. "$(dirname "$0")/functions.sh"
requires fio nbdkit nbdcopy
ROUNDS=${1:-5}
SECONDS_PER_RUN=${2:-5}

head -c 256M /dev/urandom >"$WORK/ld.img"
cp "$WORK/ld.img" "$WORK/kit.img"
make_volume disk 256M
start_server
nbdcopy "$WORK/ld.img" "$(uri disk)"
nbdkit -U "$WORK/kit.sock" -f file "$WORK/kit.img" 2>"$WORK/nbdkit.log" &
SERVER_PIDS="$SERVER_PIDS $!"
for _ in $(seq 50); do [ -S "$WORK/kit.sock" ] && break; sleep 0.1; done

iops() {
  fio --name=bench --ioengine=nbd --uri="$1" --rw="$2" --bs=4k --iodepth=32 \
      --size=256M --runtime="$SECONDS_PER_RUN" --time_based --output-format=terse \
      2>/dev/null | awk -F';' 'NF > 50 { print $8 + $49 }'
}
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

for rw in randread randwrite; do
  : >"$WORK/ld.$rw"; : >"$WORK/kit.$rw"
  for _ in $(seq "$ROUNDS"); do
    iops "$(uri disk)" "$rw" >>"$WORK/ld.$rw"
    iops "nbd+unix:///?socket=$WORK/kit.sock" "$rw" >>"$WORK/kit.$rw"
  done
  echo "$rw: layerdisk $(median <"$WORK/ld.$rw") IOPS, nbdkit file $(median <"$WORK/kit.$rw") IOPS" \
       "(rounds: ld $(tr '\n' ' ' <"$WORK/ld.$rw")/ kit $(tr '\n' ' ' <"$WORK/kit.$rw"))"
done
