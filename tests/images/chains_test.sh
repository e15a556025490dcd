#!/usr/bin/env bash
# Differencing VHD/VHDX chains (made by make_differencing.py) and qcow2
# backing chains import as layer stacks that compose to exactly what the
# chain reads as; --parent stacks on an existing layer after checking the
# parent's identity; a mismatch or a loop is refused and leaves nothing; a
# delta layer's digest is `layer digest` of its file, and fsck finds every
# map spelling its digest.
source "$(dirname "$0")/lib_images.sh"
need_tools qemu-img qemu-nbd qemu-io

make_image src.raw 16 5

# compose NAME LAYERS WANT: a volume over LAYERS reads exactly as WANT.
compose() {
  ld volume create "$1" --layers "$2" >/dev/null
  ld export "$1" "got-$1.raw" >/dev/null
  cmp "got-$1.raw" "$3" || fail "volume $1 over $2 differs from $3"
}

for fmt in vhd vhdx; do
  if [[ $fmt == vhd ]]; then
    qemu-img convert -f raw -O vpc -o subformat=dynamic,force_size=on src.raw base.vhd
  else
    qemu-img convert -f raw -O vhdx -o subformat=dynamic,block_size=1M src.raw base.vhdx
  fi
  # Writes: whole blocks, partial 4 KiB blocks (sector runs ending inside a
  # sector-bitmap byte), a run across a block boundary.
  gen_diff $fmt base.$fmt child.$fmt src.raw want-child.raw --seed 1 \
    0:4096 5120:1536 $((9 * 512)):512 $((3 << 20)):$((2 << 20)) $(((2 << 20) - 1024)):2048
  gen_diff $fmt child.$fmt grandchild.$fmt want-child.raw want-grandchild.raw --seed 2 \
    $((1 << 20)):$((1 << 20)) 8192:512 $((15 << 20)):$((1 << 20))

  # The whole chain at once: grandparent and parent become NAME.2, NAME.1.
  ld layer import "g$fmt" grandchild.$fmt --json >chain.json
  [[ $(json chain.json '[l["name"] for l in d["stack"]]') == "['g$fmt.2', 'g$fmt.1', 'g$fmt']" ]] ||
    fail "$fmt chain stack: $(cat chain.json)"
  [[ $(json chain.json 'd["layer"]["parent"]') == "g$fmt.1" ]] || fail "$fmt parent not recorded"
  ld layer list | grep -Eq "^g$fmt +.* g$fmt\.1 " || fail "layer list lacks the parent: $(ld layer list)"
  ld layer show "g$fmt" | grep -q "parent    g$fmt.1" || fail "layer show lacks the parent"
  compose "v$fmt" "g$fmt.2,g$fmt.1,g$fmt" want-grandchild.raw
  compose "c$fmt" "g$fmt.2,g$fmt.1" want-child.raw
  # The delta holds only what the child wrote, not the whole disk.
  [[ $(json chain.json 'd["stack"][2]["logical_bytes"]') -le $((3 << 20)) ]] || fail "$fmt delta too big"
  # Its digest is the one `layer digest` finds in the child file alone.
  [[ $(json chain.json 'd["layer"]["content_digest"]') == $(ld layer digest grandchild.$fmt | cut -d' ' -f1) ]] ||
    fail "$fmt delta's digest differs from layer digest of grandchild.$fmt"

  # Again by hand: the parent layer named with --parent, identity checked.
  # The base is already in the store (same identifier): it is reused.
  ld layer import "p$fmt" child.$fmt --json >p.json
  base=$(json p.json 'd["stack"][0]["name"]')
  [[ $base == "g$fmt.2" && $(json p.json 'd["stack"][0]["reused"]') == True ]] ||
    fail "$fmt base not reused: $(cat p.json)"
  ld layer import "h$fmt" grandchild.$fmt --parent "p$fmt" >/dev/null
  compose "h$fmt" "$base,p$fmt,h$fmt" want-grandchild.raw
  expect_fail 2 layer import "x$fmt" grandchild.$fmt --parent "$base"
  expect_message "parent mismatch"
  expect_fail 2 layer import "x$fmt" base.$fmt --parent "p$fmt"
  expect_message "not a differencing image"
  # A parent cannot go while its delta exists.
  ld volume delete "h$fmt" >/dev/null
  expect_fail 5 layer delete "p$fmt"
  expect_message "parent of delta layer 'h$fmt'"

  # A child that names another parent identifier than its parent file has.
  gen_diff $fmt base.$fmt forged.$fmt src.raw /dev/null --parent-id 01234567-89ab-cdef-0123-456789abcdef 0:4096
  ld layer list --json >before.json
  expect_fail 2 layer import "f$fmt" forged.$fmt
  expect_message "names parent 01234567-89ab-cdef-0123-456789abcdef"
  ld layer list --json >after.json
  cmp -s before.json after.json || fail "a refused chain import left layers"

  # A chain that loops: the child names itself as its parent.
  cp base.$fmt loop.$fmt
  gen_diff $fmt loop.$fmt loop-child.$fmt src.raw /dev/null 0:4096
  mv loop-child.$fmt loop.$fmt
  expect_fail 2 layer import "l$fmt" loop.$fmt
  expect_message "loops back"
  # A missing parent.
  cp base.$fmt gone.$fmt && gen_diff $fmt gone.$fmt orphan.$fmt src.raw /dev/null 0:4096 && rm gone.$fmt
  expect_fail 3 layer import "o$fmt" orphan.$fmt
  expect_message "gone.$fmt"
done

# qcow2: a backing chain of overlays with data, zeroes and discards.
qemu-img convert -f raw -O qcow2 src.raw base.qcow2
qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 mid.qcow2
qemu-io -c 'write -P 0xab 1M 2M' -c 'write -z 3M 1M' -c 'write -P 0xcd 10240 5120' mid.qcow2 >/dev/null
qemu-img create -q -f qcow2 -b mid.qcow2 -F qcow2 top.qcow2
qemu-io -c 'write -P 0x11 12M 64k' -c 'discard 1M 64k' -c 'write -z 0 64k' top.qcow2 >/dev/null
qemu-img convert -O raw top.qcow2 want-top.raw
qemu-img convert -O raw mid.qcow2 want-mid.raw
ld layer import q top.qcow2 --json >q.json
[[ $(json q.json '[l["name"] for l in d["stack"]]') == "['q.2', 'q.1', 'q']" ]] || fail "qcow2 stack: $(cat q.json)"
compose vq q.2,q.1,q want-top.raw
compose vm q.2,q.1 want-mid.raw
ld layer import q2 top.qcow2 --parent q.1 >/dev/null
compose vq2 q.2,q.1,q2 want-top.raw
# The overlay's delta layer maps only what the overlay allocates.
[[ $(json q.json 'd["layer"]["logical_bytes"]') -le $((256 << 10)) ]] || fail "qcow2 overlay delta too big"
# Every delta layer's map still spells the digest its import recorded.
ld fsck | grep -q "no problems" || fail "fsck after the chain imports: $(ld fsck)"
echo PASS
