#!/usr/bin/env bash
# Two hosts share one RADOS pool (docs/ceph.md): stores A and B, each with
# its own local state and its own `layerdisk serve`.
#  - An OS layer imported on A is listed on B, composed into a volume there
#    (adopted: no chunk bytes copied) and booted by QEMU over B's NBD socket.
#  - A layer sealed on B is listed on A and composes there byte-identical.
#  - A deletes the OS layer and collects garbage: B's volume still reads
#    (B's own references keep the chunks).
#  - gc on both hosts at once, while both import: no referenced chunk goes,
#    fsck is clean on both and every layer reads back as imported.
#  - A is killed (SIGKILL) in the middle of writes and of an import: B's
#    data is intact, A restarts clean without the layer, and A's gc sweeps
#    exactly the killed import's chunks from the pool.
#  - stats show the pool and the chunk cache's hit rate.
#  - A is decommissioned: B forgets it (pool forget), which removes exactly
#    the chunks only A held; B reads on, and A refuses to open.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$here/../.." && pwd)
# shellcheck source=tests/ceph/cluster.sh
. "$here/cluster.sh"
ceph_requires
LAYERDISK=${LAYERDISK:?set LAYERDISK to the layerdisk binary}
QEMU=${QEMU_SYSTEM_X86_64:-qemu-system-x86_64}
for tool in "$QEMU" qemu-io python3; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool is not installed"; exit 77; }
done
# shellcheck source=tests/e2e/bootsector.sh
source "$REPO/tests/e2e/bootsector.sh"
require_bootsector "$REPO"

WORK=$(mktemp -d)
declare -A PID=()
cleanup() {
  for p in "${PID[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PID[@]}"; do wait "$p" 2>/dev/null || true; done
  ceph_stop
  rm -rf "$WORK"
}
trap cleanup EXIT
cd "$WORK"
# shellcheck source=tests/expect.sh disable=SC1091
. "$here/../expect.sh"
# ld HOST ARGS...: layerdisk on host HOST's store (through its server if running).
ld() { local h=$1; shift; "$LAYERDISK" --store "$WORK/$h" "$@"; }

# serve HOST: starts `layerdisk serve` for HOST on a unix NBD socket.
serve() {
  local h=$1
  rm -f "$h.out"
  "$LAYERDISK" --store "$WORK/$h" serve --nbd "unix:$WORK/$h.nbd" >"$h.out" 2>"$h.err" &
  PID[$h]=$!
  wait_for_serve "${PID[$h]}" "$h.out" "$h.err"
}
stop() { kill -TERM "${PID[$1]}"; wait "${PID[$1]}" || fail "serve $1 did not stop cleanly"; unset "PID[$1]"; }
# read_all HOST EXPORT FILE: the export's bytes through HOST's NBD socket.
read_all() {
  qemu-img convert -f raw -O raw "nbd+unix:///$2?socket=$WORK/$1.nbd" "$3" ||
    fail "reading $2 through host $1 failed"
}
# expect_reads HOST EXPORT FILE: the export reads through HOST as FILE.
expect_reads() {
  read_all "$1" "$2" check.img
  cmp -s "$3" check.img || fail "$2 through host $1 does not read as $3"
}
make_image() {  # FILE MIB SEED: half random, half text 4 KiB blocks
  python3 - "$1" "$2" "$3" <<'PY'
import random, sys
path, mib, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(seed)
with open(path, "wb") as f:
    for i in range(mib * 256):
        f.write(rng.randbytes(4096) if i % 2 else ((b"seed %d block %08d " % (seed, i)) * 200)[:4096])
PY
}
chunk_objects() { rados_cli -p shared ls | grep -cE '^[0-9a-f]{64}$' || true; }

ceph_start "$WORK/ceph" || fail "the cluster did not start"
ceph_pool shared || fail "pool shared was not created"
for h in a b; do
  ld "$h" init --chunks rados --ceph-conf "$CEPH_CONF" --pool shared >/dev/null
done

# --- an OS layer imported on A boots on B -----------------------------------
msg="booted on host B from a layer imported on host A"
make_image os.img 8 1
"$REPO/tests/e2e/make-boot-image" os.img "$msg" --bootsector "$BOOTSECTOR"
ld a layer import os os.img --description "gold image" >/dev/null
objects_after_import=$(chunk_objects)
serve a
serve b
ld b --json layer list >list.json
[[ $(json list.json '[l["name"] for l in d["pool_layers"] if not l["here"]]') == "['os']" ]] ||
  fail "B does not list A's layer: $(cat list.json)"
