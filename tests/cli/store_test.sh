#!/usr/bin/env bash
# init, chunk sizes, --store and LAYERDISK_STORE, usage errors, help.
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

# The environment names the default store; other commands create it.
ld layer list | grep -q "no layers"
[[ -e "$LAYERDISK_STORE/db/CURRENT" ]] || fail "LAYERDISK_STORE was not used"
ld layer list --json >list.json
[[ $(json list.json 'len(d["layers"])') == 0 ]] || fail "fresh store has layers"

# Without either, ./layerdisk-store.
mkdir cwd && (cd cwd && env -u LAYERDISK_STORE "$LAYERDISK" volume list >/dev/null)
[[ -e cwd/layerdisk-store/db/CURRENT ]] || fail "default store ./layerdisk-store not created"
echo PASS
