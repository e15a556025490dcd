#!/usr/bin/env bash
# A store whose chunk bytes live in a RADOS pool (`init --chunks rados`):
# an imported image composes into a volume that exports byte for byte,
# locally and through `layerdisk serve`; every chunk is one object; fsck is
# clean; gc removes the objects of unreferenced chunks; a pool that cannot
# be reached fails reads with Unavailable within the client timeout; a
# chunk object holding the wrong bytes fails its reads as damaged.
set -euo pipefail
here=$(dirname "$0")
# shellcheck source=tests/ceph/cluster.sh
. "$here/cluster.sh"
ceph_requires
LAYERDISK=${LAYERDISK:?set LAYERDISK to the layerdisk binary}

WORK=$(mktemp -d)
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" || true; fi
  ceph_stop
  rm -rf "$WORK"
}
trap cleanup EXIT
cd "$WORK"
# shellcheck source=tests/expect.sh disable=SC1091
. "$here/../expect.sh"
export LAYERDISK_STORE=$WORK/store
ld() { "$LAYERDISK" "$@"; }

ceph_start "$WORK/ceph" || fail "the cluster did not start"
echo "ceph: cluster ready in ${CEPH_BRINGUP_MS} ms"
ceph_pool chunks || fail "pool chunks was not created"
# Chunk objects: those named by 64 hex digits (the others are the pool's
# record and its catalog of published layers).
objects() { rados_cli -p chunks ls | grep -cE '^[0-9a-f]{64}$' || true; }

# Bad flags change nothing.
expect_fail 2 init --chunks rados --pool chunks
expect_message "--ceph-conf"
expect_fail 2 init --chunks s3 --ceph-conf "$CEPH_CONF" --pool chunks
expect_fail 2 init --pool chunks
[ ! -e "$LAYERDISK_STORE" ] || fail "a refused init made the store"
expect_fail 2 init --chunks rados --ceph-conf "$WORK/no.conf" --pool chunks
expect_message "no.conf"
expect_fail 3 init --chunks rados --ceph-conf "$CEPH_CONF" --pool nosuchpool
expect_message "nosuchpool"
[ ! -e "$LAYERDISK_STORE" ] || fail "init on a missing pool made the store"

ld --json init --chunks rados --ceph-conf "$CEPH_CONF" --pool chunks >init.json
[ "$(json init.json 'd["chunks"]')" = rados ] || fail "init JSON: $(cat init.json)"
rados_cli -p chunks listomapkeys layerdisk.pool >pool.txt
[ "$(grep -c '^store\.' pool.txt)" -eq 1 ] || fail "the pool's record does not list the store: $(cat pool.txt)"
# Stores sharing a pool must agree on the chunk size (their layers are shared).
expect_fail 5 --store "$WORK/other" init --chunks rados --ceph-conf "$CEPH_CONF" --pool chunks \
  --chunk-size 65536
expect_message "must agree"
[ ! -e "$WORK/other" ] || fail "the refused store was made"

# 8 MiB: random data, repeated text (dedup) and holes.
python3 - os.img <<'PY'
import random, sys
rng = random.Random(8)
with open(sys.argv[1], "wb") as f:
    f.truncate(8 << 20)
    for i in range(0, 8, 2):
        f.seek(i << 20)
        f.write(rng.randbytes(256 << 10))
        f.write((b"the same line again\n" * 20000)[:256 << 10])
PY
ld layer import os os.img --format raw >/dev/null
ld stats --json >stats.json
chunks=$(json stats.json 'd["chunks"]')
[ "$chunks" -gt 64 ] || fail "only $chunks chunks stored: $(cat stats.json)"
[ "$(objects)" -eq "$chunks" ] || fail "pool holds $(objects) objects, the store counts $chunks chunks"
[ ! -s "$(ls store/db/*.blob 2>/dev/null | head -1)" ] || fail "chunk bytes went to local blob files"

ld volume create desk --layers os >/dev/null
ld export desk desk.img >/dev/null
cmp os.img desk.img || fail "the volume over the RADOS-backed layer differs from the image"
ld fsck | grep -q "no problems" || fail "fsck of the RADOS-backed store is not clean"

# The same through a server that owns the store.
"$LAYERDISK" serve --nbd "unix:$WORK/nbd.sock" >serve.out 2>serve.log &
SERVER_PID=$!
wait_for_serve "$SERVER_PID" serve.out serve.log
ld export desk served.img >/dev/null
cmp os.img served.img || fail "the export through serve differs from the image"
kill -TERM "$SERVER_PID"
wait "$SERVER_PID" || fail "serve did not stop cleanly: $(cat serve.log)"
SERVER_PID=""

# gc removes the objects of chunks nothing references.
before=$(objects)
ld volume delete desk >/dev/null
ld layer delete os >/dev/null
ld --json gc >gc.json
[ "$(json gc.json 'd["chunks_removed"]')" -eq "$before" ] || fail "gc: $(cat gc.json), $before objects before"
[ "$(objects)" -eq 0 ] || fail "gc left $(objects) of $before objects in the pool"
ld fsck | grep -q "no problems" || fail "fsck after gc is not clean"

# A chunk object holding another chunk's valid record (a hostile or broken
# host on the pool): the read fails as damaged data, never returns the
# other chunk's bytes.
ld layer import os os.img --format raw >/dev/null
mapfile -t chunk_names < <(rados_cli -p chunks ls | grep -E '^[0-9a-f]{64}$' | sort | head -2)
rados_cli -p chunks get "${chunk_names[0]}" swapped.rec
rados_cli -p chunks put "${chunk_names[1]}" swapped.rec
expect_fail 6 export layer:os poisoned.img
expect_message "does not hold the bytes its name says"
ld layer delete os >/dev/null
ld gc >/dev/null

# An unreachable pool: reads fail with Unavailable (exit 7) after the client
# timeout, never hang.
ld layer import os os.img --format raw >/dev/null
ceph_stop_osd
start=$(ceph_now_ms)
expect_fail 7 export layer:os lost.img
expect_message "RADOS pool chunks"
took=$(($(ceph_now_ms) - start))
echo "ceph: a read from the stopped pool failed in $took ms"
[ "$took" -lt 30000 ] || fail "the failed read took $took ms"
echo PASS
