#!/usr/bin/env bash
# snapshot schedule / schedules / schedule --off: locally (JSON, replacing,
# bad input that changes nothing, a deleted volume's schedule going with
# it), then through a running `layerdisk serve` with two-second periods:
# scheduled snapshots appear, are marked as such, retention deletes only the
# oldest scheduled ones, and --off stops them.
source "$(dirname "$0")/lib.sh"

schedules() { ld snapshot schedules --json >"$WORK/sch.json" && json "$WORK/sch.json" "$1"; }

ld volume create desk --size 16M >/dev/null

# --- Locally: the schedule is stored; a server takes the snapshots.
ld snapshot schedule desk --every 1h --keep 24 --json >set.json
before=$(date +%s)
[[ $(json set.json '(d["volume"], d["every"], d["every_seconds"], d["keep"], d["server_running"])') == "('desk', '1h', 3600, 24, False)" ]] ||
  fail "schedule JSON: $(cat set.json)"
due=$(json set.json 'd["next_due_unix"]')
((due >= before + 3600 - 5 && due <= before + 3600)) || fail "first snapshot due at $due, want about $before + 1h"
ld snapshot schedule desk --every 1h --keep 24 | grep -q "no server runs on this store" ||
  fail "no note that nothing takes snapshots without a server"
ld snapshot schedules | grep -Eq "^desk +1h +24 +[0-9]{4}-" || fail "schedules table: $(ld snapshot schedules)"

# Setting again replaces.
ld snapshot schedule desk --every 1d --keep 7 >/dev/null
[[ $(schedules '[(s["volume"], s["every"], s["keep"]) for s in d["schedules"]]') == "[('desk', '1d', 7)]" ]] ||
  fail "replaced schedule: $(cat sch.json)"

# Bad input: one clear error each, and the schedule is as it was.
expect_fail 3 snapshot schedule nosuch --every 1h --keep 3
expect_message "volume 'nosuch' does not exist"
expect_fail 2 snapshot schedule desk --every 30s --keep 3
expect_message "the shortest interval is 1m"
expect_fail 2 snapshot schedule desk --every 1w --keep 3
expect_message "'1w' is not an interval"
expect_fail 2 snapshot schedule desk --every 0m --keep 3
expect_fail 2 snapshot schedule desk --every 1h --keep 0
expect_message "--keep must be 1 to 200"
expect_fail 2 snapshot schedule desk --every 1h --keep 201
expect_fail 2 snapshot schedule desk --every 1h
expect_message "needs --every INTERVAL and --keep N"
expect_fail 2 snapshot schedule desk --off --keep 3
expect_message "--off takes no --every or --keep"
expect_fail 2 snapshot schedule 'bad name' --every 1h --keep 3
[[ $(schedules '[(s["volume"], s["every"], s["keep"]) for s in d["schedules"]]') == "[('desk', '1d', 7)]" ]] ||
  fail "bad input changed the schedules: $(cat sch.json)"

ld snapshot schedule desk --off --json >off.json
[[ $(json off.json 'd["schedule_removed"]') == True ]] || fail "--off JSON: $(cat off.json)"
expect_fail 3 snapshot schedule desk --off
expect_message "volume 'desk' has no snapshot schedule"
ld snapshot schedules | grep -q "^no snapshot schedules$" || fail "schedules after --off"

# Deleting a volume deletes its schedule.
ld volume create gone --size 1M >/dev/null
ld snapshot schedule gone --every 1h --keep 1 >/dev/null
ld volume delete gone >/dev/null
[[ $(schedules 'len(d["schedules"])') == 0 ]] || fail "a deleted volume kept its schedule: $(cat sch.json)"

# --- Through a running server, with periods of one second.
expect_fail 2 serve --min-schedule-interval soon
SERVER_PID=""
stop_server() {
  [[ -n $SERVER_PID ]] || return 0
  kill -TERM "$SERVER_PID"
  local rc=0
  wait "$SERVER_PID" || rc=$?
  SERVER_PID=""
  [[ $rc == 0 ]] || fail "serve exited $rc after SIGTERM: $(cat serve.log)"
}
trap 'stop_server; rm -rf "$WORK"' EXIT
# Only a unix NBD listener: the default TCP port may be taken by another test.
"$LAYERDISK" serve --nbd "unix:$WORK/nbd.sock" --min-schedule-interval 1s >serve.out 2>serve.log &
SERVER_PID=$!
wait_for_serve "$SERVER_PID" serve.out serve.log

