#!/usr/bin/env bash
# Kill -9 the receiving CLI in the middle of a large pull (slowed by
# --bwlimit so the kill lands mid-transfer): no layer is visible, fsck is
# clean, and the same command resumes, fetching only what is still missing.
# The same when the sending server is killed instead, and restarted.
source "$(dirname "$0")/lib.sh"

make_image big.raw 48 3
ld up layer import big big.raw >/dev/null
serve UP up
# Waits (up to a minute) until store $1 holds more than $2 MB on disk: the
# pull is mid-transfer, whatever the machine's load.
wait_for_bytes() {
  for _ in $(seq 600); do
    [[ $(du -sb "$1" 2>/dev/null | cut -f1) -gt $(($2 * 1000000)) ]] && return 0
    sleep 0.1
  done
  fail "store $1 never grew past $2 MB"
}

total_chunks=$(ld up stats --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["chunks"])')

ld branch init >/dev/null 2>&1 || true
"$LAYERDISK" --store branch replicate pull big --from "127.0.0.1:$UP_PORT" --insecure \
  --bwlimit 4M --json >killed.json 2>killed.err &
pull=$!
wait_for_bytes branch 6
kill -9 "$pull"
wait "$pull" 2>/dev/null && fail "the pull finished before it was killed"

# Nothing half-received is visible, and the store is consistent.
ld branch layer list --json >layers.json
[[ $(json layers.json 'len(d["layers"])') -eq 0 ]] || fail "a layer is visible after the kill: $(cat layers.json)"
fsck_clean branch

ld branch replicate pull big --from "127.0.0.1:$UP_PORT" --insecure --json >resumed.json
fetched=$(json resumed.json 'd["chunks_fetched"]')
echo "resumed: fetched $fetched of $total_chunks chunks"
[[ $fetched -gt 0 && $fetched -lt $total_chunks ]] ||
  fail "the resumed pull fetched $fetched of $total_chunks chunks"
same_layer big up branch
fsck_clean branch

# A GC between the kill and the resume would drop the received chunks (they
# have no references yet): the pull then fetches them again.
ld branch layer delete big >/dev/null
ld branch gc >/dev/null
ld branch replicate pull big --from "127.0.0.1:$UP_PORT" --insecure --json >again.json
[[ $(json again.json 'd["chunks_fetched"]') -eq $total_chunks ]] || fail "after gc: $(cat again.json)"
same_layer big up branch
fsck_clean branch

# The sender disappears mid-transfer (kill -9 of upstream's server): the
# pull fails with a clear error, nothing is visible, and once upstream is
# back the same command finishes, fetching only what is still missing.
"$LAYERDISK" --store branch2 replicate pull big --from "127.0.0.1:$UP_PORT" --insecure \
  --bwlimit 4M >cut.out 2>cut.err &
pull=$!
wait_for_bytes branch2 6
kill -9 "$UP_PID"
rc=0
wait "$pull" || rc=$?
[[ $rc -ne 0 ]] || fail "the pull succeeded although its peer was killed"
grep -q '^layerdisk: error: .*127.0.0.1' cut.err || fail "no clear error naming the peer: $(cat cut.err)"
echo "peer killed: $(cat cut.err)"
ld branch2 layer list --json >layers.json
[[ $(json layers.json 'len(d["layers"])') -eq 0 ]] || fail "a layer is visible after the cut"
fsck_clean branch2
serve UP2 up
ld branch2 replicate pull big --from "127.0.0.1:$UP2_PORT" --insecure --json >after-cut.json
fetched=$(json after-cut.json 'd["chunks_fetched"]')
echo "after the cut: fetched $fetched of $total_chunks chunks"
[[ $fetched -gt 0 && $fetched -lt $total_chunks ]] || fail "fetched $fetched of $total_chunks after the cut"
same_layer big up branch2
fsck_clean branch2
fsck_clean up
echo PASS
