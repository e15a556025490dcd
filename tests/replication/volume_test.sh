#!/usr/bin/env bash
# push-volume / pull-volume (docs/replication.md, "Volumes"): a user volume
# over an OS layer is backed up to a served upstream as its snapshots; a
# second push sends about only the new data; a re-push sends nothing; the
# branch store is wiped and the volume pulled back, every snapshot byte for
# byte as it was, the head at the latest snapshot. A diverged upstream
# volume is refused; a push killed mid-transfer leaves nothing visible and
# resumes; lying peers are refused with nothing created.
source "$(dirname "$0")/lib.sh"
[[ -x $FAKE_PEER ]] || fail "no fake peer binary given"

make_image os.raw 16 1
make_image d1.raw 4 2
make_image d2.raw 2 3
ld branch layer import os os.raw >/dev/null
ld branch volume create desk --layers os >/dev/null
ld branch volume write desk d1.raw --offset 1M >/dev/null
ld branch snapshot create desk s1 >/dev/null

serve UP up --grpc-accept-push
to=(--to "127.0.0.1:$UP_PORT" --insecure)

# A push into a server without --grpc-accept-push is refused.
serve NOPUSH nopush
expect_fail 1 --store branch replicate push-volume desk --snapshot s1 \
  --to "127.0.0.1:$NOPUSH_PORT" --insecure
expect_message "--grpc-accept-push"
stop_server "$NOPUSH_PID"

ld branch replicate push-volume desk --snapshot s1 "${to[@]}" --json >p1.json
[[ $(json p1.json 'd["snapshots_created"]') == "['s1']" ]] || fail "push 1: $(cat p1.json)"
[[ $(json p1.json 'd["layers_created"]') == "['os']" ]] || fail "push 1: $(cat p1.json)"
first_chunks=$(json p1.json 'd["chunks"]')

# More data, then a push that takes its own snapshot (backup-<UTC time>).
ld branch volume write desk d2.raw --offset 8M >/dev/null
ld branch replicate push-volume desk "${to[@]}" --json >p2.json
backup=$(json p2.json 'd["snapshot"]')
[[ $backup == backup-* ]] || fail "push 2 took no backup snapshot: $(cat p2.json)"
[[ $(json p2.json 'd["snapshots_created"]') == "['$backup']" ]] || fail "push 2: $(cat p2.json)"
chunks=$(json p2.json 'd["chunks"]')
wire=$(json p2.json 'd["wire_bytes"]')
echo "push 1: $first_chunks chunks; push 2: $chunks chunks, $wire bytes on the wire for 2 MiB written"
# d2 is 512 distinct 4 KiB blocks, half of them text that compresses.
[[ $chunks -le 520 && $chunks -ge 500 ]] || fail "push 2 sent $chunks chunks for 512 new blocks"
[[ $wire -lt $((2200 * 1024)) ]] || fail "push 2 moved $wire bytes for 2 MiB of new data"

ld branch replicate push-volume desk --snapshot "$backup" "${to[@]}" --json >p3.json
[[ $(json p3.json 'd["up_to_date"]') == True ]] || fail "re-push: $(cat p3.json)"
[[ $(json p3.json 'd["wire_bytes"]') -lt 4096 ]] || fail "re-push moved $(json p3.json 'd["wire_bytes"]') bytes"

# What the branch's snapshots read, before the branch is lost.
for s in s1 "$backup"; do ld branch export "desk@$s" "branch-$s.raw" >/dev/null; done

# Upstream (through its server) reads the same.
for s in s1 "$backup"; do
  ld up export "desk@$s" "up-$s.raw" >/dev/null
  cmp "branch-$s.raw" "up-$s.raw" || fail "snapshot $s differs upstream"
done

# A diverged upstream volume: another store's "desk" over the same OS layer,
# with other data in its s1. Refused, nothing changed upstream.
ld other layer import os os.raw >/dev/null
ld other volume create desk --layers os >/dev/null
ld other volume write desk d2.raw --offset 1M >/dev/null
ld other snapshot create desk s1 >/dev/null
expect_fail 5 --store other replicate push-volume desk --snapshot s1 "${to[@]}"
expect_message "diverged"
echo "diverged: $LAST_ERROR"
# The same volume pushed under another name is fine.
ld other replicate push-volume desk --snapshot s1 --as desk-other "${to[@]}" --json >other.json
[[ $(json other.json 'd["snapshots_created"]') == "['s1']" ]] || fail "--as: $(cat other.json)"
ld up snapshot list desk --json >snaps.json
[[ $(json snaps.json '[s["name"] for s in d["snapshots"]]') == "['s1', '$backup']" ]] ||
  fail "upstream snapshots changed: $(cat snaps.json)"