ld snapshot create desk manual >/dev/null
expect_fail 3 snapshot schedule nosuch --every 1s --keep 2
head -c 300000 /dev/urandom >a.bin
ld volume write desk a.bin --offset 1M >/dev/null
ld snapshot schedule desk --every 2s --keep 2 --json >set.json
[[ $(json set.json '(d["every_seconds"], d["keep"], d["server_running"])') == "(2, 2, True)" ]] ||
  fail "schedule through the server: $(cat set.json)"
taken() { grep -c "scheduled snapshot desk@auto-[0-9]\{8\}-[0-9]\{6\} taken" serve.log || true; }
wait_taken() {
  for _ in $(seq 300); do
    (($(taken) >= $1)) && return 0
    sleep 0.1
  done
  fail "$1 scheduled snapshots in 30 s: $(cat serve.log)"
}
wait_taken 1
# The first one holds the data written before it. Exporting it through the
# server leaves it open there; once retention deletes it, it is gone there
# too.
first=$(grep -o "desk@auto-[0-9]*-[0-9]*" serve.log | head -1)
ld export "$first" first.img >/dev/null
cmp -s <(tail -c +$((1024 * 1024 + 1)) first.img | head -c 300000) a.bin || fail "$first lacks the data"
wait_taken 4
grep -q "keeping 2, deleted auto-" serve.log || fail "nothing pruned: $(cat serve.log)"
ld snapshot schedule desk --off >/dev/null
# A pass under way when the schedule went may be between its snapshot and
# its pruning: wait for the pruning.
scheduled_count() {
  ld snapshot list desk --json >list.json
  json list.json 'len([s for s in d["snapshots"] if s["scheduled"]])'
}
for _ in $(seq 50); do
  [[ $(scheduled_count) == 2 ]] && break
  sleep 0.1
done
sleep 0.5
ld snapshot list desk --json >list.json
[[ $(json list.json '[s["name"] for s in d["snapshots"] if not s["scheduled"]]') == "['manual']" ]] ||
  fail "the manual snapshot: $(cat list.json)"
[[ $(json list.json 'len([s for s in d["snapshots"] if s["scheduled"]])') == 2 ]] ||
  fail "retention kept other than 2: $(cat list.json)"
json list.json '[s["name"] for s in d["snapshots"] if s["scheduled"]]' >kept.txt
grep -Eq "^\['auto-[0-9]{8}-[0-9]{6}', 'auto-[0-9]{8}-[0-9]{6}'\]$" kept.txt || fail "names: $(cat kept.txt)"
newest=$(grep -o "desk@auto-[0-9]*-[0-9]*" serve.log | tail -1)
grep -q "${newest#desk@}" kept.txt || fail "the newest scheduled snapshot $newest is not kept: $(cat kept.txt)"
ld snapshot list desk | grep -Eq "auto-[0-9]{8}-[0-9]{6} +\+[0-9.]+ [KMG]?i?B +yes$" ||
  fail "SCHEDULED column: $(ld snapshot list desk)"
ld snapshot list desk | grep -Eq "manual +\+.* +no$" || fail "manual marker: $(ld snapshot list desk)"
grep -q "${first#desk@}" kept.txt && fail "$first was not deleted: $(cat kept.txt)"
expect_fail 3 export "$first" again.img
expect_message "has no snapshot '${first#desk@}'"
# --off stopped them.
count=$(taken)
sleep 4.5
[[ $(taken) == "$count" ]] || fail "snapshots went on after --off: $(tail -3 serve.log)"
[[ $(ld snapshot list desk --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["snapshots"]))') == 3 ]] ||
  fail "snapshots changed after --off"
stop_server
grep -q '^layerdisk: stopped$' serve.log || fail "serve did not report stopping"
ld fsck >/dev/null || fail "fsck after scheduled snapshots"
echo PASS
