"""deploy/install.sh run as docs/install.md says, on a clean root (no systemd, as here).

The root is a copy-on-write overlay of this machine (tests/deploy/clean_root.py) in its own
network namespace: the standard ports, nothing else listening. apt-get is the one stand-in
(there is no network): it records how the installer calls it and whether a package could
start its daemon at that moment. Everything after it is real: users, the venv, the rendered
configuration, Mosquitto, InfluxDB, the services and the API under their own users.
"""

from __future__ import annotations

import json
import pwd
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy.clean_root import REPO, CleanRoot, available, wheelhouse

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(available() is not None, reason=str(available())),
]

# Stands in for apt-get (no network in the root): what a package's maintainer script would
# be told if it tried to start its daemon right now (policy-rc.d: 101 = forbidden).
APT_GET = """#!/bin/sh
{
  echo "apt-get $*"
  if [ -x /usr/sbin/policy-rc.d ]; then
    /usr/sbin/policy-rc.d mosquitto start; echo "policy-rc.d mosquitto start: $?"
    /usr/sbin/policy-rc.d influxdb start; echo "policy-rc.d influxdb start: $?"
  else
    echo "policy-rc.d: none"
  fi
} >>/root/apt-get.log 2>&1
"""

# The guide's commands (docs/install.md sections 3-5, docs/station-install.md with the
# simulator, docs/operations.md "Without systemd"), then what the test reads back.
GUIDE = f"""
rm -f /usr/sbin/policy-rc.d          # a bare Debian has none (this machine's image does)
cd {REPO}
deploy/install.sh --site blitar --broker-name 192.168.1.10 > /root/install.out 2>&1 \\
  || {{ cat /root/install.out; exit 1; }}
# Right after the installer: the site must already answer healthy.
curl -s http://127.0.0.1:8000/api/v1/health > /root/health.json
ps -eo user:20,comm:20,args --no-headers > /root/ps.txt
. /etc/gudang/operator.env
mosquitto_sub -h 127.0.0.1 -u "$MQTT_USERNAME" -P "$MQTT_PASSWORD" -C 1 -W 20 \\
  -t 'gudang/blitar/state/#' > /root/sub.txt
cp /etc/mosquitto/mosquitto.conf /etc/influxdb/influxdb.conf /root/
gudang status > /root/status-up.txt
cat /run/gudang/api.pid > /root/api-pid-before
gudang restart api > /root/restart.out
cat /run/gudang/api.pid > /root/api-pid-after
curl -s http://127.0.0.1:8000/api/v1/health > /root/health-after-restart.json

# A station on this same box, its devices simulated (station-install.md).
deploy/install.sh --add-station load-1 > /root/add-station.out
cp /etc/gudang/stations/load-1.env /etc/gudang/ca.crt /root/
deploy/install-station.sh --site blitar --station load-1 \\
    --broker 127.0.0.1 --secrets /root/load-1.env --ca /root/ca.crt \\
    --scanner /run/gudang-sim/scanner --scale /run/gudang-sim/scale \\
    --scale-protocol mt-sics --mode loading > /root/install-station.out 2>&1 \\
  || {{ cat /root/install-station.out; exit 1; }}
rm /root/load-1.env
token=$(cat /etc/gudang/api-admin.token)
curl -sf -X POST -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \\
  -d '{{"container_no": "CSQU 305438 3", "container_type": "40HC"}}' \\
  http://127.0.0.1:8000/api/v1/containers > /root/open.json
install -d -o gudang-bridge -g gudang-bridge /run/gudang-sim
setpriv --reuid=gudang-bridge --regid=gudang-bridge --init-groups -- \\
  gudang simulate --links /run/gudang-sim --interval 0.5 --container 'CSQU 305438 3' \\
  > /root/simulate.log 2>&1 &
sim=$!
for _ in $(seq 1 240); do
  curl -s -H "Authorization: Bearer $token" \\
    http://127.0.0.1:8000/api/v1/containers/CSQU3054383 > /root/container.json || true
  grep -q '"drums": *[1-9]' /root/container.json && break
  sleep 0.5
done
gudang status > /root/status-station.txt

kill "$sim"  # the simulator (started above, not an installed part)
gudang stop > /root/stop.out
status=0; gudang status > /root/status-down.txt || status=$?
echo "$status" > /root/status-down.rc
ps -eo comm --no-headers > /root/ps-after-stop.txt
"""


