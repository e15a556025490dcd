#!/usr/bin/env bash
# volume rebase (--dry-run, --all-on/--to), layer merge / flatten / describe,
# --description and the recorded metadata; their errors; and rebase, merge and
# describe through a running `layerdisk serve`.
source "$(dirname "$0")/lib.sh"

# os2 is os1 with its first 64 KiB replaced; the user writes 32 KiB at 0
# (over the change: a conflict) and 32 KiB at 1 MiB (no conflict).
python3 - <<'PY'
import random
r = random.Random(5)
os1 = bytearray(r.randbytes(4 << 20))
os1[2 << 20:3 << 20] = bytes(1 << 20)  # a zero MiB: no data there
open("os1.img", "wb").write(os1)
os2 = bytearray(os1)
os2[0:65536] = r.randbytes(65536)
open("os2.img", "wb").write(os2)
open("small.img", "wb").write(r.randbytes((2 << 20) + 512))  # ends inside a chunk
user = r.randbytes(32768)
open("user.bin", "wb").write(user)
want = bytearray(os2)
want[0:32768] = user
want[1 << 20:(1 << 20) + 32768] = user
open("want.raw", "wb").write(want)
PY

ld layer import os1 os1.img --description "Windows 11 23H2" --sha256 --json >os1.json
[[ $(json os1.json 'd["layer"]["description"]') == "Windows 11 23H2" ]] || fail "import --description"
[[ $(json os1.json 'd["layer"]["content_sha256"]') == $(sha256sum <os1.img | cut -d' ' -f1) ]] ||
  fail "content_sha256 is not the image's SHA-256"
[[ $(ld layer digest os1.img --sha256 | sed -n 's/^sha256:\([0-9a-f]*\) .*/\1/p') == \
   $(sha256sum <os1.img | cut -d' ' -f1) ]] || fail "layer digest --sha256 is not sha256sum"
ld layer import os2 os2.img --json >os2.json
[[ -z $(json os2.json 'd["layer"]["content_sha256"]') ]] || fail "hashed every byte without --sha256"
[[ $(json os2.json 'd["layer"]["content_digest"]') == $(ld layer digest os2.img | cut -d' ' -f1) ]] ||
  fail "content_digest is not what layer digest finds in the image"
ld layer show os2 | grep -q "sha256    - (import with --sha256)" || fail "show: no SHA-256 hint"
ld layer import small small.img >/dev/null
ld layer show os1 | grep -q "$(sha256sum <os1.img | cut -d' ' -f1)" || fail "show lacks the SHA-256"
ld layer describe os2 "Windows 11 24H2" >/dev/null
ld layer show os2 | grep -q "Windows 11 24H2" || fail "describe did not set the description"
ld layer show os2 --json >os2.json
[[ $(json os2.json 'd["description"]') == "Windows 11 24H2" ]] || fail "describe JSON"

# An application sealed over os1 records its base.
ld volume create scratch --layers os1 >/dev/null
ld layer seal scratch app --description "office" --json >app.json
[[ $(json app.json 'd["base"]') == "['os1']" ]] || fail "seal base: $(cat app.json)"
[[ $(json app.json 'd["description"]') == office ]] || fail "seal --description"

ld volume create v --layers os1 >/dev/null
ld volume write v user.bin >/dev/null
ld volume write v user.bin --offset 1M >/dev/null
ld snapshot create v before >/dev/null
ld export v before.raw >/dev/null
cmp -s before.raw os1.img && fail "the user's writes are missing"

# Dry run: the report, nothing changed.
ld volume rebase v --layers os2 --dry-run --json >dry.json
[[ $(json dry.json 'd["conflicts"]') == "[{'length': 32768, 'offset': 0}]" ]] ||
  fail "dry-run conflicts: $(cat dry.json)"
[[ $(json dry.json 'd["applied"]') == False ]] || fail "dry run applied"
ld volume rebase v --layers os2 --dry-run | grep -q "dry run" || fail "dry-run text"
ld volume show v --json >v.json
[[ $(json v.json 'd["layers"]') == "['os1']" ]] || fail "the dry run changed v"

ld volume rebase v --layers os2 >rebase.txt
grep -q "rebased os1 -> os2" rebase.txt || fail "rebase text: $(cat rebase.txt)"
grep -q "^    0 *32768" rebase.txt || fail "rebase text lacks the range: $(cat rebase.txt)"
ld export v after.raw >/dev/null
cmp after.raw want.raw || fail "the rebased volume does not read head over os2"
ld export v@before snap.raw >/dev/null
cmp snap.raw before.raw || fail "the snapshot changed with the rebase"

# Errors change nothing.
expect_fail 2 volume rebase v --layers small
expect_message "virtual size"
expect_fail 2 volume rebase v --layers os2,os2
expect_message "twice"
expect_fail 3 volume rebase v --layers nosuch
expect_message "nosuch"
expect_fail 3 volume rebase nosuch --layers os2
expect_fail 2 volume rebase v
expect_fail 2 volume rebase v --layers os2 --all-on os1 --to os2
expect_fail 2 volume rebase --all-on os1
expect_fail 2 volume rebase --all-on os2 --to os2
expect_message "itself"
ld volume show v --json >v.json
[[ $(json v.json 'd["layers"]') == "['os2']" ]] || fail "a refused rebase changed v"

