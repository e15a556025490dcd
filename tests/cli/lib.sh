# Shared helpers for the CLI tests. Source it after setting nothing; the
# test's first argument is the layerdisk binary.
#   ld ARGS...                 runs layerdisk against this test's store
#   fail, expect_fail, expect_message, json   from tests/expect.sh
#   make_image FILE MIB        a raw image: seeded data with holes between
#   start_server               `layerdisk serve` on $LAYERDISK_STORE (NBD on a
#                              unix socket); returns once its control socket
#                              is up, so ld reaches the store through it;
#                              sets SERVER_PID; stopped on exit
set -euo pipefail

LAYERDISK=${1:?usage: $0 PATH_TO_LAYERDISK}
if ! command -v python3 >/dev/null; then
  echo "SKIP: python3 is needed to check JSON output"
  exit 77
fi
WORK=$(mktemp -d "${TMPDIR:-/tmp}/layerdisk-cli.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
export LAYERDISK_STORE=$WORK/store
cd "$WORK"

# shellcheck source=tests/expect.sh disable=SC1091
source "$(dirname "${BASH_SOURCE[0]}")/../expect.sh"

ld() { "$LAYERDISK" "$@"; }

start_server() {
  "$LAYERDISK" serve --nbd "unix:$WORK/nbd.sock" >"$WORK/serve.log" 2>&1 &
  SERVER_PID=$!
  trap 'kill $SERVER_PID 2>/dev/null || true; wait $SERVER_PID 2>/dev/null || true; rm -rf "$WORK"' EXIT
  for _ in $(seq 100); do [[ -S $LAYERDISK_STORE/control.sock ]] && break; sleep 0.1; done
  [[ -S $LAYERDISK_STORE/control.sock ]] || fail "the server did not start: $(cat "$WORK/serve.log")"
}

make_image() {
  python3 - "$1" "$2" "${3:-1}" <<'PY'
import random, sys
path, mib, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(seed)
with open(path, "wb") as f:
    f.truncate(mib << 20)
    for i in range(0, mib, 2):  # 1 MiB of data (random, then text), a 1 MiB hole
        f.seek(i << 20)
        f.write(rng.randbytes(512 << 10))
        f.write(((b"layerdisk test line %06d\n" % i) * 20000)[:512 << 10])
PY
}
