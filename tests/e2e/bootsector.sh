# shellcheck shell=bash
# require_bootsector REPO: sets BOOTSECTOR to the test guest's boot sector
# (scripts/make-test-guest writes it first, before the kernel other tests
# fetch), making it if missing; exits 77 (skip) when it cannot be made.
require_bootsector() {
  local assets=${LAYERDISK_E2E_ASSETS:-$1/build/e2e-guest}
  if [[ ! -s $assets/bootsector.bin ]]; then
    timeout 120 "$1/scripts/make-test-guest" "$assets" >/dev/null 2>&1 || true
  fi
  [[ -s $assets/bootsector.bin ]] || { echo "SKIP: no boot sector ($assets)"; exit 77; }
  BOOTSECTOR=$assets/bootsector.bin
}
