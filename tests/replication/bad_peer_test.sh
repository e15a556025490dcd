#!/usr/bin/env bash
# A lying peer (fake_peer): a chunk whose bytes do not match its name, a
# record with a bad checksum, a manifest that does not match its identity.
# Each pull fails with a clear error (exit 6, damaged data), leaves no layer
# behind and fsck clean; a pull from an honest peer then succeeds.
source "$(dirname "$0")/lib.sh"
[[ -x $FAKE_PEER ]] || fail "no fake peer binary given"

make_image img.raw 4 5
ld up layer import os img.raw >/dev/null

lying_pull() {  # MODE EXPECTED_MESSAGE
  coproc PEER { "$FAKE_PEER" up "$1"; }
  local port
  read -r _ port <&"${PEER[0]}"
  expect_fail 6 --store branch replicate pull os --from "127.0.0.1:$port" --insecure
  expect_message "$2"
  echo "$1: $LAST_ERROR"
  exec {PEER[1]}>&-
  wait "$PEER_PID" || true
  ld branch layer list --json >layers.json
  [[ $(json layers.json 'len(d["layers"])') -eq 0 ]] || fail "$1: a layer is visible: $(cat layers.json)"
  fsck_clean branch
}
lying_pull forge "do not match its name"
lying_pull corrupt "checksum"
lying_pull manifest "does not match its identity"

serve UP up
ld branch replicate pull os --from "127.0.0.1:$UP_PORT" --insecure >/dev/null
same_layer os up branch
fsck_clean branch
echo PASS
