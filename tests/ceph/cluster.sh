# shellcheck shell=bash
# A real single-node Ceph cluster for the tests, on 127.0.0.1 with all of its
# state under one temporary directory: one monitor and one OSD on memstore,
# no manager, no authentication. Source it, then:
#   ceph_requires             exit 77 (skip) unless the Ceph daemons, the
#                             rados CLI and librados are installed
#                             (scripts/install-deps installs them)
#   ceph_start DIR            starts the cluster with its state in DIR (made
#                             if missing); sets CEPH_CONF (the client
#                             configuration), CEPH_MON_PID, CEPH_OSD_PID and
#                             CEPH_BRINGUP_MS (start to ready for I/O)
#   ceph_pool NAME            creates a pool of size 1 and waits until an
#                             object can be written to it
#   ceph_stop                 stops the OSD, then the monitor, waiting for
#                             each to exit; safe to call twice
#   ceph_stop_osd             stops only the OSD (clients then time out)
#   rados_cli ARGS...         the rados CLI against the cluster
# Bring-up is ~1-2 s: `paxos propose interval` is lowered from its 1 s
# default, which alone makes it ~6.6 s.

ceph_requires() {
  local tool
  for tool in ceph-mon ceph-osd ceph monmaptool rados; do
    if ! command -v "$tool" >/dev/null 2>&1; then
      echo "SKIP: $tool not installed (scripts/install-deps installs Ceph)"
      exit 77
    fi
  done
  if [ ! -f /usr/include/rados/librados.hpp ]; then
    echo "SKIP: librados headers not installed (scripts/install-deps installs them)"
    exit 77
  fi
}

# A TCP port on 127.0.0.1 that nothing listens on right now.
ceph_free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits until process $1 has exited: a daemon killed but not yet reaped is a
# zombie that kill -0 still finds, so /proc/PID/status is what tells.
ceph_wait_exit() {
  local pid=$1 i
  for i in $(seq 1 200); do
    [ -e "/proc/$pid/status" ] || return 0
    grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null && return 0
    sleep 0.05
  done
  kill -KILL "$pid" 2>/dev/null || true
}

ceph_stop_daemon() {
  local pid=$1
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  ceph_wait_exit "$pid"
  wait "$pid" 2>/dev/null || true
}

ceph_stop_osd() {
  ceph_stop_daemon "${CEPH_OSD_PID:-}"
  CEPH_OSD_PID=""
}

ceph_stop() {
  ceph_stop_osd
  ceph_stop_daemon "${CEPH_MON_PID:-}"
  CEPH_MON_PID=""
}

rados_cli() {
  rados -c "$CEPH_CONF" "$@"
}

ceph_cli() {
  ceph -c "$CEPH_CONF" --connect-timeout 10 "$@"
}

ceph_now_ms() {
  date +%s%3N
}

ceph_start() {
  local dir=$1 start port fsid osd_uuid i
  start=$(ceph_now_ms)
  mkdir -p "$dir/mon/a" "$dir/osd/0" "$dir/run"
  port=$(ceph_free_port)
  fsid=$(python3 -c 'import uuid; print(uuid.uuid4())')
  osd_uuid=$(python3 -c 'import uuid; print(uuid.uuid4())')
  CEPH_CONF=$dir/ceph.conf
  cat >"$CEPH_CONF" <<EOF
[global]
fsid = $fsid
mon host = v2:127.0.0.1:$port
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind ipv4 = true
ms bind ipv6 = false
ms bind msgr1 = false
auth cluster required = none
auth service required = none
auth client required = none
auth allow insecure global id reclaim = true
keyring = $dir/keyring
run dir = $dir/run
admin socket = $dir/run/\$name.\$pid.asok
pid file = $dir/run/\$name.pid
log file = $dir/\$name.log
mon cluster log file = $dir/cluster.log
mon data = $dir/mon/\$id
osd data = $dir/osd/\$id
osd objectstore = memstore
memstore device bytes = 536870912
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
osd pool default pg autoscale mode = off
mon warn on pool no redundancy = false
osd crush chooseleaf type = 0
paxos propose interval = 0.05
mon osd reporter subtree level = osd
osd heartbeat grace = 5
rados osd op timeout = 5
rados mon op timeout = 10
client mount timeout = 10
EOF
  : >"$dir/keyring"
  monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$port]" "$dir/monmap" >/dev/null ||
    return 1
  ceph-mon -c "$CEPH_CONF" --mkfs -i a --monmap "$dir/monmap" >"$dir/mon-mkfs.out" 2>&1 ||
    { cat "$dir/mon-mkfs.out"; return 1; }
  ceph-mon -c "$CEPH_CONF" -f -i a >"$dir/mon.out" 2>&1 &
  CEPH_MON_PID=$!
  ceph_cli osd new "$osd_uuid" >"$dir/osd-new.out" 2>&1 || { cat "$dir/osd-new.out"; return 1; }
  ceph-osd -c "$CEPH_CONF" -i 0 --mkfs --osd-uuid "$osd_uuid" >"$dir/osd-mkfs.out" 2>&1 ||
    { cat "$dir/osd-mkfs.out"; return 1; }
  ceph-osd -c "$CEPH_CONF" -f -i 0 >"$dir/osd.out" 2>&1 &
  CEPH_OSD_PID=$!
  for i in $(seq 1 40); do
    if ceph_cli osd dump 2>/dev/null | grep -q '^osd\.0 up'; then break; fi
    if [ "$i" -eq 40 ]; then echo "ceph: osd.0 did not come up" >&2; return 1; fi
    sleep 0.05
  done
  CEPH_BRINGUP_MS=$(($(ceph_now_ms) - start))
}

ceph_pool() {
  local pool=$1 i
  ceph_cli osd pool create "$pool" 8 8 >/dev/null 2>&1 || return 1
  ceph_cli osd pool set "$pool" size 1 --yes-i-really-mean-it >/dev/null 2>&1 || true
  # The pool's placement groups peer in the background: wait for a write.
  for i in $(seq 1 100); do
    if echo ready | timeout 5 rados -c "$CEPH_CONF" -p "$pool" put .ready - 2>/dev/null; then
      rados -c "$CEPH_CONF" -p "$pool" rm .ready
      return 0
    fi
    sleep 0.1
  done
  echo "ceph: pool $pool never accepted a write" >&2
  return 1
}
