#!/usr/bin/env bash
# Imports and exports while `layerdisk serve` owns the store: the image is
# read by the client and streamed over the control socket (a delta layer's
# blocks whole, with the parent's bytes around the child's sectors).
source "$(dirname "$0")/lib_images.sh"
need_tools qemu-img qemu-nbd

make_image src.raw 16 11
qemu-img convert -f raw -O vhdx -o subformat=dynamic,block_size=1M src.raw base.vhdx
gen_diff vhdx base.vhdx child.vhdx src.raw want-child.raw 0:4096 5120:1536 $((3 << 20)):$((1 << 20))
qemu-img convert -f raw -O qcow2 src.raw base.qcow2

ld init >/dev/null
"$LAYERDISK" serve --nbd "unix:$WORK/nbd.sock" >serve.log 2>&1 &  # not `ld`: $! must be the server itself
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 100); do [[ -S $LAYERDISK_STORE/control.sock ]] && break; sleep 0.1; done
[[ -S $LAYERDISK_STORE/control.sock ]] || fail "the server did not start: $(cat serve.log)"

ld layer import kid child.vhdx --json >kid.json
[[ $(json kid.json '[l["name"] for l in d["stack"]]') == "['kid.1', 'kid']" ]] || fail "stack: $(cat kid.json)"
ld volume create v --layers kid.1,kid >/dev/null
ld export v got.raw >/dev/null
cmp got.raw want-child.raw || fail "the delta imported through the server differs"
ld layer import q base.qcow2 >/dev/null
ld export layer:q got.qcow2 --format qcow2 >/dev/null
qemu-img compare -q -f raw -F qcow2 src.raw got.qcow2 || fail "qcow2 export through the server differs"
# A raw stream from standard input goes through the server too. A client
# cut off mid-stream makes no layer: once the server has given the name up
# again, an import under it works and reads the whole source.
ld layer import piped - <src.raw >/dev/null
ld export layer:piped - | cmp - src.raw || fail "the stream imported through the server differs"
ld layer delete piped >/dev/null
{ head -c $((4 << 20)) src.raw; sleep 60; } | "$LAYERDISK" layer import cut - >/dev/null 2>&1 &
client=$!
sleep 2
kill -9 $client
wait $client 2>/dev/null || true
for _ in $(seq 100); do
  ld layer import cut - <src.raw >/dev/null 2>cut.err && break
  sleep 0.1
done
[[ -s cut.err ]] && fail "the name of a cut-off stream import stayed taken: $(cat cut.err)"
ld export layer:cut - | cmp - src.raw || fail "a cut-off stream import left a layer behind"
ld layer delete cut >/dev/null
# A refused import through the server leaves nothing either.
cp base.vhdx bad.vhdx && truncate -s 100000 bad.vhdx
expect_fail 6 layer import bad bad.vhdx
expect_no_layers 3
echo PASS
