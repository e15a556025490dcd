#!/bin/bash
# qemu-io: pattern writes and verified reads, write zeroes, discard, FUA,
# unaligned I/O; checked through the server and in the backing file.
. "$(dirname "$0")/functions.sh"
requires qemu-io cmp

truncate -s 32M "$WORK/disk.img"
start_server --export disk="$WORK/disk.img"

io() {
  local out
  out=$(qemu-io -f raw "$@" "$(uri disk)" 2>&1) || fail "qemu-io $*: $out"
  if echo "$out" | grep -qiE 'fail|error|mismatch'; then fail "qemu-io $*: $out"; fi
}

io -c 'write -P 0xa5 0 4M' -c 'write -P 0x3c 4M 4k' -c 'write -f -P 0x77 8M 64k'
io -c 'read -P 0xa5 0 4M' -c 'read -P 0x3c 4M 4k' -c 'read -P 0x77 8M 64k'
# Over TCP as well.
qemu-io -f raw -c 'read -P 0xa5 1M 1M' "$(uri disk tcp)" | grep -q 'read 1048576' ||
  fail "tcp read"

# Write zeroes (with and without unmap) and discard read back as zeroes.
io -c 'write -z 1M 1M' -c 'write -z -u 2M 512k' -c 'discard 3M 1M'
io -c 'read -P 0 1M 1M' -c 'read -P 0 2M 512k' -c 'read -P 0 3M 1M' \
   -c 'read -P 0xa5 0 1M' -c 'read -P 0xa5 2621440 512k'
# FUA on zeroes too.
io -c 'write -z -f 8M 4k' -c 'read -P 0 8M 4k' -c 'read -P 0x77 8196k 60k'

# Unaligned head and tail.
io -c 'write -P 0x42 12345 7000' -c 'read -P 0x42 12345 7000' -c 'read -P 0xa5 0 12345'

# The backing file holds exactly what the client wrote.
python3 - "$WORK/disk.img" <<'PY' || fail "backing file content"
import sys
d = open(sys.argv[1], 'rb').read()
def check(off, n, byte):
    assert d[off:off+n] == bytes([byte]) * n, (off, n, byte)
M = 1 << 20
check(0, 12345, 0xa5); check(12345, 7000, 0x42); check(19345, M - 19345, 0xa5)
check(M, M + M // 2, 0); check(5 * M // 2, M // 2, 0xa5); check(3 * M, M, 0)
check(4 * M, 4096, 0x3c); check(8 * M, 4096, 0); check(8 * M + 4096, 60 * 1024, 0x77)
PY
echo PASS
