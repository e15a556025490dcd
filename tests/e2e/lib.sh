# shellcheck shell=bash disable=SC2034  # sourced; variables are used by the sourcing scripts
# Shared helpers for tests/e2e/* (sourced, not run).
E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
E2E_REPO=$(cd "$E2E_DIR/../.." && pwd)
# Where scripts/make-test-guest put (or will put) the guest assets.
E2E_ASSETS=${LAYERDISK_E2E_ASSETS:-$E2E_REPO/build/e2e-guest}
E2E_QEMU=${QEMU_SYSTEM_X86_64:-qemu-system-x86_64}
export PATH=/usr/sbin:/sbin:/usr/bin:$PATH

# Contents of the layer images made by tests/e2e/make-layers.
E2E_BOOT_OS_MSG="layerdisk-e2e message from the OS layer"
E2E_BOOT_APP_MSG="layerdisk-e2e hello from the app layer"
E2E_OS_FILE=/check/os.txt
E2E_OS_CONTENT=os-layer-v1
E2E_APP_FILE=/check/app.txt
E2E_APP_CONTENT=app-layer-v1

e2e_name=$(basename "$0")
skip() { echo "$e2e_name: SKIP: $*" >&2; exit 77; }
die()  { echo "$e2e_name: FAIL: $*" >&2; exit 1; }
note() { echo "$e2e_name: $*" >&2; }

# Escape a value for a QEMU -drive option list (',' -> ',,').
qemu_opt_escape() { printf '%s' "${1//,/,,}"; }

# e2e_parse_endpoint ARGS... : consumes --socket/--export/--tcp from the
# front of the args; sets E2E_NBD_OPTS (the file.* part of -drive) and
# E2E_REST (remaining args, an array). Call: e2e_parse_endpoint "$@"
e2e_parse_endpoint() {
  local socket='' export='' export_set='' tcp=''
  E2E_REST=()
  while [[ $# -gt 0 ]]; do
    case $1 in
      --socket) socket=$2; shift 2 ;;
      --export) export=$2; export_set=1; shift 2 ;;
      --tcp)    tcp=$2; shift 2 ;;
      *)        E2E_REST+=("$1"); shift ;;
    esac
  done
  [[ -n $export_set ]] || die "missing --export NAME (the NBD export name)"
  if [[ -n $socket ]]; then
    [[ -S $socket ]] || die "no NBD server: $socket is not a socket"
    E2E_NBD_OPTS="file.driver=nbd,file.server.type=unix,file.server.path=$(qemu_opt_escape "$socket")"
    E2E_ENDPOINT="unix:$socket export '$export'"
  elif [[ -n $tcp ]]; then
    E2E_NBD_OPTS="file.driver=nbd,file.server.type=inet,file.server.host=$(qemu_opt_escape "${tcp%:*}"),file.server.port=${tcp##*:}"
    E2E_ENDPOINT="tcp:$tcp export '$export'"
  else
    die "missing --socket PATH (or --tcp HOST:PORT)"
  fi
  E2E_NBD_OPTS+=",file.export=$(qemu_opt_escape "$export")"
}

e2e_need_qemu() {
  command -v "$E2E_QEMU" >/dev/null 2>&1 || skip "$E2E_QEMU not installed (apt-get install qemu-system-x86)"
}

# Print a serial log for a failure report, CRs stripped, last 60 lines.
e2e_show_log() {
  echo "---- serial log ----" >&2
  tr -d '\r' < "$1" | tail -n 60 >&2
  if [[ -s ${2:-} ]]; then
    echo "---- qemu stderr ----" >&2
    tail -n 20 "$2" >&2
  fi
  echo "----" >&2
}

# Milliseconds since the epoch.
e2e_now_ms() { date +%s%3N; }
