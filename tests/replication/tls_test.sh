#!/usr/bin/env bash
# Replication over mutual TLS: a peer with a certificate from the right CA
# pulls; one from another CA, or without a certificate, is refused at the
# handshake; the access list (--grpc-allow) lets a peer read only its layers
# (others look absent); plaintext and --grpc-allow without TLS are refused.
source "$(dirname "$0")/lib.sh"
if ! command -v openssl >/dev/null; then
  echo "SKIP: openssl is needed to make test certificates"
  exit 77
fi

cert() {  # NAME CN CA-PREFIX [SAN]
  openssl req -new -newkey rsa:2048 -nodes -keyout "$1.key" -subj "/CN=$2" \
    -out "$1.csr" 2>/dev/null
  local ext=()
  if [[ -n ${4:-} ]]; then
    printf 'subjectAltName=%s\n' "$4" >"$1.ext"
    ext=(-extfile "$1.ext")
  fi
  openssl x509 -req -in "$1.csr" -CA "$3.crt" -CAkey "$3.key" -CAcreateserial -days 2 \
    -out "$1.crt" "${ext[@]}" 2>/dev/null
}
for ca in ca rogue; do
  openssl req -x509 -newkey rsa:2048 -nodes -keyout $ca.key -out $ca.crt -days 2 \
    -subj "/CN=$ca test CA" 2>/dev/null
done
cert server upstream ca "IP:127.0.0.1"
cert branch1 branch-1 ca
cert branch2 branch-2 ca
cert intruder branch-1 rogue
cat >allow <<'ALLOW'
# branch-1 reads the OS layers only
branch-1  os-*
ALLOW

make_image img.raw 4 11
ld up layer import os-v1 img.raw >/dev/null
ld up layer import secret img.raw >/dev/null

expect_fail 2 --store x serve --grpc 127.0.0.1:0 --grpc-insecure --grpc-allow allow
expect_message "needs TLS"

"$LAYERDISK" --store up serve --nbd "unix:$WORK/up.nbd" --grpc 127.0.0.1:0 \
  --grpc-tls-cert server.crt --grpc-tls-key server.key --grpc-tls-ca ca.crt \
  --grpc-allow allow >up.out 2>up.err &
PIDS+=($!)
for _ in $(seq 100); do grep -q '^  grpc ' up.out 2>/dev/null && break; sleep 0.1; done
port=$(sed -n 's/^  grpc .*:\([0-9]*\)$/\1/p' up.out)
[[ -n $port ]] || fail "serve printed no grpc port: $(cat up.err)"

pull() {  # STORE CERT LAYER
  "$LAYERDISK" --store "$1" replicate pull "$3" --from "127.0.0.1:$port" \
    --tls-cert "$2.crt" --tls-key "$2.key" --tls-ca ca.crt --json
}
pull b1 branch1 os-v1 >ok.json
[[ $(json ok.json 'd["layers_created"]') == "['os-v1']" ]] || fail "mTLS pull: $(cat ok.json)"
same_layer os-v1 up b1

# branch-1 may not read "secret": it looks absent.
expect_fail 3 --store b1 replicate pull secret --from "127.0.0.1:$port" \
  --tls-cert branch1.crt --tls-key branch1.key --tls-ca ca.crt
expect_message "does not exist"
# branch-2 is authenticated but listed for nothing.
expect_fail 3 --store b2 replicate pull os-v1 --from "127.0.0.1:$port" \
  --tls-cert branch2.crt --tls-key branch2.key --tls-ca ca.crt
# A certificate from another CA, and plaintext, do not get through.
expect_fail 7 --store b3 replicate pull os-v1 --from "127.0.0.1:$port" \
  --tls-cert intruder.crt --tls-key intruder.key --tls-ca ca.crt
expect_fail 7 --store b3 replicate pull os-v1 --from "127.0.0.1:$port" --insecure
echo "plaintext: $LAST_ERROR"
for s in b2 b3; do
  ld $s layer list --json >l.json
  [[ $(json l.json 'len(d["layers"])') -eq 0 ]] || fail "store $s got a layer"
done
fsck_clean b1
echo PASS
