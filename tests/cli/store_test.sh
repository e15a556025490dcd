#!/usr/bin/env bash
# init, chunk sizes, compression, --store and LAYERDISK_STORE, usage errors,
# help.
source "$(dirname "$0")/lib.sh"

ld --help >/dev/null
ld layer --help >/dev/null
expect_fail 2
expect_fail 2 frobnicate
expect_fail 2 layer
expect_fail 2 volume create

for bad in 2K 3K 2M 0 12Q abc -4K; do
  expect_fail 2 --store "$WORK/bad-$bad" init --chunk-size "$bad"
  [[ ! -e "$WORK/bad-$bad/db/CURRENT" ]] || fail "init --chunk-size $bad created a store"
done

ld --json --store "$WORK/s64" init --chunk-size 64K >init.json
[[ $(json init.json 'd["chunk_size"]') == 65536 ]] || fail "chunk size not 64K: $(cat init.json)"
ld --store "$WORK/s64" stats --json >stats.json
[[ $(json stats.json 'd["chunk_size"]') == 65536 ]] || fail "stats chunk size"

expect_fail 4 --store "$WORK/s64" init
expect_message "already exists"

# Compression is chosen at init and kept: stats shows it after a reopen, new
# chunks follow it (zstd stores least, off stores the bytes as they are),
# and every mode reads back exactly what was imported.
python3 - text.img <<'PY'
import random, sys
rng = random.Random(7)
words = [b"desktop", b"layer", b"gold", b"image", b"patch", b"user", b"profile", b"boot"]
with open(sys.argv[1], "wb") as f:
    for i in range(4 << 20 >> 6):  # 4 MiB of 64-byte lines
        f.write(b" ".join(rng.choice(words) for _ in range(12))[:63].ljust(63, b".") + b"\n")
PY
declare -A stored
for mode in zstd zstd-fast off; do
  ld --json --store "$WORK/c-$mode" init --compression "$mode" >init.json
  [[ $(json init.json 'd["compression"]') == "$mode" ]] || fail "init --compression $mode: $(cat init.json)"
  ld --store "$WORK/c-$mode" layer import text text.img --format raw >/dev/null
  ld --store "$WORK/c-$mode" stats --json >stats.json
  [[ $(json stats.json 'd["compression"]') == "$mode" ]] || fail "stats compression $mode"
  ld --store "$WORK/c-$mode" stats | grep -q "new chunks compressed: $mode" || fail "stats text $mode"
  stored[$mode]=$(json stats.json 'd["stored_bytes"]')
  ld --store "$WORK/c-$mode" export layer:text "out-$mode.img" >/dev/null
  cmp -s text.img "out-$mode.img" || fail "compression $mode: export differs from the import"
done
(( stored[zstd] < stored[zstd-fast] && stored[zstd-fast] < stored[off] )) ||
  fail "stored bytes zstd ${stored[zstd]}, zstd-fast ${stored[zstd-fast]}, off ${stored[off]}"
(( stored[off] >= 4 << 20 )) || fail "compression off stored ${stored[off]} bytes of 4 MiB"
[[ $(json stats.json 'd["unique_bytes"]') == $((4 << 20)) ]] || fail "unique bytes"
[[ $(json init.json 'd["compression"]') == off ]] || fail "last init"
LAYERDISK_STORE=$WORK/c-zstd-fast start_server
LAYERDISK_STORE=$WORK/c-zstd-fast ld stats --json >stats.json
[[ $(json stats.json 'd["compression"]') == zstd-fast ]] || fail "stats through the server: $(cat stats.json)"
kill "$SERVER_PID" && wait "$SERVER_PID" || fail "the server did not stop cleanly: $(cat serve.log)"
ld --json --store "$WORK/c-default" init >init.json
[[ $(json init.json 'd["compression"]') == zstd ]] || fail "default compression"
expect_fail 2 --store "$WORK/c-bad" init --compression lz4
expect_message "choose zstd (the default), zstd-fast or off"
[[ ! -e "$WORK/c-bad" ]] || fail "init --compression lz4 created a store"

# The environment names the default store; other commands create it.
ld layer list | grep -q "no layers"
[[ -e "$LAYERDISK_STORE/db/CURRENT" ]] || fail "LAYERDISK_STORE was not used"
ld layer list --json >list.json
[[ $(json list.json 'len(d["layers"])') == 0 ]] || fail "fresh store has layers"

# Without either, ./layerdisk-store.
mkdir cwd && (cd cwd && env -u LAYERDISK_STORE "$LAYERDISK" volume list >/dev/null)
[[ -e cwd/layerdisk-store/db/CURRENT ]] || fail "default store ./layerdisk-store not created"
echo PASS
