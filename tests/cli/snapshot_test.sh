#!/usr/bin/env bash
# snapshot create / list / rollback / delete, clone at a snapshot, export of
# a snapshot, and the round trip write -> snapshot -> write -> rollback.
source "$(dirname "$0")/lib.sh"

make_image os.img 8
ld layer import os os.img >/dev/null
ld volume create desk --layers os >/dev/null

head -c 100000 /dev/urandom >a.bin
head -c 200000 /dev/urandom >b.bin
ld volume write desk a.bin --offset 64K >/dev/null
ld snapshot create desk one | grep -Eq "in [0-9.]+ ms" || fail "no latency printed"
ld export desk one.img >/dev/null
ld volume write desk b.bin --offset 1M >/dev/null
ld snapshot create desk two --json >two.json
for f in volume name created_unix_ms changed_bytes latency_ms; do
  json two.json "d['$f']" >/dev/null || fail "snapshot JSON lacks $f"
done
[[ $(json two.json 'd["changed_bytes"] >= 200000') == True ]] || fail "changed bytes: $(cat two.json)"
ld export desk two.img >/dev/null

ld snapshot list desk | grep -q "two" || fail "list lacks two"
ld snapshot list desk --json >list.json
[[ $(json list.json '[s["name"] for s in d["snapshots"]]') == "['one', 'two']" ]] || fail "order: $(cat list.json)"
ld volume show desk --json >show.json
[[ $(json show.json 'd["snapshots"]') == 2 ]] || fail "snapshot count"

# Snapshots read as they were; clones of snapshots too.
ld export desk@one one-again.img >/dev/null
cmp one.img one-again.img || fail "desk@one differs"
ld volume clone desk@one fromone >/dev/null
ld export fromone fromone.img >/dev/null
cmp one.img fromone.img || fail "clone of desk@one differs"

# Rollback: later writes vanish, earlier ones stay.
ld snapshot rollback desk one | grep -q "rolled volume desk back"
ld export desk after.img >/dev/null
cmp one.img after.img || fail "rollback to one did not restore it"

ld snapshot rollback desk one --force --json >rb.json
[[ $(json rb.json 'd["rolled_back_to"]') == one ]] || fail "rollback JSON"
expect_fail 3 snapshot rollback desk nosuch
expect_fail 3 snapshot create nosuch s
expect_fail 4 snapshot create desk one
expect_fail 2 snapshot create desk 'bad name'
ld snapshot delete desk one | grep -q "deleted snapshot desk@one"
expect_fail 3 export desk@one x.img
echo PASS
