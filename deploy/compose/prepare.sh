#!/usr/bin/env bash
# Render the configuration and secrets that docker-compose.yml mounts, into ./run/:
#
#   deploy/compose/prepare.sh SITE BROKER_NAME [BROKER_NAME...]  [--out DIR]
#
# Same templates and the same provisioning code as deploy/install.sh, with the paths the
# containers see. Runs on the host, with Gudang importable (./scripts/bootstrap, then
# .venv/bin/python, or any Python with `pip install .`). Keeps existing secrets and certs.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
deploy=$(dirname "$here")
out=$here/run
args=()
while [ $# -gt 0 ]; do
  case $1 in
    --out) out=$2; shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
[ ${#args[@]} -ge 2 ] || { echo "usage: $0 SITE BROKER_NAME [BROKER_NAME...] [--out DIR]" >&2; exit 2; }
site=${args[0]}
PY=${PYTHON:-$deploy/../.venv/bin/python}
[ -x "$PY" ] || PY=python3
provision() { "$PY" -m gudang_ops.provision "$@"; }

mkdir -p "$out/etc"
provision credentials --etc "$out/etc" --password-file "$out/passwd"
[ -f "$out/ca/server.crt" ] || "$deploy/mosquitto/make-certs.sh" "$out/ca" "${args[@]:1}"
mkdir -p "$out/tls"
cp "$out/ca/ca.crt" "$out/ca/server.crt" "$out/ca/server.key" "$out/tls/"
# The API's HTTPS: the same certificate (it names the server's LAN addresses), its own key.
mkdir -p "$out/api-tls"
cp "$out/ca/server.crt" "$out/api-tls/api.crt"
(umask 077 && cp "$out/ca/server.key" "$out/api-tls/api.key")
provision render "$deploy/mosquitto/mosquitto.conf" "$out/mosquitto.conf" \
  port=1883 tls_port=8883 tls_address= \
  password_file=/mosquitto/config/passwd acl_file=/mosquitto/config/acl \
  cafile=/mosquitto/config/tls/ca.crt certfile=/mosquitto/config/tls/server.crt \
  keyfile=/mosquitto/config/tls/server.key \
  persistence_dir=/mosquitto/data log_file=/mosquitto/log/mosquitto.log
provision render "$deploy/influxdb/influxdb.conf" "$out/influxdb.conf" \
  data_dir=/var/lib/influxdb http_port=8086 rpc_port=8088
if [ ! -f "$out/gudang.toml" ]; then
  provision render "$deploy/gudang/gudang.toml" "$out/gudang.toml" site="$site" \
    mqtt_port=1883 influx_port=8086 api_port=8000 api_tls_port=8443
fi
provision api-token --etc "$out/etc" --config "$out/gudang.toml"
# The eclipse-mosquitto image runs as uid 1883; the files stay 0600.
if [ "$(id -u)" -eq 0 ]; then
  chown 1883:1883 "$out/passwd" "$out/tls/server.key"
  chown 10001 "$out/api-tls/api.key"  # the gudang user of deploy/compose/Dockerfile
fi
echo "prepare: rendered into $out; docker compose -f $here/docker-compose.yml up -d --build"
