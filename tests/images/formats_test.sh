#!/usr/bin/env bash
# Every import format (VHD and VHDX fixed and dynamic, qcow2, VMDK) made by
# qemu-img from generated data: imported by magic, read back byte for byte;
# the recorded content digest is the one `layer digest` finds in the file
# and in its raw form; every export format passes qemu-img info and compare;
# a second import of the same image stores nothing new.
source "$(dirname "$0")/lib_images.sh"
need_tools qemu-img qemu-nbd

make_image src.raw 24 3
qemu-img convert -f raw -O vpc -o subformat=fixed,force_size=on src.raw fixed.vhd
qemu-img convert -f raw -O vpc -o subformat=dynamic,force_size=on src.raw dynamic.vhd
qemu-img convert -f raw -O vhdx -o subformat=fixed src.raw fixed.vhdx
qemu-img convert -f raw -O vhdx -o subformat=dynamic,block_size=1M src.raw dynamic.vhdx
qemu-img convert -f raw -O qcow2 src.raw img.qcow2
qemu-img convert -f raw -O vmdk src.raw img.vmdk
qemu-img convert -f raw -O vmdk -o subformat=streamOptimized src.raw stream.vmdk

import_and_compare fixed-vhd fixed.vhd vhd
import_and_compare dynamic-vhd dynamic.vhd vhd
import_and_compare fixed-vhdx fixed.vhdx vhdx
import_and_compare dynamic-vhdx dynamic.vhdx vhdx
import_and_compare qcow2 img.qcow2 qcow2
import_and_compare vmdk img.vmdk vmdk
import_and_compare stream-vmdk stream.vmdk vmdk
cmp got.raw src.raw || fail "the imported image differs from the generated data"

