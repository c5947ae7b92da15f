#!/usr/bin/env bash
# Install (or upgrade) Gudang on the warehouse server: a Debian 12 mini PC.
#
#   sudo deploy/install.sh --site blitar [--broker-name 192.168.1.10] [--broker-name NAME]
#   sudo deploy/install.sh --add-station load-1      # an MQTT user for one station box
#
# Run from a checkout of the version to install. Idempotent: running it again (an
# upgrade) keeps the passwords, the certificates, /etc/gudang/gudang.toml and all data,
# and re-renders the broker's and InfluxDB's configuration from deploy/. docs/install.md
# walks through it; nothing here prints or logs a secret.
set -euo pipefail

SRC_IN=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=install-lib.sh
. "$SRC_IN/deploy/install-lib.sh"
PREFIX=/opt/gudang
ETC=/etc/gudang
MQ_ETC=/etc/mosquitto/gudang
SITE=""
STATION=""
BROKER_NAMES=()
NO_APT=0
# Debian's own Python: the services' users must be able to run the venv's interpreter
# (a python3 from a home directory, e.g. pyenv's, is not theirs to read).
PYTHON=${PYTHON:-/usr/bin/python3}
# Ports (defaults are the standard ones; override only where another program holds them).
MQTT_PORT=${MQTT_PORT:-1883}
MQTT_TLS_PORT=${MQTT_TLS_PORT:-8883}
INFLUX_PORT=${INFLUX_PORT:-8086}
INFLUX_RPC_PORT=${INFLUX_RPC_PORT:-8088}
API_PORT=${API_PORT:-8000}
API_TLS_PORT=${API_TLS_PORT:-8443}

while [ $# -gt 0 ]; do
  case $1 in
    --site) SITE=$2; shift 2 ;;
    --broker-name) BROKER_NAMES+=("$2"); shift 2 ;;
    --add-station) STATION=$2; shift 2 ;;
    --no-apt) NO_APT=1; shift ;;  # packages already installed (offline re-runs)
    -h|--help) usage ;;
    *) echo "install: unknown option $1" >&2; usage ;;
  esac
done

[ "$(id -u)" -eq 0 ] || die "run as root (sudo $0 ...)"
have_systemd() { [ -d /run/systemd/system ]; }

provision() { "$PREFIX/venv/bin/python" -m gudang_ops.provision "$@"; }

reload_broker() {
  if have_systemd; then
    systemctl reload mosquitto
  elif [ -f /run/gudang/mosquitto.pid ]; then  # started by `gudang start` (no systemd)
    kill -HUP "$(cat /run/gudang/mosquitto.pid)"
  fi
}

if [ -n "$STATION" ]; then
  [ -x "$PREFIX/venv/bin/python" ] || die "install the server first (--site NAME)"
  provision add-station "$STATION" --etc "$ETC" --password-file "$MQ_ETC/passwd"
  reload_broker  # Mosquitto re-reads its password file on SIGHUP
  say "copy $ETC/stations/$STATION.env and $ETC/ca.crt to the station box (docs/station-install.md)"
  exit 0
fi

