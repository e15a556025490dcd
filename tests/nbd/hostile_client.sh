#!/bin/bash
# Malformed and hostile clients against `layerdisk serve`: after each one
# the server still serves, and the store passes fsck afterwards. Two
# servers (each owns its own store): one with a 1 s handshake timeout, one
# capped at 2 connections.
. "$(dirname "$0")/functions.sh"
requires python3
# The issue's default: a client gets 10 s to finish the handshake.
ld serve --help | grep -q -- '--handshake-timeout .*=10$' || fail "handshake timeout default"

use_store capped
make_volume disk 16M
# A bad cache size is refused up front; a good one is reported.
out=$(ld serve --chunk-cache lots 2>&1) && fail "--chunk-cache lots accepted"
echo "$out" | grep -q "lots" || fail "bad --chunk-cache not named: $out"
start_server --name capped --max-connections 2 --chunk-cache 64M
grep -q '^  cache  *64.0 MiB' "$WORK/capped.out" || fail "cache size not reported"
CAPPED_SOCK=$SOCK
CAPPED_PID=$SERVER_PID
use_store
make_volume disk 16M
ld snapshot create disk snap >/dev/null
truncate -s 1M "$WORK/base.img"
make_layer base "$WORK/base.img"
start_server --handshake-timeout 1

python3 "$(dirname "$0")/hostile_client.py" "$SOCK" "$CAPPED_SOCK" || fail "hostile client"
kill -0 "$SERVER_PID" || fail "server died"
kill -0 "$CAPPED_PID" || fail "capped server died"
# One log line per connection at least: every hostile client was logged.
[ "$(grep -c 'connect from' "$SERVER_LOG")" -ge 20 ] || fail "connections not logged"
stop_server
ld fsck >"$WORK/fsck.out" 2>&1 || { cat "$WORK/fsck.out"; fail "fsck after hostile clients"; }
echo PASS