# A dynamic VHD block's sectors whose bitmap bit is clear were never
# written: they read as zeroes (as the format and libvhdi have it; qemu
# reads the block's bytes), and 4 KiB blocks of them only are not read.
# Bitmap bytes (8 sectors each) cycle through clear, set, every other
# sector, set.
python3 - dynamic.vhd bits.vhd src.raw want-bits.raw <<'PY'
import struct, sys
src, out, raw, want = sys.argv[1:]
img, data = bytearray(open(src, "rb").read()), bytearray(open(raw, "rb").read())
dyn = struct.unpack_from(">Q", img, len(img) - 512 + 16)[0]
bat = struct.unpack_from(">Q", img, dyn + 16)[0]
entries, block = struct.unpack_from(">II", img, dyn + 28)
pattern = [0x00, 0xFF, 0x55, 0xFF]
for i in range(entries):
    sector = struct.unpack_from(">I", img, bat + 4 * i)[0]
    if sector == 0xFFFFFFFF:
        continue
    sectors = block // 512
    for b in range(sectors // 8):
        img[sector * 512 + b] = pattern[b % 4]
    for s in range(sectors):
        at = (i * sectors + s) * 512
        if not pattern[s // 8 % 4] >> (7 - s % 8) & 1 and at < len(data):
            data[at:at + 512] = bytes(512)
open(out, "wb").write(img)
open(want, "wb").write(data)
PY
ld layer import bits bits.vhd --json >bits.json
ld export layer:bits got-bits.raw >/dev/null
cmp got-bits.raw want-bits.raw || fail "sectors a VHD bitmap leaves clear do not read as zeroes"
[[ $(json bits.json 'd["bytes_read"]') -le $((18 << 20)) ]] || fail "clear bitmap sectors were read"

# Unallocated ranges are not read: the dynamic images hold half data.
ld layer import sparse dynamic.vhdx --json >sparse.json
[[ $(json sparse.json 'd["bytes_read"]') -le $((14 << 20)) ]] || fail "dynamic VHDX holes were read"
# Same image again: dedup stores nothing new.
[[ $(json sparse.json 'd["new_stored_bytes"]') == 0 ]] || fail "a second import stored new bytes"
# Explicit --format agrees with detection; a wrong one is refused cleanly.
ld layer import forced img.qcow2 --format qcow2 >/dev/null
expect_fail 6 layer import wrong img.qcow2 --format vhdx
expect_message "vhdxfile"

# Export in every format; each opens in qemu-img and compares equal.
ld volume create v --layers qcow2 >/dev/null
for fmt in raw vhd vhdx qcow2 vmdk; do
  ld export v "out.$fmt" --format "$fmt" --json >export.json
  [[ $(json export.json 'd["format"]') == "$fmt" ]] || fail "export JSON format"
  qemu_fmt=$fmt
  [[ $fmt == vhd ]] && qemu_fmt=vpc
  qemu-img info -f "$qemu_fmt" "out.$fmt" >/dev/null || fail "qemu-img info rejects out.$fmt"
  qemu-img compare -q -f raw -F "$qemu_fmt" src.raw "out.$fmt" || fail "out.$fmt differs from the source"
  ls out.$fmt.layerdisk-* 2>/dev/null && fail "export left temporary files"
  # Round trip: the exported image imports to the same bytes.
  import_and_compare "back-$fmt" "out.$fmt" "$fmt"
done
expect_fail 2 export v out.bin --format vdi
expect_message "unknown export format"
[[ ! -e out.bin ]] || fail "a refused export left a file"

# "-" streams raw to standard output, holes as zeroes, and reports on
# stderr; only raw streams, and never into a terminal.
ld export v - --json 2>stream.json | cmp - src.raw || fail "the export to standard output differs from the source"
[[ $(json stream.json 'd["file"]') == - ]] ||
  fail "the streamed export's report is not on stderr: $(head -c 400 stream.json)"
expect_fail 2 export v - --format qcow2
expect_message "only raw can be written to standard output"
rc=0
script -qec "$LAYERDISK export v -" /dev/null >tty.out || rc=$?
[[ $rc == 2 ]] && grep -q "standard output is a terminal" tty.out || fail "an export into a terminal was not refused (exit $rc)"
# A reader that stops early fails the export with a clear error, not SIGPIPE.
{ rc=0; ld export v - 2>closed.err || rc=$?; echo $rc >closed.rc; } | head -c 4096 >/dev/null
rc=$(cat closed.rc)
[[ $rc == 1 ]] && grep -q "standard output was closed before the export finished" closed.err ||
  fail "an export whose reader went away: exit $rc, $(cat closed.err)"
# And "-" reads standard input into a volume.
ld volume create streamed --size "$(stat -c %s src.raw)" >/dev/null
ld volume write streamed - <src.raw >/dev/null
ld export streamed - | cmp - src.raw || fail "a volume written from standard input differs"

# "-" imports a raw disk from standard input, read once to its end: the
# layer reads as the source and records the digest and SHA-256 an import of
# the file records. Other formats, an image file piped in, a terminal and
# an empty stream are refused and leave no layer.
ld layer import piped - --sha256 --json <src.raw >piped.json
ld layer import from-file src.raw --sha256 --json >from-file.json
for key in size content_digest content_sha256; do
  [[ $(json piped.json "d['layer']['$key']") == $(json from-file.json "d['layer']['$key']") ]] ||
    fail "the piped import's $key differs from the file's: $(cat piped.json)"
done
[[ $(json piped.json 'd["layer"]["source"]') == "import:standard input" ]] ||
  fail "the piped import's source: $(cat piped.json)"
ld export layer:piped - | cmp - src.raw || fail "the layer imported from standard input differs"
# A stream that ends mid-block: its tail reads as zeroes up to a whole sector.
head -c 1000001 src.raw | ld layer import odd - --json >odd.json
[[ $(json odd.json 'd["layer"]["size"]') == 1000448 ]] || fail "odd stream's size: $(cat odd.json)"
ld export layer:odd - >odd.raw
cmp -n 1000001 odd.raw src.raw && [[ $(tail -c 447 odd.raw | tr -d '\0' | wc -c) == 0 ]] ||
  fail "the odd-sized stream reads back wrong"
ld layer import raw-bytes - --format raw <img.qcow2 >/dev/null  # the admin says raw: stored as is
ld export layer:raw-bytes - | cmp -n "$(stat -c %s img.qcow2)" - img.qcow2 ||
  fail "--format raw did not store the piped bytes as they are"
expect_fail 2 layer import x - --format qcow2 <img.qcow2
expect_message "only raw images can be read from standard input"
expect_fail 2 layer import x - <img.qcow2
expect_message "standard input holds a qcow2 image"
# Told by its first sector, before the import waits for the stream's end.
exec 3< <(cat img.qcow2; sleep 60)
feeder=$!
rc=0
timeout 20 "$LAYERDISK" layer import x - <&3 2>early.err || rc=$?
exec 3<&-
kill $feeder 2>/dev/null || true
[[ $rc == 2 ]] && grep -q "holds a qcow2 image" early.err ||
  fail "a qcow2 piped in was not refused by its first sector (exit $rc): $(cat early.err)"
expect_fail 2 layer import x - <fixed.vhd  # its footer is its last sector
expect_message "standard input holds a vhd image"
expect_fail 2 layer import x - </dev/null
expect_message "standard input is empty"
expect_fail 2 layer digest - <src.raw
expect_message "layer digest needs a file"
rc=0
script -qec "$LAYERDISK layer import x -" /dev/null >tty.out </dev/null || rc=$?
[[ $rc == 2 ]] && grep -q "standard input is a terminal" tty.out ||
  fail "an import from a terminal was not refused (exit $rc): $(cat tty.out)"
ld layer list --json >layers.json
[[ $(json layers.json '[l["name"] for l in d["layers"] if l["name"] == "x"]') == "[]" ]] ||
  fail "a refused import from standard input left its layer"
echo PASS
