#!/usr/bin/env bash
# qcow2 clusters of every kind an import meets. Plain data clusters are read
# from the file at the offsets `qemu-img map` gives, the rest through
# qemu-nbd (tools/images/qemu_image.cc). Each image here would read wrong
# bytes if the wrong path took it: compressed clusters, zeroed clusters that
# keep their old bytes, subclusters, an external data file, an overlay
# whose backing file holds data at the same offsets, a file ending inside
# its last cluster. Each layer must read as qemu-img convert reads the image.
source "$(dirname "$0")/lib_images.sh"
need_tools qemu-img qemu-nbd qemu-io

# 64 clusters of 64 KiB: random ones (do not compress) and text (compresses).
python3 - <<'PY'
import random
rng = random.Random(7)
with open("src.raw", "wb") as f:
    for i in range(64):
        text = (b"qcow2 cluster %02d of compressible text\n" % i) * 2000
        f.write(rng.randbytes(65536) if i % 2 == 0 else text[:65536])
PY

# Compressed (text clusters) beside plain ones (random clusters do not shrink).
qemu-img convert -f raw -O qcow2 -c src.raw compressed.qcow2
[[ $(qemu-img map --output=json compressed.qcow2 | grep -c '"offset"') -lt \
   $(qemu-img map --output=json compressed.qcow2 | grep -c '"data": true') ]] ||
  fail "compressed.qcow2 has no compressed clusters to test"
import_and_compare compressed compressed.qcow2 qcow2

# Zeroed in place: the clusters stay allocated with their old bytes.
qemu-img convert -f raw -O qcow2 src.raw zeroed.qcow2
qemu-io -c 'write -z 128k 256k' -c 'write -z 1M 64k' zeroed.qcow2 >/dev/null
qemu-img map --output=json zeroed.qcow2 | grep -q '"zero": true, "data": false, "offset"' ||
  fail "zeroed.qcow2 keeps no allocated zero cluster to test"
import_and_compare zeroed zeroed.qcow2 qcow2

# Subclusters: a 4 KiB write into a fresh 64 KiB cluster.
qemu-img create -q -f qcow2 -o extended_l2=on sub.qcow2 4M
qemu-io -c 'write -P 0x5c 1M 4k' -c 'write -P 0x6d 1060k 8k' -c 'write -P 0x7e 3M 64k' sub.qcow2 >/dev/null
import_and_compare subclusters sub.qcow2 qcow2

# An external data file: map offsets are in it, not in the qcow2.
qemu-img create -q -f qcow2 -o data_file=data.bin ext.qcow2 4M
qemu-io -c 'write -P 0x3a 0 1M' -c 'write -P 0x4b 2M 512k' ext.qcow2 >/dev/null
import_and_compare data-file ext.qcow2 qcow2

# An overlay: its own clusters from its file, the rest from the backing
# file, whose offsets qemu-img map also reports. 2 KiB subclusters put own
# and backing bytes in one 4 KiB block; own clusters zeroed after a write
# keep that write's bytes.
qemu-img convert -f raw -O qcow2 src.raw base.qcow2
qemu-img create -q -f qcow2 -o extended_l2=on -b base.qcow2 -F qcow2 over.qcow2
qemu-io -c 'write -P 0x21 64k 64k' -c 'write -P 0x32 1000k 100k' -c 'write -P 0x43 2050k 2k' \
  -c 'write -P 0x54 3M 64k' -c 'write -z 3M 32k' over.qcow2 >/dev/null
ld layer import whole over.qcow2 --json >over.json
ld export layer:whole.1 got-base.raw >/dev/null
cmp got-base.raw src.raw || fail "the backing file's layer differs from its data"
ld volume create ov --layers whole.1,whole >/dev/null
ld export ov got-over.raw >/dev/null
qemu-img convert -O raw over.qcow2 want-over.raw
cmp got-over.raw want-over.raw || fail "the overlay's stack differs from qemu-img's reading"

# A file ending inside its last data cluster (qemu-img check accepts it):
# qemu reads the missing part as zeroes, and so must the import.
qemu-img convert -f raw -O qcow2 src.raw short.qcow2
truncate -s $(($(stat -c %s short.qcow2) - 1000)) short.qcow2
qemu-img check -q short.qcow2 || fail "qemu-img check refuses the short file; the case is gone"
import_and_compare short short.qcow2 qcow2
echo PASS
