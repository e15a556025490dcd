#!/usr/bin/env bash
# The test cluster itself: it comes up on loopback under a temporary
# directory, takes a pool, stores and returns an object through the rados
# CLI, and goes down leaving no daemon behind.
set -euo pipefail
here=$(dirname "$0")
# shellcheck source=tests/ceph/cluster.sh
. "$here/cluster.sh"
ceph_requires

WORK=$(mktemp -d)
trap 'ceph_stop; [ -n "${KEEP:-}" ] || rm -rf "$WORK"' EXIT
fail() {
  echo "FAIL: $*" >&2
  tail -5 "$WORK"/ceph/*.log 2>/dev/null >&2 || true
  exit 1
}

ceph_start "$WORK/ceph" || fail "the cluster did not start"
echo "ceph: cluster ready in ${CEPH_BRINGUP_MS} ms"
pool_start=$(ceph_now_ms)
ceph_pool smoke || fail "pool smoke was not created"
echo "ceph: pool ready in $(($(ceph_now_ms) - pool_start)) ms"

head -c 100000 /dev/urandom >"$WORK/object"
rados_cli -p smoke put greeting "$WORK/object" || fail "rados put failed"
rados_cli -p smoke get greeting "$WORK/back" || fail "rados get failed"
cmp "$WORK/object" "$WORK/back" || fail "the object read back differs"
[ "$(rados_cli -p smoke ls)" = greeting ] || fail "rados ls does not list exactly the object"
rados_cli -p smoke rm greeting || fail "rados rm failed"
[ -z "$(rados_cli -p smoke ls)" ] || fail "the object is still listed after rm"

# Nothing may outlive the fixture, and nothing may be written outside it.
mon=$CEPH_MON_PID osd=$CEPH_OSD_PID
ceph_stop
for pid in $mon $osd; do
  if [ -e "/proc/$pid/status" ] && ! grep -q '^State:.*Z' "/proc/$pid/status"; then
    fail "daemon $pid still runs after ceph_stop"
  fi
done
[ -s "$WORK/ceph/cluster.log" ] || fail "the cluster log is not in the temporary directory"
echo "PASS"
