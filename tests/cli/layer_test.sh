#!/usr/bin/env bash
# layer import / list / show / delete, and their errors.
source "$(dirname "$0")/lib.sh"

make_image os.img 16
ld layer import os os.img --json >import.json
for f in bytes_read new_chunks new_stored_bytes seconds mb_per_s format; do
  json import.json "d['$f']" >/dev/null || fail "import JSON lacks $f"
done
[[ $(json import.json 'd["layer"]["name"]') == os ]] || fail "import JSON layer name"
[[ $(json import.json 'd["layer"]["size"]') == $((16 << 20)) ]] || fail "layer size"
# Holes are skipped: 8 MiB of data in a 16 MiB image.
[[ $(json import.json 'd["bytes_read"]') -le $((8 << 20)) ]] || fail "holes were read"
[[ $(json import.json 'd["format"]') == raw ]] || fail "format not detected as raw"

ld layer import app os.img --format raw | grep -q "MB/s" || fail "no MB/s in text output"
ld layer list | grep -q '^app ' || fail "app not listed"
ld layer list --json >list.json
[[ $(json list.json 'sorted(l["name"] for l in d["layers"])') == "['app', 'os']" ]] || fail "list: $(cat list.json)"
ld layer show os | grep -q "import:" || fail "show lacks source"
ld layer show os --json >show.json
for f in name id size logical_bytes created_unix sealed source; do
  json show.json "d['$f']" >/dev/null || fail "show JSON lacks $f"
done

expect_fail 4 layer import os os.img
expect_message "already exists"
expect_fail 2 layer import 'bad name' os.img
expect_fail 2 layer import .hidden os.img
expect_fail 3 layer import x missing.img
expect_fail 2 layer import x os.img --format vhdz
expect_message "unknown image format"
expect_fail 3 layer show nosuch
expect_message "nosuch"
expect_fail 3 layer delete nosuch

# A file that has a format's magic but not the rest is refused as damaged
# (tests/images/ covers real images of each format).
for fmt in qcow2 vhdx vmdk vhd; do
  cp os.img "$fmt.img"
  case $fmt in
    qcow2) printf 'QFI\xfb' | dd of=$fmt.img conv=notrunc status=none ;;
    vhdx) printf 'vhdxfile' | dd of=$fmt.img conv=notrunc status=none ;;
    vmdk) printf 'KDMV' | dd of=$fmt.img conv=notrunc status=none ;;
    vhd) printf 'conectix' | dd of=$fmt.img bs=1 seek=$(( (16 << 20) - 512 )) conv=notrunc status=none ;;
  esac
  expect_fail 6 layer import "l$fmt" "$fmt.img"
  expect_message "$fmt.img"
done
ld layer list --json >list.json
[[ $(json list.json 'len(d["layers"])') == 2 ]] || fail "a failed import left a layer"

# In use: refused with a reason; free: deleted.
ld volume create v --layers os >/dev/null
expect_fail 5 layer delete os
expect_message "used by volume 'v'"
ld layer delete app >/dev/null
expect_fail 3 layer show app
echo PASS
