#!/usr/bin/env bash
# Install (or upgrade) the bridge on a station box: a small Debian PC with the scanner and
# the scale on its serial/USB ports.
#
#   sudo deploy/install-station.sh --site blitar --station load-1 --broker 192.168.1.10 \
#        [--broker-port 8883] --secrets load-1.env --ca ca.crt \
#        --scanner /dev/serial/by-id/usb-...-if00 \
#        [--scanner-protocol hid --scanner-layout us]  # a USB keyboard: /dev/input/by-id/...
#        [--scale /dev/serial/by-id/usb-...-port0 --scale-protocol mt-sics] [--mode loading]
#
# load-1.env and ca.crt come from the server (install.sh --add-station load-1).
# docs/station-install.md walks through it; nothing here prints a secret.
set -euo pipefail

SRC_IN=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=install-lib.sh
. "$SRC_IN/deploy/install-lib.sh"
PREFIX=/opt/gudang
ETC=/etc/gudang
BROKER_PORT=8883
SITE="" STATION="" BROKER="" SECRETS="" CA="" SCANNER="" SCALE="" PROTOCOL=mt-sics MODE=loading
SCANNER_PROTOCOL=scanner SCANNER_LAYOUT=us
NO_APT=0
PYTHON=${PYTHON:-/usr/bin/python3}  # Debian's: the bridge's user must be able to run it

while [ $# -gt 0 ]; do
  case $1 in
    --site) SITE=$2; shift 2 ;;
    --station) STATION=$2; shift 2 ;;
    --broker) BROKER=$2; shift 2 ;;
    --broker-port) BROKER_PORT=$2; shift 2 ;;
    --secrets) SECRETS=$2; shift 2 ;;
    --ca) CA=$2; shift 2 ;;
    --scanner) SCANNER=$2; shift 2 ;;
    --scanner-protocol) SCANNER_PROTOCOL=$2; shift 2 ;;
    --scanner-layout) SCANNER_LAYOUT=$2; shift 2 ;;
    --scale) SCALE=$2; shift 2 ;;
    --scale-protocol) PROTOCOL=$2; shift 2 ;;
    --mode) MODE=$2; shift 2 ;;
    --no-apt) NO_APT=1; shift ;;
    -h|--help) usage ;;
    *) echo "install-station: unknown option $1" >&2; usage ;;
  esac
done
[ "$(id -u)" -eq 0 ] || die "run as root"
for v in SITE STATION BROKER SECRETS CA SCANNER; do
  [ -n "${!v}" ] || { echo "install-station: --${v,,} is required" >&2; usage; }
done
[ -f "$SECRETS" ] || die "$SECRETS not found (make it on the server: install.sh --add-station $STATION)"
grep -q "^GUDANG_MQTT__USERNAME=$STATION\$" "$SECRETS" || die "$SECRETS is not station $STATION's"

if [ "$NO_APT" -eq 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # A C compiler and the headers: pip builds what has no wheel for this box: python-evdev
  # (USB keyboard scanners) always, msgspec on 32-bit ARM (docs/station-install.md).
  apt-get install -y -qq --no-install-recommends python3 python3-venv \
    gcc libc6-dev linux-libc-dev python3-dev >/dev/null
fi

getent group gudang-bridge >/dev/null || groupadd --system gudang-bridge
# dialout owns the serial ports, input the keyboards (USB HID scanners, /dev/input/event*).
for group in dialout input; do getent group "$group" >/dev/null || groupadd --system "$group"; done
id gudang-bridge >/dev/null 2>&1 ||
  useradd --system --gid gudang-bridge --groups dialout,input --home-dir /nonexistent \
    --no-create-home --shell /usr/sbin/nologin gudang-bridge
usermod -a -G dialout,input gudang-bridge  # a box installed before HID scanners

say "installing the bridge into $PREFIX (gudang[bridge]: nothing of the server)"
install_code bridge

mkdir -p "$ETC"
install -m 0644 "$CA" "$ETC/ca.crt"
# The station's password: 0600, owned by the bridge's user (systemd reads it as root).
install -m 0600 -o gudang-bridge -g gudang-bridge "$SECRETS" "$ETC/station.env"

devices=$(printf '\n[[station.devices]]\nname = "scanner"\nrole = "scanner"\nport = "%s"\nprotocol = "%s"\n' \
  "$SCANNER" "$SCANNER_PROTOCOL")
if [ "$SCANNER_PROTOCOL" = hid ]; then
  devices+=$(printf '\nlayout = "%s"\n' "$SCANNER_LAYOUT")
fi
if [ -n "$SCALE" ]; then
  devices+=$(printf '\n\n[[station.devices]]\nname = "scale"\nrole = "scale"\nport = "%s"\nprotocol = "%s"\n' \
    "$SCALE" "$PROTOCOL")
fi
"$PREFIX/venv/bin/python" -m gudang_ops.provision render "$PREFIX/src/deploy/gudang/station.toml" \
  "$ETC/station.toml" site="$SITE" station="$STATION" broker_host="$BROKER" broker_port="$BROKER_PORT" mode="$MODE" \
  devices="$devices"
chmod 0644 "$ETC/station.toml"
install -d -m 0700 -o gudang-bridge -g gudang-bridge /var/lib/gudang-bridge

if [ -d /run/systemd/system ]; then
  install -m 0644 "$PREFIX/src/deploy/systemd/gudang-bridge.service" /etc/systemd/system/
  systemctl daemon-reload
  systemctl enable -q gudang-bridge
  systemctl restart gudang-bridge
  say "running: systemctl status gudang-bridge; journalctl -u gudang-bridge -f"
else
  # The same program, files and user as the unit (gudang_ops/site.py); nothing restarts
  # it if it dies, nothing starts it at boot.
  say "systemd is not running: starting the bridge directly (no restart on failure, none at boot)"
  "$PREFIX/venv/bin/gudang" restart bridge
  say "running: gudang status bridge (output in /var/log/gudang/bridge.log)"
fi