ld b layer list | grep -q '^os .*pool:' || fail "B's layer list does not show os as in the pool"
# A name another host published cannot be taken.
expect_fail 4 --store "$WORK/b" layer import os os.img
expect_message "published by"
ld b volume create desk --layers os >/dev/null
ld b --json layer show os >show.json
[[ $(json show.json 'd["description"]') == "gold image" ]] || fail "adopted without its metadata: $(cat show.json)"
[[ $(chunk_objects) -eq $objects_after_import ]] ||
  fail "adopting the layer wrote chunk objects ($(chunk_objects), was $objects_after_import)"
"$REPO/tests/e2e/boot-sector-test" --socket "$WORK/b.nbd" --export desk \
  --expect-msg "$msg" --timeout 60 || fail "QEMU did not boot on B from A's layer"
read_all b desk desk.img
cmp os.img desk.img || fail "B's volume over A's layer differs from the image"

# --- a layer sealed on B composes on A --------------------------------------
qemu-io -f raw -c "write -P 0x5b 1M 256k" -c "write -P 0x5c 5M 64k" \
  "nbd+unix:///desk?socket=$WORK/b.nbd" >/dev/null
read_all b desk patched.img
ld b layer seal desk patch >/dev/null
ld a --json layer list >list.json
[[ $(json list.json '[l["name"] for l in d["pool_layers"] if not l["here"]]') == "['patch']" ]] ||
  fail "A does not list B's sealed layer: $(cat list.json)"
ld a volume create desk2 --layers os,patch >/dev/null
read_all a desk2 desk2.img
cmp patched.img desk2.img || fail "A's volume over B's sealed layer differs from B's volume"

# --- a layer deleted on A stays readable on B --------------------------------
ld a volume delete desk2 >/dev/null
ld a layer delete patch >/dev/null
ld a layer delete os >/dev/null
ld a gc >/dev/null
ld b --json layer list >list.json
[[ $(json list.json '"os" in [l["name"] for l in d["layers"]]') == True ]] || fail "B lost layer os"
[[ $(json list.json '[l["name"] for l in d.get("pool_layers", []) if l["name"] == "os"]') == "[]" ]] ||
  fail "os is still published after A deleted it: $(cat list.json)"
read_all b desk after-delete.img
cmp patched.img after-delete.img || fail "B's volume changed when A deleted and collected its layers"

# --- gc on both hosts at once, while both import -----------------------------
for i in 1 2 3; do make_image "img$i.img" 4 $((10 + i)); done
cp img1.img dup.img  # the same content imported on both hosts
(
  for i in 1 2 3; do ld a layer import "a$i" "img$i.img" >/dev/null; ld a volume create "va$i" --layers "a$i" >/dev/null; done
  ld a layer import adup dup.img >/dev/null
) &
importer_a=$!
(
  for i in 3 2 1; do ld b layer import "b$i" "img$i.img" >/dev/null; done
  ld b layer import bdup dup.img >/dev/null
) &
importer_b=$!
(for _ in $(seq 6); do ld a gc >/dev/null; done) &
gc_a=$!
(for _ in $(seq 6); do ld b gc >/dev/null; done) &
gc_b=$!
wait "$importer_a" || fail "imports on A failed beside concurrent gc"
wait "$importer_b" || fail "imports on B failed beside concurrent gc"
wait "$gc_a" || fail "gc on A failed"
wait "$gc_b" || fail "gc on B failed"
ld a gc >/dev/null
ld b gc >/dev/null
for h in a b; do
  ld "$h" fsck | grep -q "no problems" || fail "fsck on $h after concurrent gc: $(ld "$h" fsck)"
done
for i in 1 2 3; do
  expect_reads a "layer:a$i" "img$i.img"
  expect_reads b "layer:b$i" "img$i.img"
done
# A drops its copy of the shared content; B's stays whole.
ld a layer delete adup >/dev/null
ld a gc >/dev/null
expect_reads b layer:bdup dup.img

# --- A dies in the middle of writes and of an import ------------------------
ld a volume create scratch --size 16M >/dev/null
head -c 256M /dev/urandom >big.img
objects_before=$(chunk_objects)
qemu-io -f raw -c "write -P 0x77 0 8M" "nbd+unix:///scratch?socket=$WORK/a.nbd" >/dev/null 2>&1 &
writer=$!
ld a layer import big big.img >/dev/null 2>&1 &
importer=$!
# Kill A once the import has put chunks in the pool, well before it ends.
for _ in $(seq 400); do
  (( $(chunk_objects) > objects_before )) && break
  sleep 0.02
