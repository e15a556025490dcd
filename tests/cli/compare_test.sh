#!/usr/bin/env bash
# layer conflicts / layer diff / snapshot diff / volume map and the warning
# of volume create, with --json, their errors, and the same commands through
# a running `layerdisk serve`.
source "$(dirname "$0")/lib.sh"

make_image os.img 4   # data at [0, 1M) and [2M, 3M): random, then text lines
ld layer import os os.img >/dev/null

# Writes BYTES at OFFSET of VOLUME (text region: no X, Y or Z in it).
put() { printf '%s' "$3" >put.bin; ld volume write "$1" put.bin --offset "$2" >/dev/null; }

ld volume create c1 --layers os >/dev/null
ld volume create c2 --layers os >/dev/null
ld volume create c3 --layers os >/dev/null
put c1 600000 XXXXXXXXXX   # overlaps c2's [600005, 600015): conflict on [600005, 600010)
put c2 600005 YYYYYYYYYY
put c1 700000 XXXX         # same block as c2's 700100, other bytes: no conflict
put c2 700100 YYYY
put c1 800000 ZZZZ         # the same bytes in both: no conflict
put c2 800000 ZZZZ
put c3 900000 QQQQ         # c3 touches no block of c1
ld layer seal c1 app1 >/dev/null
ld layer seal c2 app2 >/dev/null
ld layer seal c3 app3 >/dev/null

ld layer conflicts app1 app2 --base os --json >conf.json
[[ $(json conf.json 'd["conflicts"]') == "[{'length': 5, 'offset': 600005}]" ]] ||
  fail "conflicts over os: $(cat conf.json)"
[[ $(json conf.json 'd["conflicting_bytes"]') == 5 ]] || fail "conflicting_bytes"
[[ $(json conf.json 'd["base"]') == "['os']" && $(json conf.json 'd["base_from"]') == option ]] ||
  fail "base: $(cat conf.json)"
ld layer conflicts app1 app2 --base os | grep -q "^600005  *5$" || fail "conflicts text"
# Without --base: the base the layers were sealed on (os), from their metadata.
ld layer conflicts app1 app2 --json >conf0.json
[[ $(json conf0.json 'd["base_from"]') == metadata && $(json conf0.json 'd["base"]') == "['os']" ]] ||
  fail "recorded base: $(cat conf0.json)"
[[ $(json conf0.json 'd["conflicts"]') == "[{'length': 5, 'offset': 600005}]" ]] ||
  fail "conflicts over the recorded base: $(cat conf0.json)"
# Whole-disk imports record no base: an all-zero disk, and the output says so.
python3 - z1.img z2.img <<'PY'
import sys
for path, byte, offset, n in ((sys.argv[1], b"A", 4096, 16), (sys.argv[2], b"B", 4100, 8)):
    with open(path, "wb") as f:
        f.truncate(1 << 20)
        f.seek(offset)
        f.write(byte * n)
PY
ld layer import z1 z1.img >/dev/null
ld layer import z2 z2.img >/dev/null
ld layer conflicts z1 z2 --json >zero.json
[[ $(json zero.json 'd["base_from"]') == none ]] || fail "base_from: $(cat zero.json)"
[[ $(json zero.json 'd["conflicts"]') == "[{'length': 8, 'offset': 4100}]" ]] ||
  fail "conflicts over zeroes: $(cat zero.json)"
ld layer conflicts z1 z2 | grep -q "all-zero disk" || fail "text does not name the zero base"
ld layer conflicts app1 app3 --base os --json >none.json
[[ $(json none.json 'd["conflicts"]') == "[]" ]] || fail "disjoint layers conflict: $(cat none.json)"
ld layer conflicts app1 app3 --base os | grep -q "^no conflicts" || fail "no-conflict text"

expect_fail 3 layer conflicts app1 nosuch
expect_message "nosuch"
expect_fail 2 layer conflicts app1 app1
expect_fail 2 layer conflicts app1 app2 --base ''
expect_fail 3 layer conflicts app1 app2 --base gone
expect_fail 2 layer conflicts app1 app2 --base os,app1

# volume create warns about app1 and app2 (blocks 146 and 170), not app3.
ld volume create desk --layers os,app1,app2,app3 --json >desk.json 2>desk.err
[[ $(json desk.json 'len(d["warnings"])') == 1 ]] || fail "warnings: $(cat desk.json)"
[[ $(json desk.json 'd["warnings"][0]') == *"app1 and app2 both change 2 blocks"*"app2 wins"* ]] ||
  fail "warning text: $(cat desk.json)"
grep -q "^layerdisk: warning: .*app2 wins" desk.err || fail "no warning on stderr: $(cat desk.err)"
# The next desktop on the same stack: reported once is enough.
ld volume create desk-b --layers os,app1,app2,app3 --json >desk-b.json 2>desk-b.err
[[ $(json desk-b.json 'd["warnings"]') == "[]" && ! -s desk-b.err ]] ||
  fail "warned again for a stack in use: $(cat desk-b.json desk-b.err)"
ld volume create plain --layers os,app1,app3 --json >plain.json 2>plain.err
[[ $(json plain.json 'd["warnings"]') == "[]" && ! -s plain.err ]] || fail "a warning without conflicts"

