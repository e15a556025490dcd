# Helpers for the image tests, on top of tests/cli/lib.sh.
#   need_tools TOOL...          exit 77 naming the first missing tool
#   expect_no_layers            the store holds no layer (a failed import left nothing)
#   patch_bytes FILE OFFSET HEX writes the bytes HEX at OFFSET
#   gen_diff ARGS...            tests/images/make_differencing.py
source "$(dirname "$0")/../cli/lib.sh"
IMAGES_DIR=$(cd "$(dirname "$0")" && pwd)

need_tools() {
  local t
  for t in "$@"; do
    command -v "$t" >/dev/null || { echo "SKIP: $t is not installed"; exit 77; }
  done
}

expect_no_layers() {
  ld layer list --json >"$WORK/layers.json"
  local n
  n=$(json "$WORK/layers.json" 'len(d["layers"])')
  [[ $n == "${1:-0}" ]] || fail "expected ${1:-0} layers, found: $(cat "$WORK/layers.json")"
}

patch_bytes() {
  python3 - "$1" "$2" "$3" <<'PY'
import sys
path, offset, data = sys.argv[1], int(sys.argv[2], 0), bytes.fromhex(sys.argv[3])
with open(path, "r+b") as f:
    f.seek(offset)
    f.write(data)
PY
}

gen_diff() { python3 "$IMAGES_DIR/make_differencing.py" "$@"; }

# Imports FILE as layer NAME (auto-detected), exports it raw and compares
# it with qemu-img's own raw conversion of FILE.
import_and_compare() {
  local name=$1 file=$2 want_format=$3
  ld layer import "$name" "$file" --json >"$WORK/import.json"
  [[ $(json "$WORK/import.json" 'd["format"]') == "$want_format" ]] || fail "$file not detected as $want_format"
  ld export "layer:$name" "$WORK/got.raw" >/dev/null
  # qemu-img probes a fixed VHD (footer only) as raw: name the format.
  local qemu_format=$want_format
  [[ $want_format == vhd ]] && qemu_format=vpc
  qemu-img convert -f "$qemu_format" -O raw "$file" "$WORK/want.raw"
  cmp "$WORK/got.raw" "$WORK/want.raw" || fail "layer $name differs from $file"
  # The recorded digest is the image's, whichever format holds the bytes.
  local digest
  digest=$(json "$WORK/import.json" 'd["layer"]["content_digest"]')
  ld layer digest "$file" --json >"$WORK/digest.json"
  [[ $(json "$WORK/digest.json" 'd["content_digest"]') == "$digest" ]] ||
    fail "layer digest $file differs from what the import of it recorded"
  [[ $(ld layer digest "$WORK/want.raw" | cut -d' ' -f1) == "$digest" ]] ||
    fail "the raw form of $file has another digest than the layer"
}
