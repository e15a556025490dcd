#!/usr/bin/env bash
# Many requests in flight through one FUSE file of a fresh volume: fio
# writes random blocks of mixed sizes (libaio, QD16, O_DIRECT) with
# checksums and verifies them through the file, then verifies the same
# blocks again over NBD from the same server. (fio opens and closes the file
# between its phases: this caught a reopened volume getting a head that had
# not seen the writes its previous object was still flushing.)
. "$(dirname "$0")/functions.sh"
requires fio
fio --enghelp 2>/dev/null | grep -qw nbd || skip "this fio has no nbd engine"

cd "$WORK"  # fio leaves its verify state here on a failure
ld volume create v --size 64M >/dev/null || fail "volume create"
start_server
common=(--name=verify --rw=randwrite --bsrange=4k-256k --size=64M
        --randseed=1234 --verify=crc32c --verify_backlog=0 --do_verify=1)
fio "${common[@]}" --filename="$MNT/volumes/v.raw" --ioengine=libaio --iodepth=16 --direct=1 \
  --output="$WORK/fuse.out" >/dev/null 2>"$WORK/fuse.err" || { cat "$WORK/fuse.err" "$WORK/fuse.out"; fail "fio verify through FUSE"; }
fio "${common[@]}" --ioengine=nbd --uri="$(nbd_uri v)" --iodepth=16 --verify_only \
  --output="$WORK/nbd.out" >/dev/null 2>&1 || { cat "$WORK/nbd.out"; fail "fio verify over NBD of FUSE's writes"; }
stop_server
echo "PASS"
