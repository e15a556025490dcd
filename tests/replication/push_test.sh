#!/usr/bin/env bash
# Push into a served store (serve --grpc-accept-push): a delta layer goes
# with the parent the peer lacks, parent first; a re-push moves ~nothing; a
# server without --grpc-accept-push refuses; a same-named layer with other
# content at the receiver is refused, with nothing created.
source "$(dirname "$0")/lib.sh"
if ! command -v qemu-img >/dev/null; then
  echo "SKIP: qemu-img is needed to make a qcow2 overlay (a delta layer)"
  exit 77
fi

make_image base.raw 8 7
change_blocks base.raw app.raw 10 8 >/dev/null
qemu-img create -q -f qcow2 -F raw -b "$WORK/base.raw" app.qcow2
qemu-io -f qcow2 -c "write -P 0x5a 1M 256k" -c "write -z 3M 64k" app.qcow2 >/dev/null
qemu-img convert -O raw app.qcow2 app-flat.raw
ld up layer import base base.raw >/dev/null
ld up layer import app app.qcow2 --parent base >/dev/null
[[ $(ld up layer show app --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["parent"])') == base ]] ||
  fail "app is not a delta over base"

serve BR branch  # without --grpc-accept-push
expect_fail 1 --store up replicate push app --to "127.0.0.1:$BR_PORT" --insecure
expect_message "--grpc-accept-push"
stop_server "$BR_PID"

"$LAYERDISK" --store branch serve --nbd "unix:$WORK/b.nbd" --grpc 127.0.0.1:0 --grpc-insecure \
  --grpc-accept-push >"$WORK/b.out" 2>"$WORK/b.err" &
PIDS+=($!)
for _ in $(seq 100); do grep -q '^  grpc ' b.out 2>/dev/null && break; sleep 0.1; done
port=$(sed -n 's/^  grpc .*:\([0-9]*\)$/\1/p' b.out)

ld up replicate push app --to "127.0.0.1:$port" --insecure --json >push.json
[[ $(json push.json 'd["layers_created"]') == "['base', 'app']" ]] || fail "push: $(cat push.json)"
same_layer base up branch
same_layer app up branch
ld branch volume create desk --layers base,app >/dev/null
ld branch export desk "$WORK/desk.raw" >/dev/null
cmp "$WORK/desk.raw" app-flat.raw || fail "base + app at the branch differs from the qcow2 chain"

ld up replicate push app --to "127.0.0.1:$port" --insecure --json >again.json
[[ $(json again.json 'd["up_to_date"]') == True ]] || fail "re-push: $(cat again.json)"
[[ $(json again.json 'd["wire_bytes"]') -lt 1024 ]] || fail "re-push moved $(json again.json 'd["wire_bytes"]') bytes"

# Another store whose "base" differs: the branch refuses its "app2".
make_image other.raw 8 9
ld third layer import base other.raw >/dev/null
ld third layer import app2 app.qcow2 --parent base >/dev/null 2>&1 ||
  ld third layer import app2 app-flat.raw >/dev/null
expect_fail 4 --store third replicate push app2 --to "127.0.0.1:$port" --insecure
expect_message "other content"
ld branch layer list --json >layers.json
[[ $(json layers.json 'sorted(l["name"] for l in d["layers"])') == "['app', 'base']" ]] ||
  fail "layers at the branch: $(cat layers.json)"

fsck_clean branch
fsck_clean up
echo PASS