@pytest.fixture(scope="module")
def installed(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[CleanRoot]:
    """A clean root after the guide's install, with the outputs the script saved."""
    wheels = wheelhouse(Path(request.config.cache.mkdir("gudang-wheels")))
    root = CleanRoot(tmp_path_factory.mktemp("clean-root"), wheels)
    root.put("/usr/local/sbin/apt-get", APT_GET, 0o755)
    try:
        done = root.run(GUIDE)
        assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
        yield root
    finally:
        root.remove()


def _users(root: CleanRoot) -> dict[int, str]:
    names = {p.pw_uid: p.pw_name for p in pwd.getpwall()}  # the lower root's users
    for line in root.path("/etc/passwd").read_text().splitlines():
        name, _, uid, *_ = line.split(":")
        names[int(uid)] = name
    return names


def test_packages_come_with_the_clients_and_without_starting_daemons(installed: CleanRoot) -> None:
    log = installed.path("/root/apt-get.log").read_text()
    # the server's install first (the station's comes later in the same root)
    install, *_ = [line for line in log.splitlines() if line.startswith("apt-get install")]
    assert {"mosquitto", "mosquitto-clients", "influxdb"} <= set(install.split())
    # While the packages install, their daemons may not start (on the defaults: InfluxDB
    # with auth off on every interface).
    assert "policy-rc.d mosquitto start: 101" in log
    assert "policy-rc.d influxdb start: 101" in log
    # ... and the block is lifted afterwards (a whiteout: the file is gone in the root).
    whiteout = installed.path("/usr/sbin/policy-rc.d")
    assert whiteout.is_char_device() or not whiteout.exists()


def test_the_site_is_healthy_when_the_installer_returns(installed: CleanRoot) -> None:
    health = json.loads(installed.path("/root/health.json").read_text())
    assert health["status"] == "ok"
    assert health["broker"] is True
    assert health["influxdb"] is True
    out = installed.path("/root/install.out").read_text()
    assert "install: done." in out


def test_each_server_process_runs_under_its_own_user(installed: CleanRoot) -> None:
    running: dict[str, str] = {}
    for line in installed.path("/root/ps.txt").read_text().splitlines():
        user, comm, args = line.split(None, 2)
        if comm == "mosquitto":
            running["mosquitto"] = user
        elif comm == "influxd":
            running["influxd"] = user
        elif "gudang" in args and args.rstrip().endswith((" services", " api")):
            running[args.rstrip().rsplit(" ", 1)[1]] = user
    assert running == {
        "mosquitto": "mosquitto",
        "influxd": "influxdb",
        "services": "gudang-services",
        "api": "gudang-api",
    }


def test_the_operator_watches_the_floor_with_mosquitto_sub(installed: CleanRoot) -> None:
    # The services publish retained state at start: the guide's mosquitto_sub sees it.
    assert installed.path("/root/sub.txt").read_text().strip()


def test_secrets_are_private_to_their_process(installed: CleanRoot) -> None:
    users = _users(installed)
    expected = {
        "/etc/gudang/services.env": "gudang-services",
        "/etc/gudang/api.env": "gudang-api",
        "/etc/gudang/operator.env": "root",
        "/etc/gudang/api-admin.token": "root",
        "/etc/mosquitto/gudang/passwd": "mosquitto",
        "/etc/mosquitto/gudang/tls/server.key": "mosquitto",
        "/etc/gudang/ca/ca.key": "root",
    }
    for inside, owner in expected.items():
        st = installed.path(inside).stat()
        assert stat.S_IMODE(st.st_mode) == 0o600, inside
        assert users[st.st_uid] == owner, inside
    assert stat.S_IMODE(installed.path("/etc/gudang/ca").stat().st_mode) == 0o700
    assert stat.S_IMODE(installed.path("/var/backups/gudang").stat().st_mode) == 0o700
    secrets = [
        line.split("=", 1)[1]
        for env in ("services.env", "api.env", "operator.env")
        for line in installed.path(f"/etc/gudang/{env}").read_text().splitlines()
        if "PASSWORD=" in line
    ]
    assert len(secrets) >= 5
    for text_file in ("/etc/gudang/gudang.toml", "/root/install.out"):
        text = installed.path(text_file).read_text()
        assert not [s for s in secrets if s in text], text_file


def test_gudang_status_restart_and_stop_without_systemd(installed: CleanRoot) -> None:
    up = installed.path("/root/status-up.txt").read_text()
    for part in ("mosquitto", "influxdb", "services", "api"):
        assert re.search(rf"^{part} +running \(pid \d+\)", up, re.MULTILINE), up
    assert "health 200" in up
    assert "logs: /var/log/gudang/services.log" in up
    before = installed.path("/root/api-pid-before").read_text()
    assert installed.path("/root/api-pid-after").read_text() != before
    assert "api stopped" in installed.path("/root/restart.out").read_text()
    assert (
        json.loads(installed.path("/root/health-after-restart.json").read_text())["status"] == "ok"
    )
    with_station = installed.path("/root/status-station.txt").read_text()
    assert re.search(r"^bridge +running", with_station, re.MULTILINE), with_station
    stopped = installed.path("/root/stop.out").read_text()
    for part in ("bridge", "api", "services", "influxdb", "mosquitto"):
        assert f"{part} stopped" in stopped
    assert "killed" not in stopped  # each stopped on SIGTERM within its unit's timeout
    assert installed.path("/root/status-down.rc").read_text().strip() == "3"
    left = set(installed.path("/root/ps-after-stop.txt").read_text().split())
    assert not left & {"mosquitto", "influxd", "gudang"}


def test_a_simulated_station_counts_drums_through_tls(installed: CleanRoot) -> None:
    container = json.loads(installed.path("/root/container.json").read_text())
    assert container["drums"] >= 1, container
    bridge_log = installed.path("/var/log/gudang/bridge.log").read_text()
    assert "connected to 127.0.0.1:8883" in bridge_log


def test_the_rendered_configuration_is_the_locked_down_one(installed: CleanRoot) -> None:
    mosquitto = installed.path("/root/mosquitto.conf").read_text()
    assert "allow_anonymous false" in mosquitto
    assert "listener 1883 127.0.0.1" in mosquitto
    influx = installed.path("/root/influxdb.conf").read_text()
    assert 'bind-address = "127.0.0.1:8086"' in influx
    assert "auth-enabled = true" in influx


# Lines of the guides that the script above runs as they are written there.
GUIDE_LINES = {
    "docs/install.md": [
        "deploy/install.sh --site blitar --broker-name 192.168.1.10",
        'mosquitto_sub -h 127.0.0.1 -u "$MQTT_USERNAME" -P "$MQTT_PASSWORD"',
        "curl -s http://127.0.0.1:8000/api/v1/health",
        "gudang status",
        "deploy/install.sh --add-station load-1",
    ],
    "docs/station-install.md": [
        "--scanner /run/gudang-sim/scanner --scale /run/gudang-sim/scale",
        "install -d -o gudang-bridge -g gudang-bridge /run/gudang-sim",
        "setpriv --reuid=gudang-bridge --regid=gudang-bridge --init-groups --",
        "gudang simulate --links /run/gudang-sim",
        "rm /root/load-1.env",
    ],
}


@pytest.mark.parametrize("doc", sorted(GUIDE_LINES))
def test_the_script_runs_the_guides_commands(doc: str) -> None:
    text = (REPO / doc).read_text()
    script = " ".join(GUIDE.replace("\\\n", " ").split())
    for line in GUIDE_LINES[doc]:
        assert line in text, (doc, line)
        assert line in script, line