done
(( $(chunk_objects) > objects_before )) || fail "the import wrote nothing to the pool"
kill -KILL "${PID[a]}"
wait "${PID[a]}" 2>/dev/null || true
unset "PID[a]"
wait "$writer" 2>/dev/null || true
wait "$importer" 2>/dev/null && fail "the import finished before A was killed"
read_all b desk after-kill.img
cmp patched.img after-kill.img || fail "B's volume changed when A was killed"
ld b fsck | grep -q "no problems" || fail "fsck on B after A was killed"
ld a fsck | grep -q "no problems" || fail "fsck on A after its kill: $(ld a fsck)"
serve a
expect_reads a layer:a2 img2.img
ld a --json layer list >list.json
[[ $(json list.json '"big" in [l["name"] for l in d["layers"]]') == False ]] ||
  fail "the killed import left layer big"
# The killed import's chunks carry A's key but no count of A's: the sweep
# of A's gc releases them, and only them.
ld a gc >/dev/null
[[ $(chunk_objects) -eq $objects_before ]] ||
  fail "after A's gc the pool holds $(chunk_objects) chunk objects, $objects_before before the import"
read_all b desk after-sweep.img
cmp patched.img after-sweep.img || fail "A's sweep after its restart removed B's chunks"

# --- stats: the pool and the chunk cache -------------------------------------
read_all b desk warm.img
ld b --json stats >stats.json
[[ $(json stats.json 'd["pool"]["name"]') == shared ]] || fail "stats: $(cat stats.json)"
[[ $(json stats.json 'd["pool"]["stores"]') == 2 ]] || fail "stats does not count 2 stores"
[[ $(json stats.json 'd["cache"]["hits"] > 0') == True ]] || fail "no cache hits: $(cat stats.json)"
ld b stats | grep -q "RADOS pool     shared" || fail "stats text shows no pool"
ld b stats | grep -q "hit rate" || fail "stats text shows no cache hit rate"

# --- A is decommissioned: B forgets it ---------------------------------------
make_image only-a.img 2 99  # 512 distinct chunks no other store holds
ld a layer import only-a only-a.img >/dev/null
objects_with_a=$(chunk_objects)
ld b --json pool stores >stores.json
id_a=$(json stores.json '[s["id"] for s in d["stores"] if not s["self"]][0]')
id_b=$(json stores.json '[s["id"] for s in d["stores"] if s["self"]][0]')
ld b pool stores | grep -q "$id_b .*(this store)" || fail "pool stores text: $(ld b pool stores)"
expect_fail 5 --store "$WORK/b" pool forget "$id_a"
expect_message "--confirm"
expect_fail 5 --store "$WORK/b" pool forget "$id_b" --confirm
expect_message "is this store"
stop a
ld b --json pool forget "$id_a" --confirm >forget.json
[[ $(json forget.json 'd["was_registered"]') == True ]] || fail "forget: $(cat forget.json)"
[[ $(json forget.json 'd["chunks_removed"]') == 512 ]] ||
  fail "forget removed other than the 512 chunks only A held: $(cat forget.json)"
[[ $(json forget.json 'd["references_dropped"] > 512') == True ]] || fail "forget: $(cat forget.json)"
[[ $(chunk_objects) -eq $((objects_with_a - 512)) ]] ||
  fail "the pool holds $(chunk_objects) chunk objects after forget, $objects_with_a before"
[[ $(rados_cli -p shared listomapkeys layerdisk.pool | grep -c "$id_a") == 0 ]] ||
  fail "A is still registered in the pool"
if rados_cli -p shared ls | grep -E '^[0-9a-f]{64}$' | head -64 |
  while read -r oid; do rados_cli -p shared listomapkeys "$oid"; done | grep -q "ref.$id_a"; then
  fail "a chunk object still carries A's reference"
fi
# B keeps everything it holds.
ld b fsck | grep -q "no problems" || fail "fsck on B after forgetting A: $(ld b fsck)"
expect_reads b desk patched.img
for i in 1 2 3; do expect_reads b "layer:b$i" "img$i.img"; done
# Forgetting again finds nothing left; A, should it come back, refuses to open.
ld b --json pool forget "$id_a" --confirm >forget.json
[[ $(json forget.json '[d["was_registered"], d["references_dropped"], d["chunks_removed"]]') == "[False, 0, 0]" ]] ||
  fail "a second forget: $(cat forget.json)"
expect_fail 5 --store "$WORK/a" layer list
expect_message "was forgotten from RADOS pool shared"
stop b
echo PASS
