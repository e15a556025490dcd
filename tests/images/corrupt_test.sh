#!/usr/bin/env bash
# Damaged and hostile images of every format: each refused with one error
# line naming the problem and a non-zero exit, and no layer left behind
# (also when a chain fails after its base was imported).
source "$(dirname "$0")/lib_images.sh"
need_tools qemu-img qemu-nbd qemu-io

make_image src.raw 16 9
qemu-img convert -f raw -O vpc -o subformat=dynamic,force_size=on src.raw good.vhd
qemu-img convert -f raw -O vhdx -o subformat=dynamic,block_size=1M src.raw good.vhdx
qemu-img convert -f raw -O qcow2 src.raw good.qcow2
qemu-img convert -f raw -O vmdk src.raw good.vmdk

# refused CODE MESSAGE FILE: the import fails so, and leaves no layer.
refused() {
  expect_fail "$1" layer import bad "$3"
  expect_message "$2"
  expect_no_layers
}

# Field offsets and fixes, computed from the files themselves.
vhd_tool() {
  python3 - "$@" <<'PY'
import struct, sys
op, path = sys.argv[1], sys.argv[2]
data = bytearray(open(path, "rb").read())
def fix(buf, at):
    s = sum(buf[:at]) + sum(buf[at + 4:])
    struct.pack_into(">I", buf, at, (~s) & 0xFFFFFFFF)
foot = len(data) - 512
if op == "size":  # a current size that overflows anything, checksum fixed
    footer = data[foot:]
    struct.pack_into(">Q", footer, 48, 1 << 62)
    fix(footer, 64)
    data[foot:] = footer
elif op == "bat":  # first BAT entry far past the end of the file
    dyn = struct.unpack(">Q", data[foot + 16:foot + 24])[0]
    table = struct.unpack(">Q", data[dyn + 16:dyn + 24])[0]
    struct.pack_into(">I", data, table, 0x00FFFF00)
elif op == "dyn":  # dynamic header damaged, its checksum left stale
    dyn = struct.unpack(">Q", data[foot + 16:foot + 24])[0]
    data[dyn + 30] ^= 0xFF
elif op == "share":  # BAT entry 1 points at block 0's file space
    dyn = struct.unpack(">Q", data[foot + 16:foot + 24])[0]
    table = struct.unpack(">Q", data[dyn + 16:dyn + 24])[0]
    data[table + 4:table + 8] = data[table:table + 4]
elif op == "shatter":
    # A disk of 8 GiB whose every block has file space of its own and a
    # sector bitmap alternating (every other sector data): 2^24 pieces and
    # more. The blocks' data is never written, so the file is sparse.
    dyn = struct.unpack(">Q", data[foot + 16:foot + 24])[0]
    block = struct.unpack(">I", data[dyn + 32:dyn + 36])[0]
    blocks = (8 << 30) // block
    bat_at = (foot + 511) // 512 * 512
    first = (bat_at + blocks * 4 + 511) // 512  # sector of block 0
    stride = 1 + block // 512                   # bitmap sector + data
    bat = b"".join(struct.pack(">I", first + i * stride) for i in range(blocks))
    struct.pack_into(">Q", data, dyn + 16, bat_at)
    struct.pack_into(">I", data, dyn + 28, blocks)
    dynhdr = data[dyn:dyn + 1024]
    fix(dynhdr, 36)
    data[dyn:dyn + 1024] = dynhdr
    footer = data[foot:foot + 512]
    struct.pack_into(">QQ", footer, 40, 8 << 30, 8 << 30)
    fix(footer, 64)
    with open(path, "wb") as f:
        f.write(data[:foot])
        f.seek(bat_at)
        f.write(bat)
        for i in range(blocks):
            f.seek((first + i * stride) * 512)
            f.write(b"\x55" * (block // 512 // 8))
        f.seek((first + blocks * stride) * 512)
        f.write(footer)
    sys.exit(0)
open(path, "wb").write(data)
PY
}
vhdx_tool() {
  python3 - "$@" <<'PY'
import struct, sys, uuid
op, path = sys.argv[1], sys.argv[2]
data = bytearray(open(path, "rb").read())
def region(gid):
    rt = 192 << 10
    for r in range(struct.unpack("<I", data[rt + 8:rt + 12])[0]):
        e = rt + 16 + r * 32
        if str(uuid.UUID(bytes_le=bytes(data[e:e + 16]))) == gid:
            return struct.unpack("<QI", data[e + 16:e + 28])
if op == "bat":  # payload block 0 fully present, 32 GiB into a small file
    off, _ = region("2dc27766-f623-4200-9d64-115e9bfd4a08")
    struct.pack_into("<Q", data, off, (32768 << 20) | 6)
elif op == "size":  # virtual disk size of 2^60 bytes
    meta, _ = region("8b7ca206-4790-4b9a-b8fe-575f050f886e")
    for m in range(struct.unpack("<H", data[meta + 10:meta + 12])[0]):
        e = meta + 32 + m * 32
        if str(uuid.UUID(bytes_le=bytes(data[e:e + 16]))) == "2fa54224-cd1b-4876-b211-5dbed83bf4b8":
            item = struct.unpack("<I", data[e + 16:e + 20])[0]
            struct.pack_into("<Q", data, meta + item, 1 << 60)
elif op == "share":  # the second fully present block points at the first's space
    off, _ = region("2dc27766-f623-4200-9d64-115e9bfd4a08")
    present = [off + 8 * i for i in range(64) if data[off + 8 * i] & 7 == 6][:2]
    data[present[1]:present[1] + 8] = data[present[0]:present[0] + 8]
elif op == "headers":  # both headers damaged
    data[(64 << 10) + 100] ^= 0xFF
    data[(128 << 10) + 100] ^= 0xFF
open(path, "wb").write(data)
PY
}

# --- VHD ---
cp good.vhd f.vhd && patch_bytes f.vhd $(( $(stat -c %s f.vhd) - 512 + 40 )) ffff
refused 6 "footer has a wrong checksum" f.vhd
cp good.vhd f.vhd && vhd_tool dyn f.vhd
refused 6 "dynamic header has a wrong checksum" f.vhd
cp good.vhd f.vhd && vhd_tool bat f.vhd
refused 6 "BAT entry 0 points past the end of the file" f.vhd
cp good.vhd f.vhd && truncate -s $(( $(stat -c %s f.vhd) / 2 )) f.vhd
refused 6 "truncated" f.vhd
cp good.vhd f.vhd && vhd_tool size f.vhd
refused 2 "larger than the largest supported" f.vhd
cp good.vhd f.vhd && vhd_tool share f.vhd
refused 6 "BAT entries 0 and 1 overlap in the file" f.vhd
cp good.vhd f.vhd && vhd_tool shatter f.vhd
refused 6 "more than 16777216 pieces" f.vhd
rm f.vhd

# --- VHDX ---
cp good.vhdx f.vhdx && vhdx_tool headers f.vhdx
refused 6 "wrong checksums" f.vhdx
cp good.vhdx f.vhdx && vhdx_tool bat f.vhdx
refused 6 "BAT entry 0 points past the end of the file" f.vhdx
cp good.vhdx f.vhdx && vhdx_tool share f.vhdx
refused 6 "overlap in the file" f.vhdx
cp good.vhdx f.vhdx && vhdx_tool size f.vhdx
refused 2 "larger than the largest supported" f.vhdx
cp good.vhdx f.vhdx && truncate -s $((3 << 20)) f.vhdx
refused 6 "f.vhdx" f.vhdx
cp good.vhdx f.vhdx && truncate -s 100000 f.vhdx
refused 6 "past the end of the file" f.vhdx

# --- qcow2 and VMDK (qemu-img's reason, named) ---
cp good.qcow2 f.qcow2 && truncate -s 1000 f.qcow2
refused 6 "qemu-img" f.qcow2
cp good.qcow2 f.qcow2 && patch_bytes f.qcow2 4 00000063  # version 99
refused 6 "version" f.qcow2
cp good.qcow2 f.qcow2 && patch_bytes f.qcow2 24 0004000000000000  # 1 PiB, tables unchanged
refused 6 "L1 table" f.qcow2
qemu-img create -q -f qcow2 huge.qcow2 9T  # valid, but past the 8 TiB limit
refused 2 "larger than the largest supported" huge.qcow2
cp good.vmdk f.vmdk && truncate -s 4096 f.vmdk
refused 6 "qemu-img" f.vmdk

# A chain whose overlay is damaged past its header: the base imports, the
# overlay fails, and the base layer is removed again.
qemu-img create -q -f qcow2 -b good.qcow2 -F qcow2 over.qcow2
qemu-io -c 'write -P 0x5a 0 64k' over.qcow2 >/dev/null
l1=$(python3 -c 'import struct,sys; print(struct.unpack(">Q", open(sys.argv[1],"rb").read()[40:48])[0])' over.qcow2)
patch_bytes over.qcow2 "$l1" 8000000000000201  # an unaligned L2 table offset
refused 6 "over.qcow2" over.qcow2

# The store still works after all that.
ld layer import fine good.vhdx >/dev/null
expect_no_layers 1
echo PASS
