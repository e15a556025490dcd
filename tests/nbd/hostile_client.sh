#!/bin/bash
# Malformed and hostile clients: after each one the server still serves.
. "$(dirname "$0")/functions.sh"
requires python3

truncate -s 16M "$WORK/disk.img"
start_server --name capped --max-connections 2 --export disk="$WORK/disk.img"
CAPPED_SOCK=$SOCK
start_server --handshake-timeout 1 --export disk="$WORK/disk.img"

python3 "$(dirname "$0")/hostile_client.py" "$SOCK" "$CAPPED_SOCK" || fail "hostile client"
kill -0 "$SERVER_PID" || fail "server died"
echo PASS
