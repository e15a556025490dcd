#!/usr/bin/env bash
# Branch cache mode with two real servers on loopback: upstream holds an OS
# layer with a boot sector; the branch runs `serve --upstream`, pulls it
# lazily with the prefetch slowed down, and QEMU (TCG) boots a volume over it
# via NBD while `layer show` still says fetching. Then the copy completes
# and reads byte-identical to the image, fsck clean. A second layer: with
# upstream killed mid-prefetch, reads of fetched blocks work and reads of
# missing ones fail (EIO) while the server keeps running; upstream back and
# the branch restarted, the prefetch resumes and completes.
source "$(dirname "$0")/lib.sh"
REPO=$(cd "$(dirname "$0")/../.." && pwd)
QEMU=${QEMU_SYSTEM_X86_64:-qemu-system-x86_64}
for tool in "$QEMU" qemu-io; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool is not installed"; exit 77; }
done
# shellcheck source=tests/e2e/bootsector.sh
source "$REPO/tests/e2e/bootsector.sh"
require_bootsector "$REPO"

# serve_on NAME STORE GRPC-ADDRESS [ARGS...]: as lib.sh's serve, on a fixed
# or free (port 0) replication address, with more options.
serve_on() {
  local name=$1 store=$2 grpc=$3
  shift 3
  rm -f "$WORK/$name.out" "$WORK/$name.err"
  "$LAYERDISK" --store "$store" serve --nbd "unix:$WORK/$name.nbd" \
    --grpc "$grpc" --grpc-insecure "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
  local pid=$!
  PIDS+=("$pid")
  for _ in $(seq 100); do
    if grep -q '^  grpc ' "$WORK/$name.out" 2>/dev/null; then
      printf -v "${name}_PORT" '%s' "$(sed -n 's/^  grpc .*:\([0-9]*\)$/\1/p' "$WORK/$name.out")"
      printf -v "${name}_PID" '%s' "$pid"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || fail "serve $store exited: $(cat "$WORK/$name.err")"
    sleep 0.1
  done
  fail "serve $store printed no grpc address"
}
fetching() { ld branch layer show "$1" --json >show.json && json show.json 'd["fetching"]'; }
# nbd_read EXPORT OFFSET LENGTH: reads through the branch's NBD socket.
nbd_read() {
  qemu-io -f raw -r -c "read $2 $3" \
    "nbd+unix:///$1?socket=$WORK/BRANCH.nbd" >"$WORK/io.out" 2>&1
}

# Bad input: --upstream-* without --upstream; a direct pull needs --from,
# and --wait is for a pull through a server.
expect_fail 2 --store branch serve --upstream-insecure
expect_message "need --upstream"
expect_fail 2 --store branch serve --upstream-timeout 5s
expect_message "need --upstream"
expect_fail 2 --store branch replicate pull os
expect_message "--from"
expect_fail 2 --store branch replicate pull os --from 127.0.0.1:1 --insecure --wait
expect_message "--wait"

# The OS layer: 16 MiB of half random data, a boot sector at 0, its
# message at 1 MiB.
msg="booted from a layer still being fetched"
make_image os.img 16 1
"$REPO/tests/e2e/make-boot-image" os.img "$msg" --bootsector "$BOOTSECTOR"
ld up layer import os os.img >/dev/null
serve_on UP up 127.0.0.1:0
upstream="127.0.0.1:$UP_PORT"
serve_on BRANCH branch 127.0.0.1:0 --upstream "$upstream" --upstream-insecure \
  --upstream-timeout 3s

# Lazy pull: returns at once; the layer is there, fetching, with progress.
pull_start_ns=$(date +%s%N)
ld branch replicate pull os --bwlimit 1M --json >pull.json
[[ $(json pull.json 'd["layers_created"]') == "['os']" ]] || fail "pull: $(cat pull.json)"
[[ $(fetching os) == True ]] || fail "layer os is not fetching: $(cat show.json)"
ld branch layer show os | grep -q 'fetching (' || fail "layer show says nothing of the fetch"
ld branch layer list | grep -q 'CHUNKS' || fail "layer list shows no progress column"
ld branch volume create desk --layers os >/dev/null

