#!/usr/bin/env bash
# gc gives disk space back without rewriting the whole store each time
# (dedupe/blob_gc_policy.h): blob files less than a quarter garbage are left
# alone; once the oldest files hold enough garbage they are rewritten and
# their space comes back.
source "$(dirname "$0")/lib.sh"

# keep_plus_extra OUT KEEP_SEED EXTRA_SEED BLOCKS: BLOCKS 4 KiB blocks of
# random data where every fifth (or, with HALF=1, every second) comes from
# EXTRA_SEED; with EXTRA_SEED 0 those blocks are holes. Two images from the
# same KEEP_SEED share every other block, so a layer of the "keep only"
# image keeps those chunks alive when the full image's layer is deleted.
keep_plus_extra() {
  python3 - "$@" "${HALF:-0}" <<'PY'
import random, sys
out, keep_seed, extra_seed, blocks, half = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5] == "1"
keep, extra = random.Random(keep_seed), random.Random(extra_seed)
with open(out, "wb") as f:
    f.truncate(blocks * 4096)
    for i in range(blocks):
        k = keep.randbytes(4096)
        is_extra = (i % 2 == 1) if half else (i % 5 == 4)
        if not is_extra:
            f.seek(i * 4096)
            f.write(k)
        elif extra_seed:
            f.seek(i * 4096)
            f.write(extra.randbytes(4096))
PY
}
blob_files() { (cd "$LAYERDISK_STORE/db" && ls -- *.blob 2>/dev/null | sort) || true; }
blob_bytes() { cat "$LAYERDISK_STORE"/db/*.blob 2>/dev/null | wc -c; }

ld init >/dev/null
# 20% of the first layer's chunks become garbage: below the threshold.
keep_plus_extra full.img 1 2 5120     # 20 MiB, 16 of them shared with keep.img
keep_plus_extra keep.img 1 0 5120
ld layer import full full.img >/dev/null
ld layer import keep keep.img --json >keep.json
[[ $(json keep.json 'd["new_stored_bytes"]') == 0 ]] || fail "keep.img stored new bytes"
ld layer delete full >/dev/null
# stats shows what gc can give back: 1024 chunks no layer uses.
ld stats --json >stats0.json
[[ $(json stats0.json '4 << 20 <= d["unreferenced_bytes"] <= 5 << 20') == True ]] ||
  fail "stats: unreferenced $(json stats0.json 'd["unreferenced_bytes"]'), not ~4 MiB"
ld stats | grep -q "^  unreferenced   4\.[01] MiB" || fail "stats text lacks the unreferenced line: $(ld stats)"
before=$(blob_files)
[[ -n $before ]] || fail "the store keeps no blob files"
ld gc --json >gc1.json
[[ $(json gc1.json 'd["chunks_removed"]') == 1024 ]] || fail "gc removed $(json gc1.json 'd["chunks_removed"]') chunks, not 1024"
[[ $(blob_files) == "$before" ]] || fail "gc rewrote blob files only 20% garbage: $before -> $(blob_files)"
# It says so: the 4 MiB of deleted chunks stay on disk for now.
[[ $(json gc1.json '4 << 20 <= d["garbage_bytes_left"] <= 5 << 20') == True ]] ||
  fail "gc reports $(json gc1.json 'd["garbage_bytes_left"]') bytes of garbage left, not ~4 MiB"
# ... and so does stats: the chunks are gone, their bytes still on disk.
ld stats --json >stats1.json
[[ $(json stats1.json 'd["unreferenced_bytes"]') == 0 ]] || fail "stats after gc: $(cat stats1.json)"
[[ $(json stats1.json 'd["chunk_file_garbage_bytes"] == '"$(json gc1.json 'd["garbage_bytes_left"]')") == True ]] ||
  fail "stats and gc disagree on the garbage left: $(cat stats1.json)"
[[ $(json stats1.json 'd["chunk_file_bytes"] > 20 << 20') == True ]] || fail "stats: chunk files $(cat stats1.json)"
ld stats | grep -q "^  chunk files    .* on disk, 4\.[01] MiB of it deleted chunks" ||
  fail "stats text lacks the chunk files line: $(ld stats)"

# Half of a second layer's chunks become garbage: the oldest files together
# are now over a quarter garbage (8 of 28 MiB), so gc rewrites them.
HALF=1 keep_plus_extra full2.img 3 4 2048   # 8 MiB, 4 shared with keep2.img
HALF=1 keep_plus_extra keep2.img 3 0 2048
ld layer import full2 full2.img >/dev/null
ld layer import keep2 keep2.img >/dev/null
ld layer delete full2 >/dev/null
before=$(blob_files)
with_garbage=$(blob_bytes)
ld gc --json >gc2.json
[[ $(json gc2.json 'd["chunks_removed"]') == 1024 ]] || fail "gc removed $(json gc2.json 'd["chunks_removed"]') chunks, not 1024"
after=$(blob_files)
[[ -z $(comm -12 <(echo "$before") <(echo "$after")) ]] || fail "gc kept old blob files: $before -> $after"
after_bytes=$(blob_bytes)
((with_garbage - after_bytes > 7 << 20)) || fail "gc left the blob files at $after_bytes of $with_garbage bytes"
[[ $(json gc2.json 'd["garbage_bytes_left"]') == 0 ]] || fail "garbage left after a rewrite: $(cat gc2.json)"
ld stats --json >stats2.json
[[ $(json stats2.json 'd["chunk_file_garbage_bytes"]') == 0 ]] || fail "stats after the rewrite: $(cat stats2.json)"

# Nothing was lost on the way.
ld export layer:keep keep.out >/dev/null
cmp keep.img keep.out || fail "layer keep reads differently after gc"
ld export layer:keep2 keep2.out >/dev/null
cmp keep2.img keep2.out || fail "layer keep2 reads differently after gc"
ld fsck | grep -q "no problems" || fail "fsck after gc"
echo PASS
