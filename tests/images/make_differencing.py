#!/usr/bin/env python3
"""Test-only generator of differencing VHD and VHDX images (qemu-img cannot
make them), written from the format specifications: for VHD the footer,
dynamic header, BAT and per-block sector bitmaps; for VHDX the file
identifier, two headers, two region tables, the metadata region (file
parameters, sizes, page 83 id, parent locator) and a BAT with payload and
sector-bitmap entries.

usage: make_differencing.py vhd|vhdx PARENT CHILD PARENT_RAW EXPECTED_RAW
           [--parent-id GUID] [--seed N] OFFSET:LENGTH ...
Writes CHILD as a differencing image over PARENT (whose identifier it reads,
unless --parent-id forges one) holding seeded random bytes at each
OFFSET:LENGTH (512-byte aligned), and EXPECTED_RAW = PARENT_RAW with those
writes applied: what the composed chain must read as.
"""
import argparse, os, random, shutil, struct, uuid, zlib

SECTOR = 512


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def crc32c_fast(data):
    # Table-driven: headers are 4 KiB and region tables 64 KiB.
    table = crc32c_fast.table
    crc = 0xFFFFFFFF
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


crc32c_fast.table = []
for i in range(256):
    c = i
    for _ in range(8):
        c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
    crc32c_fast.table.append(c)


def guid_bytes(s):  # Windows on-disk layout (first three fields little-endian)
    return uuid.UUID(s).bytes_le


def guid_str(b):
    return str(uuid.UUID(bytes_le=bytes(b)))


# ---------------------------------------------------------------- VHD ----
def vhd_checksum(buf, at):
    s = sum(buf[:at]) + sum(buf[at + 4:])
    return (~s) & 0xFFFFFFFF


def read_vhd_parent(path):
    with open(path, "rb") as f:
        f.seek(-512, os.SEEK_END)
        footer = f.read(512)
    assert footer[:8] == b"conectix", "parent is not a VHD"
    size = struct.unpack(">Q", footer[48:56])[0]
    return size, footer[68:84], footer[56:60]


