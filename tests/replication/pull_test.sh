#!/usr/bin/env bash
# Pull a layer between two served stores on loopback: the copy reads the same
# byte for byte; a re-pull moves ~nothing; v1 -> v2 with 5% of blocks
# changed moves about the changed chunks; unknown layers and plaintext TCP
# without --grpc-insecure are refused; a served store refuses a direct pull.
source "$(dirname "$0")/lib.sh"

make_image v1.raw 32 1
changed=$(change_blocks v1.raw v2.raw 5 2)
ld up layer import os-v1 v1.raw >/dev/null
serve UP up
echo "upstream on port $UP_PORT"

# First copy.
ld branch replicate pull os-v1 --from "127.0.0.1:$UP_PORT" --insecure --json >first.json
[[ $(json first.json 'd["layers_created"]') == "['os-v1']" ]] || fail "first pull: $(cat first.json)"
[[ $(json first.json 'd["logical_bytes"]') -eq $((32 << 20)) ]] || fail "logical bytes: $(cat first.json)"
echo "first pull: $(json first.json 'd["wire_bytes"]') bytes on the wire"
same_layer os-v1 up branch

# Again: the layer is here; only the header crosses.
ld branch replicate pull os-v1 --from "127.0.0.1:$UP_PORT" --insecure --json >again.json
[[ $(json again.json 'd["up_to_date"]') == True ]] || fail "re-pull: $(cat again.json)"
[[ $(json again.json 'd["wire_bytes"]') -lt 1024 ]] || fail "re-pull moved $(json again.json 'd["wire_bytes"]') bytes"

# v2 (imported while upstream serves): 5% of the blocks are new random
# bytes, incompressible, so their compressed size is about their size. The
# map crosses too, relative to os-v1 (only the changed blocks' names).
ld up layer import os-v2 v2.raw >/dev/null
ld branch replicate pull os-v2 --from "127.0.0.1:$UP_PORT" --insecure --json >v2.json
wire=$(json v2.json 'd["wire_bytes"]')
echo "v2 pull: $wire bytes on the wire for $changed changed bytes"
[[ $wire -lt $((2 * changed)) ]] || fail "v2 moved $wire bytes for $changed changed"
# The issue's target: at most 1.1x the compressed size of the changed
# chunks (record_bytes), thanks to the map sent relative to os-v1.
stored=$(json v2.json 'd["record_bytes"]')
[[ $((wire * 10)) -le $((stored * 11)) ]] || fail "v2 moved $wire bytes for $stored stored bytes of new chunks"
[[ $wire -gt $((changed / 2)) ]] || fail "v2 moved only $wire bytes for $changed changed"
same_layer os-v2 up branch

# A volume over the pulled layer reads as upstream's layer does.
ld branch volume create desk --layers os-v2 >/dev/null
ld branch export desk "$WORK/desk.raw" >/dev/null
cmp "$WORK/desk.raw" v2.raw || fail "volume over the pulled layer differs from the image"

# Errors: unknown layer (exit 3); a served store refuses a direct pull (5);
# plaintext TCP needs --grpc-insecure (2); no peer (1).
expect_fail 3 --store branch replicate pull no-such --from "127.0.0.1:$UP_PORT" --insecure
expect_message "layer 'no-such' does not exist"
expect_fail 2 --store branch replicate pull os-v1 --from "127.0.0.1:$UP_PORT"
expect_message "--insecure"
expect_fail 2 --store other serve --grpc 127.0.0.1:0
expect_message "--grpc-insecure"
serve BRANCH branch
expect_fail 5 --store branch replicate pull os-v1 --from "127.0.0.1:$UP_PORT" --insecure
expect_message "stop the server first"
stop_server "$BRANCH_PID"

fsck_clean up
fsck_clean branch
echo PASS