# layer diff: whole blocks, decided by chunk names (nothing read).
ld layer diff app1 app2 --json >diff.json
[[ $(json diff.json '[(r["offset"], r["length"]) for r in d["ranges"]]') == \
   "[($((146 * 4096)), 4096), ($((170 * 4096)), 4096)]" ]] || fail "layer diff: $(cat diff.json)"
[[ $(json diff.json 'd["changed_bytes"]') == 8192 && $(json diff.json 'd["bytes_read"]') == 0 ]] ||
  fail "layer diff totals: $(cat diff.json)"
ld layer diff app1 app1 | grep -q "read the same" || fail "a layer differs from itself"
expect_fail 3 layer diff app1 nosuch

# snapshot diff: s1 -> s2 -> live.
ld snapshot create desk s1 >/dev/null
put desk 1100000 AAAA
ld snapshot create desk s2 >/dev/null
put desk 1200000 BBBB
head -c 4096 /dev/zero >zero.bin
ld volume write desk zero.bin --offset 0 >/dev/null   # a zero marker over os
ld snapshot diff desk s1 s2 --json >sd.json
[[ $(json sd.json '[(r["offset"], r["length"]) for r in d["ranges"]]') == \
   "[($((268 * 4096)), 4096)]" ]] || fail "snapshot diff s1 s2: $(cat sd.json)"
ld snapshot diff desk s1 --json >live.json
[[ $(json live.json '[(r["offset"], r["length"]) for r in d["ranges"]]') == \
   "[(0, 4096), ($((268 * 4096)), 4096), ($((292 * 4096)), 4096)]" ]] || fail "snapshot diff s1 live: $(cat live.json)"
[[ $(json live.json 'd["to"]') == desk ]] || fail "live diff is not against the volume"
expect_fail 3 snapshot diff desk nosnap
expect_fail 3 snapshot diff nosuch s1

# volume map: names by position, kinds.
ld volume map desk --json >map.json
[[ $(json map.json 'd["layers"]') == "['os', 'app1', 'app2', 'app3', '(snapshot s1)', '(snapshot s2)', '(head)']" ]] ||
  fail "map layers: $(cat map.json)"
at() { json map.json "[(e['layer'], e['kind'], e['position']) for e in d['extents'] if e['offset'] <= $1 < e['offset'] + e['length']][0]"; }
[[ $(at 0) == "('(head)', 'zero', 7)" ]] || fail "map at 0: $(at 0)"
[[ $(at 8192) == "('os', 'data', 1)" ]] || fail "map at 8192: $(at 8192)"
[[ $(at 600000) == "('app2', 'data', 3)" ]] || fail "map at 600000: $(at 600000)"
[[ $(at 1100000) == "('(snapshot s2)', 'data', 6)" ]] || fail "map at 1100000: $(at 1100000)"
[[ $(at 1300000) == "(None, 'hole', 0)" ]] || fail "map at 1300000: $(at 1300000)"
[[ $(json map.json 'sum(e["length"] for e in d["extents"])') == $((4 << 20)) ]] || fail "map does not cover the volume"
ld volume map desk | grep -q "^600000\|app2" || fail "map text"
ld volume map desk@s1 --json >map1.json
[[ $(json map1.json 'd["layers"][-1]') == "(snapshot s1)" ]] || fail "snapshot map: $(cat map1.json)"
expect_fail 3 volume map nosuch
expect_fail 3 volume map desk@nosnap

# The same through a running server.
start_server
ld layer conflicts app1 app2 --base os --json >conf-remote.json
cmp -s conf.json conf-remote.json || fail "conflicts through the server: $(cat conf-remote.json)"
ld layer diff app1 app2 --json >diff-remote.json
cmp -s diff.json diff-remote.json || fail "layer diff through the server: $(cat diff-remote.json)"
ld snapshot diff desk s1 s2 --json >sd-remote.json
cmp -s sd.json sd-remote.json || fail "snapshot diff through the server: $(cat sd-remote.json)"
ld volume map desk --json >map-remote.json
cmp -s map.json map-remote.json || fail "volume map through the server: $(cat map-remote.json)"
ld volume create desk2 --layers os,app1,app2 --json >desk2.json 2>desk2.err
[[ $(json desk2.json 'len(d["warnings"])') == 1 ]] || fail "warnings through the server: $(cat desk2.json)"
grep -q "app2 wins" desk2.err || fail "no warning through the server"
ld volume create desk3 --layers os,app1,app2 2>desk3.err >/dev/null
[[ ! -s desk3.err ]] || fail "warned again through the server: $(cat desk3.err)"
expect_fail 3 layer conflicts app1 nosuch
# Written through the server, diffed through it: the live head is seen.
put desk 1400000 CCCC
ld snapshot diff desk s2 --json >live-remote.json
[[ $(json live-remote.json '[(r["offset"], r["length"]) for r in d["ranges"]]') == \
   "[(0, 4096), ($((292 * 4096)), 4096), ($((341 * 4096)), 4096)]" ]] ||
  fail "live diff through the server: $(cat live-remote.json)"
echo PASS
