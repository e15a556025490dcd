# Shared helpers for the CLI tests. Source it after setting nothing; the
# test's first argument is the layerdisk binary.
#   ld ARGS...                 runs layerdisk against this test's store
#   expect_fail CODE ARGS...   runs layerdisk, requires exit CODE and exactly
#                              one stderr line "layerdisk: error: ..."
#   json FILE EXPR             prints EXPR evaluated by python over FILE's JSON
#                              (bound to `d`)
#   make_image FILE MIB        a raw image: seeded data with holes between
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

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

ld() { "$LAYERDISK" "$@"; }

expect_fail() {
  local want=$1
  shift
  local rc=0
  "$LAYERDISK" "$@" >"$WORK/out" 2>"$WORK/err" || rc=$?
  [[ $rc -eq $want ]] || fail "layerdisk $* exited $rc, want $want (stderr: $(cat "$WORK/err"))"
  [[ $(wc -l <"$WORK/err") -eq 1 ]] || fail "layerdisk $* printed more than one error line: $(cat "$WORK/err")"
  grep -q '^layerdisk: error: ' "$WORK/err" || fail "layerdisk $*: no 'layerdisk: error:' line: $(cat "$WORK/err")"
  LAST_ERROR=$(cat "$WORK/err")
}

# Requires that the last expect_fail's message contains $1.
expect_message() {
  [[ $LAST_ERROR == *"$1"* ]] || fail "error '$LAST_ERROR' does not mention '$1'"
}

json() {
  python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
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