def write_vhd(parent, child, writes, data, parent_id):
    size, pid, geometry = read_vhd_parent(parent)
    if parent_id is not None:
        pid = uuid.UUID(parent_id).bytes
    block = 2 << 20
    blocks = (size + block - 1) // block
    bitmap = ((block // SECTOR // 8) + SECTOR - 1) // SECTOR * SECTOR
    footer = bytearray(512)
    footer[0:8] = b"conectix"
    struct.pack_into(">IIQI", footer, 8, 2, 0x00010000, 512, 0)
    footer[28:32] = b"tst "
    struct.pack_into(">I", footer, 32, 0x00010000)
    footer[36:40] = b"Wi2k"
    struct.pack_into(">QQ", footer, 40, size, size)
    footer[56:60] = geometry
    struct.pack_into(">I", footer, 60, 4)
    footer[68:84] = uuid.uuid4().bytes
    struct.pack_into(">I", footer, 64, vhd_checksum(footer, 64))

    bat_offset = 512 + 1024
    bat_bytes = (blocks * 4 + SECTOR - 1) // SECTOR * SECTOR
    dyn = bytearray(1024)
    dyn[0:8] = b"cxsparse"
    struct.pack_into(">QQIII", dyn, 8, 0xFFFFFFFFFFFFFFFF, bat_offset, 0x00010000, blocks, block)
    dyn[40:56] = pid
    name = os.path.basename(parent).encode("utf-16-be")
    dyn[64:64 + len(name)] = name
    struct.pack_into(">I", dyn, 36, vhd_checksum(dyn, 36))

    # Which sectors of which block each write touches.
    touched = {}
    for off, length in writes:
        for s in range(off // SECTOR, (off + length) // SECTOR):
            touched.setdefault(s * SECTOR // block, set()).add(s % (block // SECTOR))
    bat = [0xFFFFFFFF] * blocks
    pos = bat_offset + bat_bytes
    body = bytearray()
    for b in sorted(touched):
        bat[b] = pos // SECTOR
        bm = bytearray(bitmap)
        for s in touched[b]:
            bm[s // 8] |= 0x80 >> (s % 8)
        payload = bytearray(block)
        for s in touched[b]:
            at = b * block + s * SECTOR
            payload[s * SECTOR:(s + 1) * SECTOR] = data[at:at + SECTOR]
        body += bm + payload
        pos += bitmap + block
    with open(child, "wb") as f:
        f.write(footer + dyn)
        f.write(b"".join(struct.pack(">I", e) for e in bat).ljust(bat_bytes, b"\xff"))
        f.write(body)
        f.write(footer)


# --------------------------------------------------------------- VHDX ----
BAT_REGION = "2dc27766-f623-4200-9d64-115e9bfd4a08"
METADATA_REGION = "8b7ca206-4790-4b9a-b8fe-575f050f886e"
FILE_PARAMETERS = "caa16737-fa36-4d43-b3b6-33f0aa44e76b"
VIRTUAL_DISK_SIZE = "2fa54224-cd1b-4876-b211-5dbed83bf4b8"
PAGE83 = "beca12ab-b2e6-4523-93ef-c309e000c746"
LOGICAL_SECTOR = "8141bf1d-a96f-4709-ba47-f233a8faab5f"
PHYSICAL_SECTOR = "cda348c7-445d-4471-9cc9-e9885251c556"
PARENT_LOCATOR = "a8d35f2d-b30b-454d-abf7-d3d84834ab0c"
LOCATOR_TYPE = "b04aefb7-d19e-4a81-b789-25b8e9445913"
MiB = 1 << 20


def read_vhdx_parent(path):
    with open(path, "rb") as f:
        heads = []
        for at in (64 << 10, 128 << 10):
            f.seek(at)
            h = f.read(4096)
            if h[:4] == b"head":
                heads.append((struct.unpack("<Q", h[8:16])[0], h))
        h = max(heads)[1]
        data_write = guid_str(h[32:48])
        f.seek(192 << 10)
        regions = f.read(64 << 10)
        count = struct.unpack("<I", regions[8:12])[0]
        meta_off = None
        for r in range(count):
            e = 16 + r * 32
            if guid_str(regions[e:e + 16]) == METADATA_REGION:
                meta_off, meta_len = struct.unpack("<QI", regions[e + 16:e + 28])
        f.seek(meta_off)
        meta = f.read(meta_len)
    n = struct.unpack("<H", meta[10:12])[0]
    for m in range(n):
        e = 32 + m * 32
        if guid_str(meta[e:e + 16]) == VIRTUAL_DISK_SIZE:
            o = struct.unpack("<I", meta[e + 16:e + 20])[0]
            size = struct.unpack("<Q", meta[o:o + 8])[0]
    return size, data_write


def vhdx_header(seq, data_write_guid):
    h = bytearray(4096)
    h[0:4] = b"head"
    struct.pack_into("<Q", h, 8, seq)
    h[16:32] = uuid.uuid4().bytes_le  # file write guid
    h[32:48] = guid_bytes(data_write_guid)
    # log guid zero: nothing to replay
    struct.pack_into("<HHIQ", h, 64, 0, 1, MiB, MiB)
    struct.pack_into("<I", h, 4, crc32c_fast(h))
    return h


def write_vhdx(parent, child, writes, data, parent_id):
    size, pid = read_vhdx_parent(parent)
    if parent_id is not None:
        pid = parent_id
    block = MiB
    chunk_ratio = (1 << 23) * SECTOR // block
    blocks = (size + block - 1) // block
    entries = (blocks + chunk_ratio - 1) // chunk_ratio * (chunk_ratio + 1)
    meta_at, bat_at = 2 * MiB, 3 * MiB
    bat_len = (entries * 8 + MiB - 1) // MiB * MiB
    data_at = bat_at + bat_len

    f = bytearray(data_at)
    f[0:8] = b"vhdxfile"
    own_id = str(uuid.uuid4())
    f[64 << 10:(64 << 10) + 4096] = vhdx_header(1, own_id)
    f[128 << 10:(128 << 10) + 4096] = vhdx_header(2, own_id)
    rt = bytearray(64 << 10)
    rt[0:4] = b"regi"
    struct.pack_into("<I", rt, 8, 2)
    rt[16:32] = guid_bytes(BAT_REGION)
    struct.pack_into("<QII", rt, 32, bat_at, bat_len, 1)
    rt[48:64] = guid_bytes(METADATA_REGION)
    struct.pack_into("<QII", rt, 64, meta_at, MiB, 1)
    struct.pack_into("<I", rt, 4, crc32c_fast(rt))
    f[192 << 10:256 << 10] = rt
    f[256 << 10:320 << 10] = rt

    # Parent locator: key/value pairs in UTF-16LE.
    pairs = [("parent_linkage", "{%s}" % pid),
             ("relative_path", ".\\" + os.path.basename(parent))]
    loc = bytearray(20 + 12 * len(pairs))
    loc[0:16] = guid_bytes(LOCATOR_TYPE)
    struct.pack_into("<HH", loc, 16, 0, len(pairs))
    strings = bytearray()
    for i, (k, v) in enumerate(pairs):
        kb, vb = k.encode("utf-16-le"), v.encode("utf-16-le")
        ko = len(loc) + len(strings)
        strings += kb
        vo = len(loc) + len(strings)
        strings += vb
        struct.pack_into("<IIHH", loc, 20 + 12 * i, ko, vo, len(kb), len(vb))
    loc += strings
    items = [
        (FILE_PARAMETERS, struct.pack("<II", block, 2), 4),  # HasParent; IsRequired
        (VIRTUAL_DISK_SIZE, struct.pack("<Q", size), 6),
        (PAGE83, uuid.uuid4().bytes_le, 6),
        (LOGICAL_SECTOR, struct.pack("<I", SECTOR), 6),
        (PHYSICAL_SECTOR, struct.pack("<I", 4096), 6),
        (PARENT_LOCATOR, bytes(loc), 4),
    ]
    meta = bytearray(MiB)
    meta[0:8] = b"metadata"
    struct.pack_into("<H", meta, 10, len(items))
    at = 64 << 10
    for i, (gid, value, flags) in enumerate(items):
        e = 32 + 32 * i
        meta[e:e + 16] = guid_bytes(gid)
        struct.pack_into("<III", meta, e + 16, at, len(value), flags)
        meta[at:at + len(value)] = value
        at += (len(value) + 4095) // 4096 * 4096
    f[meta_at:meta_at + MiB] = meta

    spb = block // SECTOR
    touched = {}
    for off, length in writes:
        for s in range(off // SECTOR, (off + length) // SECTOR):
            touched.setdefault(s // spb, set()).add(s % spb)
    bat = [0] * entries
    body = bytearray()
    bitmaps = {}
    pos = data_at
    for b in sorted(touched):
        payload = bytearray(block)
        for s in touched[b]:
            at = b * block + s * SECTOR
            payload[s * SECTOR:(s + 1) * SECTOR] = data[at:at + SECTOR]
        full = len(touched[b]) == spb
        bat[b + b // chunk_ratio] = (pos & ~(MiB - 1)) | (6 if full else 7)
        body += payload
        pos += block
        if not full:
            bm = bitmaps.setdefault(b // chunk_ratio, bytearray(MiB))
            for s in touched[b]:
                bit = (b % chunk_ratio) * spb + s
                bm[bit // 8] |= 1 << (bit % 8)
    for c, bm in sorted(bitmaps.items()):
        bat[(c + 1) * (chunk_ratio + 1) - 1] = pos | 6
        body += bm
        pos += MiB
    f[bat_at:bat_at + entries * 8] = b"".join(struct.pack("<Q", e) for e in bat)
    with open(child, "wb") as out:
        out.write(f)
        out.write(body)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("format", choices=["vhd", "vhdx"])
    p.add_argument("parent")
    p.add_argument("child")
    p.add_argument("parent_raw")
    p.add_argument("expected_raw")
    p.add_argument("--parent-id")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("writes", nargs="+")
    a = p.parse_args()
    writes = []
    for w in a.writes:
        off, length = (int(x, 0) for x in w.split(":"))
        assert off % SECTOR == 0 and length % SECTOR == 0, "writes must be sector-aligned"
        writes.append((off, length))
    shutil.copyfile(a.parent_raw, a.expected_raw)
    size = os.path.getsize(a.parent_raw)
    rng = random.Random(a.seed)
    data = bytearray(size)
    with open(a.expected_raw, "r+b") as f:
        for off, length in writes:
            chunk = rng.randbytes(length)
            data[off:off + length] = chunk
            f.seek(off)
            f.write(chunk)
    (write_vhd if a.format == "vhd" else write_vhdx)(a.parent, a.child, writes, data, a.parent_id)


if __name__ == "__main__":
    main()
