#!/bin/bash
# qemu-io against `layerdisk serve`: pattern writes and verified reads, write
# zeroes, discard, FUA, unaligned I/O, on an empty volume and on one over a
# layer (where zeroes and discards must hide the layer's data); the volume
# is then exported by the CLI, through the control socket, and checked.
. "$(dirname "$0")/functions.sh"
requires qemu-io cmp

make_volume disk 32M
python3 - "$WORK/base.img" <<'PY'
import sys
with open(sys.argv[1], "wb") as f:
    f.write(bytes([0xee]) * (8 << 20))
PY
make_filled_volume layered "$WORK/base.img"
start_server

io() {
  local export=$1 out
  shift
  out=$(qemu-io -f raw "$@" "$(uri "$export")" 2>&1) || fail "qemu-io $*: $out"
  if echo "$out" | grep -qiE 'fail|error|mismatch'; then fail "qemu-io $*: $out"; fi
}

io disk -c 'write -P 0xa5 0 4M' -c 'write -P 0x3c 4M 4k' -c 'write -f -P 0x77 8M 64k'
io disk -c 'read -P 0xa5 0 4M' -c 'read -P 0x3c 4M 4k' -c 'read -P 0x77 8M 64k'
# Over TCP as well.
qemu-io -f raw -c 'read -P 0xa5 1M 1M' "$(uri disk tcp)" | grep -q 'read 1048576' ||
  fail "tcp read"

# Write zeroes (with and without unmap) and discard read back as zeroes.
io disk -c 'write -z 1M 1M' -c 'write -z -u 2M 512k' -c 'discard 3M 1M'
io disk -c 'read -P 0 1M 1M' -c 'read -P 0 2M 512k' -c 'read -P 0 3M 1M' \
   -c 'read -P 0xa5 0 1M' -c 'read -P 0xa5 2621440 512k'
# FUA on zeroes too.
io disk -c 'write -z -f 8M 4k' -c 'read -P 0 8M 4k' -c 'read -P 0x77 8196k 60k'

# Unaligned head and tail.
io disk -c 'write -P 0x42 12345 7000' -c 'read -P 0x42 12345 7000' -c 'read -P 0xa5 0 12345'

# The store holds exactly what the client wrote.
ld export disk "$WORK/disk.img" >/dev/null || fail "export while serving"
python3 - "$WORK/disk.img" <<'PY' || fail "exported content"
import sys
d = open(sys.argv[1], 'rb').read()
assert len(d) == 32 << 20, len(d)
def check(off, n, byte):
    assert d[off:off+n] == bytes([byte]) * n, (off, n, byte)
M = 1 << 20
check(0, 12345, 0xa5); check(12345, 7000, 0x42); check(19345, M - 19345, 0xa5)
check(M, M + M // 2, 0); check(5 * M // 2, M // 2, 0xa5); check(3 * M, M, 0)
check(4 * M, 4096, 0x3c); check(8 * M, 4096, 0); check(8 * M + 4096, 60 * 1024, 0x77)
check(8 * M + 65536, 24 * M - 65536, 0)
PY

# Over a layer: the layer shows through until written, zeroed or discarded,
# also for unaligned partial blocks.
io layered -c 'read -P 0xee 0 8M'
io layered -c 'write -P 0x01 4k 4k' -c 'write -z 64k 64k' -c 'write -z -u 1M 4k' \
   -c 'discard 2M 1M' -c 'write -P 0x02 3000 100' -c 'write -z 9000 100' -c 'write -f -P 3 7M 512'
io layered -c 'read -P 0xee 0 3000' -c 'read -P 0x02 3000 100' -c 'read -P 0xee 3100 996' \
   -c 'read -P 0x01 4k 4k' -c 'read -P 0xee 8192 808' -c 'read -P 0 9000 100' \
   -c 'read -P 0xee 9100 56436' -c 'read -P 0 64k 64k' -c 'read -P 0xee 128k 896k' \
   -c 'read -P 0 1M 4k' -c 'read -P 0xee 1052672 1044480' -c 'read -P 0 2M 1M' \
   -c 'read -P 0xee 3M 4M' -c 'read -P 3 7M 512' -c 'read -P 0xee 7340544 1048064'
# The layer under it is untouched.
qemu-io -f raw -r -c 'read -P 0xee 0 8M' "$(uri layer:layered-content)" | grep -q 'read 8388608' ||
  fail "layer changed"
echo PASS
