#!/bin/bash
# TLS on `layerdisk serve` with libnbd clients: X.509 with and without
# client certificates, PSK, require mode, and one clear error for each
# inconsistent flag combination.
. "$(dirname "$0")/functions.sh"
requires nbdinfo openssl

make_volume disk 8M
C=$WORK/certs
mkdir -p "$C/client" "$C/noclient"
(
  cd "$C"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=test-ca \
      -keyout ca-key.pem -out ca-cert.pem
  openssl req -newkey rsa:2048 -nodes -subj /CN=localhost \
      -keyout server-key.pem -out server.csr
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >server.ext
  openssl x509 -req -in server.csr -CA ca-cert.pem -CAkey ca-key.pem \
      -CAcreateserial -days 2 -extfile server.ext -out server-cert.pem
  openssl req -newkey rsa:2048 -nodes -subj /CN=client \
      -keyout client/client-key.pem -out client.csr
  openssl x509 -req -in client.csr -CA ca-cert.pem -CAkey ca-key.pem \
      -CAcreateserial -days 2 -out client/client-cert.pem
  cp ca-cert.pem client/
  cp ca-cert.pem noclient/
  printf 'alice:%s\n' "$(openssl rand -hex 32)" >keys.psk
) >/dev/null 2>&1 || fail "making certificates"

tls_uri() { echo "nbds+unix://${2:+$2@}/disk?socket=$SOCK&$1"; }

# Inconsistent flags: exit 2 and one error line naming the problem.
bad_flags() {
  local want=$1 rc=0
  shift
  ld serve --nbd "unix:$WORK/never.sock" "$@" >/dev/null 2>"$WORK/err" || rc=$?
  [ "$rc" = 2 ] || fail "serve $* exited $rc, want 2: $(cat "$WORK/err")"
  [ "$(wc -l <"$WORK/err")" = 1 ] || fail "serve $*: not one error line: $(cat "$WORK/err")"
  grep -q -- "^layerdisk: error: .*$want" "$WORK/err" || fail "serve $*: $(cat "$WORK/err")"
}
bad_flags "need --tls on or --tls require" --tls-cert "$C/server-cert.pem" \
    --tls-key "$C/server-key.pem"
bad_flags "needs --tls-cert and --tls-key, or --tls-psk" --tls require
bad_flags "must be given together" --tls on --tls-cert "$C/server-cert.pem"
bad_flags "needs --tls-cert and --tls-key" --tls on --tls-psk "$C/keys.psk" \
    --tls-ca "$C/ca-cert.pem"
bad_flags "not in {off,on,require}" --tls yes
bad_flags "File does not exist" --tls on --tls-psk "$C/nosuch.psk"
bad_flags "positive number of seconds" --handshake-timeout 0
[ ! -e "$WORK/never.sock" ] || fail "a refused serve listened"

# X.509, TLS optional.
start_server --tls on --tls-cert "$C/server-cert.pem" --tls-key "$C/server-key.pem"
nbdinfo "$(tls_uri "tls-certificates=$C/noclient")" | grep -q 'with TLS' ||
  fail "x509 TLS"
nbdinfo --size "$(uri disk)" >/dev/null || fail "plaintext refused when TLS is optional"

# Data goes through intact.
if command -v nbdcopy >/dev/null; then
  head -c 8M /dev/urandom >"$WORK/src.img"
  nbdcopy "$WORK/src.img" "$(tls_uri "tls-certificates=$C/noclient")" || fail "copy in over TLS"
  nbdcopy "$(tls_uri "tls-certificates=$C/noclient")" "$WORK/out.img" || fail "copy out over TLS"
  cmp "$WORK/src.img" "$WORK/out.img" || fail "TLS round trip differs"
fi

# Client certificates required, TLS required.
stop_server
start_server --tls require --tls-cert "$C/server-cert.pem" --tls-key "$C/server-key.pem" --tls-ca "$C/ca-cert.pem"
nbdinfo --size "$(tls_uri "tls-certificates=$C/client")" >/dev/null ||
  fail "client certificate refused"
[ "$(nbdinfo --size "nbds://localhost:$TCP_PORT/disk?tls-certificates=$C/client")" = 8388608 ] ||
  fail "TLS over TCP"
nbdinfo --list "$(tls_uri "tls-certificates=$C/client")" | grep -q '^export="disk":' ||
  fail "list over TLS"
if nbdinfo --size "$(tls_uri "tls-certificates=$C/noclient")" >/dev/null 2>&1; then
  fail "client without certificate accepted"
fi
if nbdinfo --size "$(uri disk)" >/dev/null 2>&1; then
  fail "plaintext accepted in require mode"
fi

# PSK.
stop_server
start_server --tls require --tls-psk "$C/keys.psk"
nbdinfo --size "$(tls_uri "tls-psk-file=$C/keys.psk" alice)" >/dev/null ||
  fail "PSK"
printf 'alice:%s\n' "$(openssl rand -hex 32)" >"$C/wrong.psk"
if nbdinfo --size "$(tls_uri "tls-psk-file=$C/wrong.psk" alice)" >/dev/null 2>&1; then
  fail "wrong PSK accepted"
fi
echo PASS