# Boot it over NBD while the prefetch is still running.
"$REPO/tests/e2e/boot-sector-test" --socket "$WORK/BRANCH.nbd" --export desk \
  --expect-msg "$msg" --timeout 60 || fail "the guest did not boot from the fetching layer"
[[ $(fetching os) == True ]] || fail "the prefetch finished before the boot: not a lazy boot"

# The copy completes: complete, identical to the image, fsck clean.
ld branch replicate pull os --wait --json >wait.json
[[ $(json wait.json 'd["up_to_date"]') == True ]] || fail "re-pull: $(cat wait.json)"
# About 8 MiB of records at 1 MiB/s: the pull's --bwlimit held. Timed from
# the pull, not the --wait: a slow machine (sanitizers) spends most of the
# fetch in the steps above, which only lengthens the whole.
fetch_ms=$(( ($(date +%s%N) - pull_start_ns) / 1000000 ))
(( fetch_ms > 6000 )) ||
  fail "the prefetch was not slowed: done $fetch_ms ms after the pull: $(cat wait.json)"
[[ $(fetching os) == False ]] || fail "still fetching after --wait"
ld branch export layer:os "$WORK/branch-os.raw" >/dev/null
cmp "$WORK/branch-os.raw" os.img || fail "the fetched layer differs from upstream's image"
ld branch export desk "$WORK/desk.raw" >/dev/null
cmp <(head -c $((16 << 20)) "$WORK/desk.raw") os.img || fail "the volume differs from the image"
fsck_clean branch
rm -f "$WORK/branch-os.raw" "$WORK/desk.raw"

# A pull with another --from than the server's upstream is refused.
expect_fail 5 --store branch replicate pull os --from 127.0.0.1:1
expect_message "upstream is $upstream"

# Upstream dies mid-prefetch: present blocks read, missing ones fail (EIO),
# the server stays up.
make_image app.img 16 7
ld up layer import app app.img >/dev/null
ld branch replicate pull app --bwlimit 512K >/dev/null
ld branch volume create desk2 --layers app >/dev/null
nbd_read desk2 0 4k || fail "first read of desk2: $(cat "$WORK/io.out")"
# A hung upstream (stopped, its connection still open): a read of a missing
# block fails (EIO) after --upstream-timeout instead of hanging the guest.
kill -STOP "$UP_PID"
start_ns=$(date +%s%N)
if nbd_read desk2 14M 4k; then fail "a missing block read from a hung upstream"; fi
took_ms=$(( ($(date +%s%N) - start_ns) / 1000000 ))
grep -qi 'input/output error' "$WORK/io.out" || fail "not EIO from a hung upstream: $(cat "$WORK/io.out")"
echo "a read on a hung upstream failed (EIO) after $took_ms ms"
(( took_ms < 20000 )) || fail "a read waited $took_ms ms on a hung upstream (--upstream-timeout 3s)"
kill -CONT "$UP_PID"
nbd_read desk2 14M 4k || fail "the block did not read with upstream answering again: $(cat "$WORK/io.out")"
stop_server "$UP_PID"
nbd_read desk2 0 4k || fail "a fetched block did not read without upstream: $(cat "$WORK/io.out")"
if nbd_read desk2 15M 4k; then fail "a missing block read without upstream"; fi
grep -qi 'input/output error' "$WORK/io.out" || fail "not EIO: $(cat "$WORK/io.out")"
kill -0 "$BRANCH_PID" || fail "the branch server died"
[[ $(fetching app) == True ]] || fail "app completed without upstream"
fsck_clean branch  # missing chunks of a fetching layer are expected

# Upstream back (same address), the branch restarted: the prefetch resumes.
serve_on UP up "$upstream"
stop_server "$BRANCH_PID"
serve_on BRANCH branch 127.0.0.1:0 --upstream "$upstream" --upstream-insecure
nbd_read desk2 15M 4k || fail "a missing block did not read with upstream back: $(cat "$WORK/io.out")"
ld branch replicate pull app --wait >/dev/null
[[ $(fetching app) == False ]] || fail "app still fetching after --wait"
ld branch export layer:app "$WORK/branch-app.raw" >/dev/null
cmp "$WORK/branch-app.raw" app.img || fail "the resumed layer differs from upstream's image"
fsck_clean branch
stop_server "$BRANCH_PID"
stop_server "$UP_PID"
fsck_clean branch
echo PASS