# The branch is lost: a fresh store gets the volume back.
rm -rf branch
ld branch replicate pull-volume desk --from "127.0.0.1:$UP_PORT" --insecure --json >pull.json
[[ $(json pull.json 'd["snapshots_created"]') == "['s1', '$backup']" ]] || fail "pull: $(cat pull.json)"
for s in s1 "$backup"; do
  ld branch export "desk@$s" "rebuilt-$s.raw" >/dev/null
  cmp "branch-$s.raw" "rebuilt-$s.raw" || fail "snapshot $s differs after the rebuild"
done
ld branch export desk rebuilt-head.raw >/dev/null
cmp "branch-$backup.raw" rebuilt-head.raw || fail "the rebuilt volume does not read as its latest snapshot"
ld branch replicate pull-volume desk --from "127.0.0.1:$UP_PORT" --insecure --json >repull.json
[[ $(json repull.json 'd["up_to_date"]') == True ]] || fail "re-pull: $(cat repull.json)"
fsck_clean branch

# Upstream's volume written to since its last snapshot: new snapshots would
# lose that write, so the push is refused.
ld up volume write desk d1.raw --offset 3M >/dev/null
expect_fail 5 --store branch replicate push-volume desk "${to[@]}"
expect_message "written to since its last snapshot"

# A push killed mid-transfer (slowed by --bwlimit so the kill lands in the
# middle): no volume upstream; the same command then finishes, sending only
# what is still missing.
make_image big.raw 32 4
ld branch volume create big --layers os --size 48M >/dev/null
ld branch volume write big big.raw >/dev/null
ld branch snapshot create big b1 >/dev/null
before=$(du -sb up | cut -f1)
"$LAYERDISK" --store branch replicate push-volume big --snapshot b1 "${to[@]}" --bwlimit 4M \
  >killed.json 2>killed.err &
push=$!
for _ in $(seq 600); do
  [[ $(du -sb up | cut -f1) -gt $((before + 6000000)) ]] && break
  sleep 0.1
done
kill -9 "$push"
wait "$push" 2>/dev/null && fail "the push finished before it was killed"
ld up volume list --json >vols.json
[[ $(json vols.json '"big" in [v["name"] for v in d["volumes"]]') == False ]] ||
  fail "a half-pushed volume is visible: $(cat vols.json)"
ld branch replicate push-volume big --snapshot b1 "${to[@]}" --json >resumed.json
resent=$(json resumed.json 'd["chunks"]')
echo "resumed push: sent $resent of 8192 chunks"
[[ $resent -gt 0 && $resent -lt 8000 ]] || fail "the resumed push sent $resent chunks"
ld branch export big@b1 big-branch.raw >/dev/null
ld up export big@b1 big-up.raw >/dev/null
cmp big-branch.raw big-up.raw || fail "big@b1 differs upstream after the resume"

# Lying peers: each pull-volume fails with a clear error and creates no volume
# (the OS layer is there already, so the lies hit the volume's own layers).
stop_server "$UP_PID"
ld fresh layer import os os.raw >/dev/null
lying_pull() {  # MODE EXIT EXPECTED_MESSAGE
  coproc PEER { "$FAKE_PEER" up "$1"; }
  local port
  read -r _ port <&"${PEER[0]}"
  expect_fail "$2" --store fresh replicate pull-volume desk --from "127.0.0.1:$port" --insecure
  expect_message "$3"
  echo "$1: $LAST_ERROR"
  exec {PEER[1]}>&-
  wait "$PEER_PID" || true
  ld fresh volume list --json >vols.json
  [[ $(json vols.json 'len(d["volumes"])') -eq 0 ]] || fail "$1: a volume is visible: $(cat vols.json)"
  fsck_clean fresh
}
lying_pull forge 6 "do not match its name"
lying_pull manifest 6 "does not match its identity"
lying_pull volume 3 "not part of volume"
serve UP2 up
ld fresh replicate pull-volume desk --from "127.0.0.1:$UP2_PORT" --insecure >/dev/null
ld fresh export "desk@$backup" fresh.raw >/dev/null
cmp "branch-$backup.raw" fresh.raw || fail "desk@$backup differs after the lying peers"
fsck_clean fresh
stop_server "$UP2_PID"
fsck_clean up
echo PASS