# Every volume on os1 (scratch, w) moves to os2; v is on os2 already.
ld volume create w --layers os1 >/dev/null
ld volume rebase --all-on os1 --to os2 --json >all.json
[[ $(json all.json 'sorted(r["volume"] for r in d["volumes"])') == "['scratch', 'w']" ]] ||
  fail "--all-on: $(cat all.json)"
ld volume show w --json >w.json
[[ $(json w.json 'd["layers"]') == "['os2']" ]] || fail "w was not rebased"
ld volume rebase --all-on os1 --to os2 | grep -q "no volume" || fail "--all-on with no volume left"

# Merge and flatten: same bytes, no stored bytes. (gc first seals every
# frozen head, so that only merge and flatten can change the counts.)
ld gc >/dev/null
ld stats --json >stats0.json
ld layer merge both os1 app --description "os1 + office" --json >merge.json
[[ $(json merge.json 'd["source"]') == "merge:os1,app" ]] || fail "merge source"
ld volume create m --layers both >/dev/null
ld volume create ref --layers os1,app >/dev/null
ld export m m.raw >/dev/null
ld export ref ref.raw >/dev/null
cmp m.raw ref.raw || fail "the merged layer does not read as its stack"
ld layer flatten flat --from v@before --json >flat.json
[[ $(json flat.json 'd["source"]') == "flatten:v@before" ]] || fail "flatten source"
ld export layer:flat flat.raw >/dev/null
cmp flat.raw before.raw || fail "the flattened snapshot differs"
ld stats --json >stats1.json
for f in stored_bytes chunks; do
  [[ $(json stats0.json "d['$f']") == $(json stats1.json "d['$f']") ]] ||
    fail "merge/flatten changed $f: $(json stats0.json "d['$f']") -> $(json stats1.json "d['$f']")"
done
ld fsck >/dev/null || fail "fsck after merge and flatten"
# A volume re-pointed at the flattened layer keeps its head.
ld layer flatten flatv --from v >/dev/null
ld export v v1.raw >/dev/null
ld volume rebase v --layers flatv >/dev/null
ld export v v2.raw >/dev/null
cmp v1.raw v2.raw || fail "re-pointing v at its own flattening changed it"

expect_fail 2 layer merge x os1 os1
expect_fail 3 layer merge x os1 nosuch
expect_fail 4 layer merge both os1
expect_fail 2 layer merge x os1 small
expect_message "chunk boundary"
expect_fail 3 layer flatten x --from v@nosnap
expect_fail 3 layer flatten x --from nosuch
expect_fail 2 layer describe os1 "$(printf 'two\nlines')"
expect_fail 3 layer describe nosuch text
ld layer list --json >list.json
[[ $(json list.json '"x" in [l["name"] for l in d["layers"]]') == False ]] || fail "a refused merge left x"

# Through a running server: the CLI goes over the control socket.
"$LAYERDISK" serve --nbd "unix:$WORK/nbd.sock" >serve.log 2>&1 &  # not `ld`: $! must be the server itself
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 100); do [[ -S $LAYERDISK_STORE/control.sock ]] && break; sleep 0.1; done
[[ -S $LAYERDISK_STORE/control.sock ]] || fail "the server did not start: $(cat serve.log)"
ld volume rebase w --layers os1 --dry-run --json >rdry.json
[[ $(json rdry.json 'd["new_layers"]') == "['os1']" && $(json rdry.json 'd["applied"]') == False ]] ||
  fail "remote dry run: $(cat rdry.json)"
ld volume rebase v --layers os2 --json >remote.json
[[ $(json remote.json 'd["applied"]') == True ]] || fail "remote rebase"
ld export v v3.raw >/dev/null
cmp v3.raw v2.raw || fail "the volume changed when rebased through the server"
ld layer merge both2 os1 app >/dev/null
ld layer describe both2 "via server" >/dev/null
ld layer show both2 --json >both2.json
[[ $(json both2.json 'd["description"]') == "via server" ]] || fail "remote describe"
# An import through the server records the same digest, and --sha256 reaches it.
ld layer import os1-remote os1.img --sha256 --json >remote-import.json
[[ $(json remote-import.json 'd["layer"]["content_digest"]') == $(json os1.json 'd["layer"]["content_digest"]') ]] ||
  fail "an import through the server recorded another digest"
[[ $(json remote-import.json 'd["layer"]["content_sha256"]') == $(sha256sum <os1.img | cut -d' ' -f1) ]] ||
  fail "--sha256 did not reach the server"
expect_fail 2 volume rebase v --layers small
expect_fail 3 layer merge y nosuch
kill $server
wait $server || true
ld volume show v --json >v.json  # the store is the CLI's again
[[ $(json v.json 'd["layers"]') == "['os2']" ]] || fail "the remote rebase did not persist"
echo PASS
