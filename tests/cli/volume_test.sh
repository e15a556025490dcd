#!/usr/bin/env bash
# volume create / list / show / write / clone / delete and export.
source "$(dirname "$0")/lib.sh"

make_image os.img 16 1
make_image app.img 16 2   # data in the same places: app masks os
ld layer import os os.img >/dev/null
ld layer import app app.img >/dev/null

ld volume create desk --layers os,app --json >create.json
for f in name size layers depth head_bytes created_unix snapshots; do
  json create.json "d['$f']" >/dev/null || fail "volume JSON lacks $f"
done
[[ $(json create.json 'd["layers"]') == "['os', 'app']" ]] || fail "layers: $(cat create.json)"
ld volume create big --layers os --size 1G >/dev/null
ld volume show big --json >big.json
[[ $(json big.json 'd["size"]') == $((1 << 30)) ]] || fail "--size 1G not honoured"
ld volume create blank --size 64M >/dev/null
ld volume list | grep -q '^blank ' || fail "blank not listed"
ld volume list --json >list.json
[[ $(json list.json 'len(d["volumes"])') == 3 ]] || fail "volume count"

expect_fail 2 volume create bad --layers os --size 12Q
expect_message "12Q"
expect_fail 3 volume create bad --layers os,nosuch
expect_fail 2 volume create 'bad/name' --layers os
expect_fail 2 volume create nolayers
expect_fail 4 volume create desk --layers os
expect_fail 3 volume show nosuch

# Export of the plain stack is app over os, byte for byte.
ld export desk desk.img | grep -q "exported desk"
cmp desk.img app.img || fail "desk export differs from app.img"
ld export layer:os os-out.img >/dev/null
cmp os-out.img os.img || fail "layer:os export differs from os.img"
# Sparse: the holes of the image stay holes.
[[ $(du -k desk.img | cut -f1) -lt $((12 * 1024)) ]] || fail "export is not sparse"

# volume write lands at the offset, and zeroes are written as zeroes.
head -c 300000 /dev/urandom >user.bin
ld volume write desk user.bin --offset 1M --json >write.json
[[ $(json write.json 'd["bytes"]') == 300000 ]] || fail "write bytes"
head -c 8192 /dev/zero >zeros.bin
ld volume write desk zeros.bin --offset 2M >/dev/null
cp app.img expected.img
dd if=user.bin of=expected.img bs=1M seek=1 conv=notrunc status=none
dd if=zeros.bin of=expected.img bs=1M seek=2 conv=notrunc status=none
ld export desk desk.img >/dev/null
cmp desk.img expected.img || fail "export after write differs"
expect_fail 2 volume write desk user.bin --offset 16M
expect_fail 2 volume write desk user.bin --offset lots
expect_fail 3 volume write desk missing.bin

# Clone shares everything; later writes to the source do not show in it.
ld volume clone desk copy | grep -q "cloned desk"
echo "after clone" >late.txt
ld volume write desk late.txt >/dev/null
ld export copy copy.img >/dev/null
cmp copy.img expected.img || fail "clone differs from its source at clone time"
expect_fail 4 volume clone desk copy
expect_fail 3 volume clone nosuch other

# A failed export leaves nothing behind and keeps an existing file.
echo keep >keep.img
expect_fail 3 export nosuch keep.img
[[ $(cat keep.img) == keep ]] || fail "failed export touched the target"
expect_fail 3 export desk "$WORK/nodir/x.img"
[[ -z $(ls "$WORK" | grep '\.tmp-' || true) ]] || fail "temporary export file left behind"

ld volume delete copy | grep -q "deleted volume copy"
ld volume delete big --force >/dev/null
expect_fail 3 volume show copy
echo PASS