[ -n "$SITE" ] || usage
if [ ${#BROKER_NAMES[@]} -eq 0 ]; then
  # The names stations may use for this machine: its host name and its addresses.
  read -r -a addresses <<<"$(hostname -I 2>/dev/null || true)"
  BROKER_NAMES=("$(hostname)" "${addresses[@]}")
fi

# 1. Debian packages -------------------------------------------------------------------------
if [ "$NO_APT" -eq 0 ]; then
  say "installing Debian packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Debian starts a daemon the moment its package is installed, on the package's own
  # configuration: InfluxDB on every interface with auth off, Mosquitto with its defaults,
  # until step 6 replaces them. A policy-rc.d answering 101 ("action forbidden") keeps
  # invoke-rc.d and deb-systemd-invoke from starting anything during the install; the
  # servers first start in step 7, on the configuration rendered in step 6.
  policy_rc=/usr/sbin/policy-rc.d
  made_policy_rc=0
  if [ -e "$policy_rc" ]; then
    say "keeping the existing $policy_rc (it decides whether packages start their daemons)"
  else
    printf '#!/bin/sh\n# deploy/install.sh: no daemon starts while its packages install\nexit 101\n' \
      >"$policy_rc"
    chmod 0755 "$policy_rc"
    made_policy_rc=1
    trap 'rm -f "$policy_rc"' EXIT  # also when apt-get fails
  fi
  # mosquitto-clients: mosquitto_sub and mosquitto_pub, for watching the floor (install.md).
  apt-get install -y -qq --no-install-recommends \
    mosquitto mosquitto-clients influxdb python3 python3-venv openssl curl >/dev/null
  if [ "$made_policy_rc" -eq 1 ]; then
    rm -f "$policy_rc"
    trap - EXIT
  fi
fi

# Installed (and running on Debian's defaults) before this installer first ran? Stopped
# until step 7 starts them on the configuration of step 6 (a first run keeps *.debian).
if have_systemd && [ ! -f /etc/influxdb/influxdb.conf.debian ]; then
  systemctl stop influxdb mosquitto 2>/dev/null || true
fi

# 2. System users: one per process, so one cannot read the other's secrets -------------------
getent group gudang >/dev/null || groupadd --system gudang
for user in gudang-services gudang-api; do
  id "$user" >/dev/null 2>&1 ||
    useradd --system --gid gudang --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin "$user"
done

# 3. The code: a copy of this checkout and a virtual environment -------------------------------
say "installing Gudang into $PREFIX"
install_code server
DEPLOY=$PREFIX/src/deploy

# 4. Secrets: generated once, 0600, each owned by the process that uses it ----------------------
mkdir -p "$ETC" "$MQ_ETC"
chmod 0755 "$ETC"
provision credentials --etc "$ETC" --password-file "$MQ_ETC/passwd" \
  --services-owner gudang-services --api-owner gudang-api
chown mosquitto:mosquitto "$MQ_ETC/passwd"  # mode 0600: the broker re-reads it on reload

# 5. TLS for the stations: the site's own CA (kept here, root only) and the broker's cert -------
if [ ! -f "$ETC/ca/server.crt" ]; then
  say "making the site CA and the broker certificate for: ${BROKER_NAMES[*]}"
  "$DEPLOY/mosquitto/make-certs.sh" "$ETC/ca" "${BROKER_NAMES[@]}"
fi
chmod 0700 "$ETC/ca"
install -m 0644 "$ETC/ca/ca.crt" "$ETC/ca.crt"  # what station boxes trust
install -d -m 0750 -o mosquitto -g mosquitto "$MQ_ETC/tls"
install -m 0644 -o mosquitto "$ETC/ca/ca.crt" "$ETC/ca/server.crt" "$MQ_ETC/tls/"
install -m 0600 -o mosquitto "$ETC/ca/server.key" "$MQ_ETC/tls/"
# The API's HTTPS (phones: the camera needs it) uses the same certificate: it names this
# server's LAN addresses. Its own copy of the key, readable by the API's user only.
install -d -m 0755 "$ETC/tls"
install -m 0644 "$ETC/ca/server.crt" "$ETC/tls/api.crt"
install -m 0600 -o gudang-api "$ETC/ca/server.key" "$ETC/tls/api.key"

# 6. Configuration, rendered from deploy/ (the files the tests run) ---------------------------
[ -f /etc/mosquitto/mosquitto.conf.debian ] ||
  cp /etc/mosquitto/mosquitto.conf /etc/mosquitto/mosquitto.conf.debian
install -m 0644 "$DEPLOY/mosquitto/acl" "$MQ_ETC/acl"
provision render "$DEPLOY/mosquitto/mosquitto.conf" /etc/mosquitto/mosquitto.conf \
  port="$MQTT_PORT" tls_port="$MQTT_TLS_PORT" tls_address= \
  password_file="$MQ_ETC/passwd" acl_file="$MQ_ETC/acl" \
  cafile="$MQ_ETC/tls/ca.crt" certfile="$MQ_ETC/tls/server.crt" keyfile="$MQ_ETC/tls/server.key" \
  persistence_dir=/var/lib/mosquitto log_file=/var/log/mosquitto/mosquitto.log
[ -f /etc/influxdb/influxdb.conf.debian ] ||
  cp /etc/influxdb/influxdb.conf /etc/influxdb/influxdb.conf.debian
provision render "$DEPLOY/influxdb/influxdb.conf" /etc/influxdb/influxdb.conf \
  data_dir=/var/lib/influxdb http_port="$INFLUX_PORT" rpc_port="$INFLUX_RPC_PORT"
if [ ! -f "$ETC/gudang.toml" ]; then  # the operator's edits survive upgrades
  provision render "$DEPLOY/gudang/gudang.toml" "$ETC/gudang.toml" site="$SITE" \
    mqtt_port="$MQTT_PORT" influx_port="$INFLUX_PORT" api_port="$API_PORT" \
    api_tls_port="$API_TLS_PORT"
elif ! grep -q '^tls_port' "$ETC/gudang.toml"; then
  # An install from before HTTPS: the same settings a fresh one gets, under [api].
  sed -i "/^\[api\]\$/a tls_port = $API_TLS_PORT\ntls_certfile = \"$ETC/tls/api.crt\"\ntls_keyfile = \"$ETC/tls/api.key\"" \
    "$ETC/gudang.toml"
fi
# The API's first admin token: the token in $ETC/api-admin.token (root only), its hash
# appended to gudang.toml. More tokens: gudang api new-token (docs/api.md).
provision api-token --etc "$ETC" --config "$ETC/gudang.toml"
chmod 0644 "$ETC/gudang.toml"
mkdir -p /var/lib/mosquitto /var/log/mosquitto /run/mosquitto /var/lib/influxdb
chown mosquitto:mosquitto /var/lib/mosquitto /var/log/mosquitto /run/mosquitto
chown -R influxdb:influxdb /var/lib/influxdb
# Where gudang-backup.service writes (deploy/backup.sh): it holds every secret of the site.
install -d -m 0700 /var/backups/gudang

# 7. Start the servers, set up InfluxDB, start Gudang ------------------------------------------
wait_influx() {
  for _ in $(seq 1 60); do
    curl -fs -o /dev/null "http://127.0.0.1:$INFLUX_PORT/ping" && return 0
    sleep 1
  done
  die "InfluxDB did not answer on 127.0.0.1:$INFLUX_PORT (journalctl -u influxdb)"
}
# The API's port is gudang.toml's (an upgrade keeps the first run's, whatever API_PORT says).
api_port() {
  "$PREFIX/venv/bin/python" -c \
    'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["api"]["port"])' \
    "$ETC/gudang.toml"
}
# "Up" is the API answering healthy: it reaches the broker and InfluxDB (as gudang stack waits).
wait_healthy() {
  local url
  url="http://127.0.0.1:$(api_port)/api/v1/health"
  for _ in $(seq 1 90); do
    curl -fs -o /dev/null "$url" && return 0
    sleep 1
  done
  die "the API did not answer healthy on $url within 90 s: see $1"
}

if have_systemd; then
  install -m 0644 "$DEPLOY/systemd/gudang-services.service" "$DEPLOY/systemd/gudang-api.service" \
    "$DEPLOY/systemd/gudang-backup.service" "$DEPLOY/systemd/gudang-backup.timer" \
    /etc/systemd/system/
  systemctl daemon-reload
  systemctl enable -q mosquitto influxdb
  systemctl restart mosquitto influxdb
  wait_influx
  provision influx --url "http://127.0.0.1:$INFLUX_PORT" --etc "$ETC" --schema "$DEPLOY/influxdb/setup.toml"
  systemctl enable -q gudang-services gudang-api
  systemctl enable -q --now gudang-backup.timer
  systemctl restart gudang-services gudang-api
  wait_healthy "journalctl -u gudang-api -u gudang-services"
  say "running: gudang status (systemctl status gudang-services gudang-api mosquitto influxdb)"
else
  # No systemd (a container, a chroot, a CI machine): `gudang start/stop/restart` runs the
  # same programs with the same files and users as the units, process ids in /run/gudang,
  # output in /var/log/gudang (gudang_ops/site.py). Not for production: nothing restarts a
  # process that dies, and nothing starts at boot.
  say "systemd is not running: starting the servers directly (no restart on failure, none at boot)"
  # An earlier run's processes (this installer kept their ids in /var/log/gudang before).
  for old in /var/log/gudang/api.pid /var/log/gudang/services.pid /var/log/gudang/influxd.pid \
    /run/mosquitto/gudang.pid; do
    if [ -f "$old" ] && kill -0 "$(cat "$old")" 2>/dev/null; then
      kill "$(cat "$old")"
      for _ in $(seq 1 60); do kill -0 "$(cat "$old")" 2>/dev/null || break; sleep 0.5; done
    fi
    rm -f "$old"
  done
  "$PREFIX/venv/bin/gudang" stop api services
  "$PREFIX/venv/bin/gudang" stop influxdb
  if curl -fsS -o /dev/null "http://127.0.0.1:$INFLUX_PORT/ping" 2>/dev/null; then
    die "another InfluxDB already answers on port $INFLUX_PORT: stop it, or set INFLUX_PORT"
  fi
  "$PREFIX/venv/bin/gudang" restart mosquitto influxdb
  provision influx --url "http://127.0.0.1:$INFLUX_PORT" --etc "$ETC" --schema "$DEPLOY/influxdb/setup.toml"
  "$PREFIX/venv/bin/gudang" start services api
  wait_healthy "/var/log/gudang/api.log and /var/log/gudang/services.log"
  say "running: gudang status (logs in /var/log/gudang; gudang restart|stop [PART])"
fi
say "done. Next: an MQTT user per station (sudo $0 --add-station NAME), docs/station-install.md"
