#!/usr/bin/env bash
# A hypervisor that only opens files: QEMU (TCG, BIOS) boots the boot sector
# of scripts/make-test-guest from MOUNT/volumes/NAME.raw, once with the page
# cache bypassed (cache=none, O_DIRECT) and once through it, and from the
# read-only snapshot and layer files (snapshot=on: IDE disks cannot be
# read-only, so QEMU writes to a temporary overlay). The boot sector prints
# the message it reads from the disk at 1 MiB, which here comes from a
# second layer.
. "$(dirname "$0")/functions.sh"
REPO=$(cd "$(dirname "$0")/../.." && pwd)
QEMU=${QEMU_SYSTEM_X86_64:-qemu-system-x86_64}
requires "$QEMU" python3

assets=${LAYERDISK_E2E_ASSETS:-$REPO/build/e2e-guest}
if [ ! -s "$assets/bootsector.bin" ]; then
  # Writes the boot sector first, then fetches a kernel the e2e tests use.
  timeout 600 "$REPO/scripts/make-test-guest" "$assets" >/dev/null 2>&1 || true
fi
[ -s "$assets/bootsector.bin" ] || skip "no boot sector: scripts/make-test-guest $assets failed"

msg_os="booted from a layerdisk FUSE file"
msg_app="the app layer's message through FUSE"
"$REPO/tests/e2e/make-boot-image" "$WORK/os.img" "$msg_os" --size 4M --bootsector "$assets/bootsector.bin"
cp "$WORK/os.img" "$WORK/app.img"
"$REPO/tests/e2e/make-boot-image" "$WORK/app.img" "$msg_app" --no-bootsector
ld layer import os "$WORK/os.img" >/dev/null || fail "import os"
ld layer import app "$WORK/app.img" >/dev/null || fail "import app"
ld volume create desk --layers os,app --size 64M >/dev/null || fail "volume create"
ld snapshot create desk gold >/dev/null || fail "snapshot create"
start_server

boot() {  # boot FILE EXPECTED-MESSAGE DRIVE-OPTIONS
  local file=$1 want=$2 opts=$3 log=$WORK/serial.log rc=0
  : >"$log"
  timeout -k 5 120 "$QEMU" -accel tcg -nodefaults -no-user-config -display none -m 32 \
    -no-reboot -serial "file:$log" -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
    -drive "file=$file,format=raw,if=ide,$opts" </dev/null >"$WORK/qemu.out" 2>&1 || rc=$?
  local clean
  clean=$(tr -d '\r' <"$log")
  if [ "$rc" -ne 1 ] || ! grep -qx 'LAYERDISK-BOOT-OK' <<<"$clean" ||
     [ "$(sed -n 's/^LAYERDISK-BOOT-MSG //p' <<<"$clean" | head -n 1)" != "$want" ]; then
    echo "--- serial"; echo "$clean"; echo "--- qemu"; cat "$WORK/qemu.out"
    fail "boot from $file ($opts): QEMU exit $rc"
  fi
  echo "booted $file ($opts): $want"
}
boot "$MNT/volumes/desk.raw" "$msg_app" cache=none
boot "$MNT/volumes/desk.raw" "$msg_app" cache=writeback
boot "$MNT/snapshots/desk/gold.raw" "$msg_app" snapshot=on
boot "$MNT/layers/os.raw" "$msg_os" snapshot=on

stop_server
echo "PASS"
