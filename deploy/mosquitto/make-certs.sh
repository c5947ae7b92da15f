#!/usr/bin/env bash
# Make the site's own certificate authority and the broker's TLS certificate.
#
#   deploy/mosquitto/make-certs.sh DIR NAME [NAME...]
#
# DIR receives ca.crt (give it to every station), ca.key (keep it offline or root-only),
# server.crt and server.key (the broker's). Each NAME is a DNS name or an IP address the
# stations use to reach the broker, e.g. `gudang.local 192.168.1.10`; localhost and
# 127.0.0.1 are always added. An existing CA is kept, so running it again renews only the
# server certificate. The test suite runs this same script in a temporary folder.
set -euo pipefail

if [ $# -lt 2 ]; then
  echo "usage: $0 DIR NAME [NAME...]   (NAME: the broker's DNS names and IP addresses)" >&2
  exit 2
fi
dir=$1
shift
# Lifetimes: the CA outlives several server certificates; renew the server one yearly-ish.
CA_DAYS=${CA_DAYS:-3650}
SERVER_DAYS=${SERVER_DAYS:-825}

mkdir -p "$dir"
umask 077  # keys are created readable by their owner only

san="DNS:localhost,IP:127.0.0.1"
for name in "$@"; do
  if [[ $name =~ ^[0-9.]+$ || $name == *:* ]]; then
    san="$san,IP:$name"
  else
    san="$san,DNS:$name"
  fi
done
cn=$1

if [ ! -f "$dir/ca.key" ]; then
  # EC P-256: small, fast handshakes on ESP32-class stations, supported by every client here.
  openssl ecparam -name prime256v1 -genkey -noout -out "$dir/ca.key"
  openssl req -x509 -new -key "$dir/ca.key" -sha256 -days "$CA_DAYS" \
    -subj "/O=Gudang/CN=Gudang site CA" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -addext "subjectKeyIdentifier=hash" \
    -out "$dir/ca.crt"
fi

openssl ecparam -name prime256v1 -genkey -noout -out "$dir/server.key"
openssl req -new -key "$dir/server.key" -subj "/O=Gudang/CN=$cn" -out "$dir/server.csr"
ext=$(mktemp)
trap 'rm -f "$ext" "$dir/server.csr"' EXIT
cat >"$ext" <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=$san
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
EXT
openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
  -CAcreateserial -days "$SERVER_DAYS" -sha256 -extfile "$ext" -out "$dir/server.crt" 2>/dev/null
chmod 644 "$dir/ca.crt" "$dir/server.crt"
echo "make-certs: $dir/server.crt for $san, signed by $dir/ca.crt"
