# Shared helpers for the replication tests. $1 is the layerdisk binary, $2
# the test-only fake peer.
#   serve NAME STORE [ARGS...]  starts `layerdisk serve --grpc 127.0.0.1:0`
#                           (plus ARGS) on STORE; sets ${NAME}_PORT and ${NAME}_PID
#   ld STORE ARGS...        runs layerdisk on STORE
#   fail, expect_fail, expect_message, json   from tests/expect.sh
#   make_image FILE MIB SEED   dense seeded data: random and text blocks
#   change_blocks SRC DST PERCENT SEED   DST = SRC with PERCENT% of its 4 KiB
#                           blocks rewritten with random bytes; prints how
#                           many bytes changed
set -euo pipefail

LAYERDISK=${1:?usage: $0 PATH_TO_LAYERDISK PATH_TO_FAKE_PEER}
FAKE_PEER=${2:-}
if ! command -v python3 >/dev/null; then
  echo "SKIP: python3 is needed to check JSON output"
  exit 77
fi
WORK=$(mktemp -d "${TMPDIR:-/tmp}/layerdisk-repl.XXXXXX")
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
cd "$WORK"

# shellcheck source=tests/expect.sh disable=SC1091
source "$(dirname "${BASH_SOURCE[0]}")/../expect.sh"

ld() {
  local store=$1
  shift
  "$LAYERDISK" --store "$store" "$@"
}

serve() {
  local name=$1 store=$2
  shift 2
  # A restarted server must not be taken as started on the previous one's
  # report before the new one truncates it.
  rm -f "$WORK/$name.out" "$WORK/$name.err"
  "$LAYERDISK" --store "$store" serve --nbd "unix:$WORK/$name.nbd" \
    --grpc 127.0.0.1:0 --grpc-insecure "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
  local pid=$!
  PIDS+=("$pid")
  for _ in $(seq 100); do
    if grep -q '^  grpc ' "$WORK/$name.out" 2>/dev/null; then
      printf -v "${name}_PORT" '%s' "$(sed -n 's/^  grpc .*:\([0-9]*\)$/\1/p' "$WORK/$name.out")"
      printf -v "${name}_PID" '%s' "$pid"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || fail "serve $store exited: $(cat "$WORK/$name.err")"
    sleep 0.1
  done
  fail "serve $store printed no grpc address"
}

stop_server() {
  kill "$1"
  wait "$1" 2>/dev/null || true
}

make_image() {
  python3 - "$1" "$2" "$3" <<'PY'
import random, sys
path, mib, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(seed)
with open(path, "wb") as f:
    for i in range(mib * 256):  # 4 KiB blocks: half random, half text
        if i % 2:
            f.write(rng.randbytes(4096))
        else:
            f.write(((b"seed %d block %08d " % (seed, i)) * 200)[:4096])
PY
}

change_blocks() {
  python3 - "$1" "$2" "$3" "$4" <<'PY'
import os, random, shutil, sys
src, dst, percent, seed = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
shutil.copyfile(src, dst)
blocks = os.path.getsize(src) // 4096
rng = random.Random(seed)
chosen = rng.sample(range(blocks), int(blocks * percent / 100))
with open(dst, "r+b") as f:
    for b in chosen:
        f.seek(b * 4096)
        f.write(rng.randbytes(4096))
print(len(chosen) * 4096)
PY
}

# Both exports of layer NAME, from stores $2 and $3, are byte-identical.
same_layer() {
  ld "$2" export "layer:$1" "$WORK/x1.raw" >/dev/null
  ld "$3" export "layer:$1" "$WORK/x2.raw" >/dev/null
  cmp "$WORK/x1.raw" "$WORK/x2.raw" || fail "layer $1 differs between $2 and $3"
  rm -f "$WORK/x1.raw" "$WORK/x2.raw"
}

fsck_clean() {
  ld "$1" fsck >"$WORK/fsck.out" 2>&1 || fail "fsck of $1: $(cat "$WORK/fsck.out")"
  grep -q 'no problems' "$WORK/fsck.out" || fail "fsck of $1: $(cat "$WORK/fsck.out")"
}
