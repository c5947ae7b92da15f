#!/usr/bin/env bash
# Back up a Gudang server: InfluxDB (portable backup, online) and the site's secrets and
# certificates. Run daily by deploy/systemd/gudang-backup.timer; docs/operations.md.
#
#   deploy/backup.sh [DIR]        (default /var/backups/gudang)
#
# Environment: INFLUX_RPC (127.0.0.1:8088), KEEP_DAYS (14), ETC_DIRS (what to copy).
# The backup holds every password and the CA key: it is created 0700/0600; copy it off
# the machine (a USB disk in a drawer, another site) over something you trust.
set -euo pipefail
dest_root=${1:-/var/backups/gudang}
INFLUX_RPC=${INFLUX_RPC:-127.0.0.1:8088}
KEEP_DAYS=${KEEP_DAYS:-14}
ETC_DIRS=${ETC_DIRS:-/etc/gudang /etc/mosquitto/gudang}

umask 077
stamp=$(date -u +%Y%m%dT%H%M%SZ)
dest=$dest_root/$stamp
mkdir -p "$dest"
# Online and consistent per shard; needs no credentials (the RPC port is loopback only).
influxd backup -portable -host "$INFLUX_RPC" "$dest/influxdb" >"$dest/influxdb.log" 2>&1
read -r -a etc_dirs <<<"$ETC_DIRS"
tar -czf "$dest/etc.tar.gz" --absolute-names "${etc_dirs[@]}"
# Old backups go; the newest KEEP_DAYS days stay.
find "$dest_root" -mindepth 1 -maxdepth 1 -type d -name '20*Z' -mtime +"$KEEP_DAYS" \
  -exec rm -rf {} +
echo "backup: $dest ($(du -sh "$dest" | cut -f1))"
