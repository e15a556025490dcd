# shellcheck shell=bash
# Assertions on the layerdisk command line, shared by the shell tests
# (sourced). Needs LAYERDISK (the binary) and WORK (a scratch directory).
#   fail MESSAGE               prints FAIL: MESSAGE and exits 1
#   expect_fail CODE ARGS...   runs layerdisk, requires exit CODE and exactly
#                              one stderr line "layerdisk: error: ..." (kept
#                              in LAST_ERROR)
#   expect_message TEXT        requires that LAST_ERROR contains TEXT
#   json FILE EXPR             prints EXPR evaluated by python over FILE's JSON
#                              (bound to `d`)
#   wait_for_serve PID OUT ERR waits until `layerdisk serve` (PID, its stdout
#                              in OUT, stderr in ERR) reports its control socket

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

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

expect_message() {
  [[ $LAST_ERROR == *"$1"* ]] || fail "error '$LAST_ERROR' does not mention '$1'"
}

json() {
  python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

wait_for_serve() {
  local pid=$1 out=$2 err=$3
  for _ in $(seq 200); do
    grep -q '^  control ' "$out" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || fail "serve exited: $(cat "$err")"
    sleep 0.05
  done
  fail "serve did not start: $(cat "$out" "$err")"
}
