"""The README's first command, run as a newcomer runs it.

``./scripts/stack`` brings up Mosquitto, InfluxDB, the services, the API and a simulated
station; a drum counts in the demo container; Ctrl-C stops everything it started; run
again, the count comes back from InfluxDB. ``gudang stack --secure`` runs the same stack
on the production configuration in ``deploy/`` (so a change there is exercised here): an
anonymous MQTT client is refused, and drums still count through each component's own user.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import ssl
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from gudang_ops.servers import free_port
from gudang_ops.stack import DEMO_CONTAINER, DEMO_SUPERVISOR_TOKEN
from tests.harness import OutputLines, wait_for

ROOT = Path(__file__).resolve().parent.parent
HEADERS = {"Authorization": f"Bearer {DEMO_SUPERVISOR_TOKEN}"}
# The README's first command, and the installed command's own.
SCRIPTS_STACK = str(ROOT / "scripts" / "stack")
GUDANG_STACK = (str(ROOT / ".venv" / "bin" / "gudang"), "stack")


class Stack(OutputLines):
    """A ``scripts/stack`` or ``gudang stack`` process and what it printed."""

    def __init__(self, argv: list[str], env: dict[str, str], api_port: int) -> None:
        self.api = f"http://127.0.0.1:{api_port}"
        super().__init__(
            subprocess.Popen(
                argv,
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
            )
        )

    def ports(self) -> tuple[int, int]:
        """MQTT and InfluxDB ports from the banner."""
        found = re.search(
            r"MQTT:\s+127\.0\.0\.1:(\d+)\s+InfluxDB: http://127\.0\.0\.1:(\d+)", self.output
        )
        assert found, self.output
        return int(found.group(1)), int(found.group(2))

    def drums(self) -> int:
        try:
            r = httpx.get(f"{self.api}/api/v1/containers/{DEMO_CONTAINER}", headers=HEADERS)
        except httpx.HTTPError:
            return -1
        return int(r.json()["drums"]) if r.status_code == 200 else -1

    def wait_up(self) -> None:
        wait_for(
            lambda: "Gudang is up." in self.output or self.process.poll() is not None,
            timeout=120,
            what="the stack's banner",
        )
        assert self.process.poll() is None, self.output

    def ctrl_c(self) -> int:
        """Ctrl-C, as at a terminal (the whole foreground process group)."""
        os.killpg(self.process.pid, signal.SIGINT)
        try:
            return self.process.wait(timeout=60)
        finally:
            self.close_output()

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self.close_output()


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


class Stacks:
    """The stacks one test starts, on one data folder and one set of free ports; killed after."""

    def __init__(self, data: Path) -> None:
        self.data = data
        self.api_port = free_port()
        self.env = {
            **os.environ,
            "GUDANG_MQTT__PORT": str(free_port()),
            "GUDANG_API__PORT": str(self.api_port),
            "PYTHONUNBUFFERED": "1",
        }
        self.env.pop("GUDANG_CONFIG", None)
        self.started: list[Stack] = []

    def start(self, *argv: str) -> Stack:
        """Run ``argv`` on the data folder and wait for its banner."""
        stack = Stack([*argv, "--data-dir", str(self.data)], self.env, self.api_port)
        self.started.append(stack)
        stack.wait_up()
        return stack

    def kill(self) -> None:
        """Kill every stack still running (a test that failed midway leaves some)."""
        for stack in self.started:
            stack.kill()


@pytest.fixture
def stacks(tmp_path: Path) -> Iterator[Stacks]:
    started = Stacks(tmp_path / "stack")
    yield started
    started.kill()


def test_scripts_stack_runs_counts_stops_and_comes_back(stacks: Stacks) -> None:
    stack = stacks.start(SCRIPTS_STACK, "--interval", "0.3")
    assert f"{stack.api}/dashboard/" in stack.output
    seen = wait_for(lambda: stack.drums() >= 3, timeout=60, what="drums counted in the demo")
    assert seen
    before = stack.drums()
    page = httpx.get(f"{stack.api}/dashboard/")
    assert page.status_code == 200
    assert "<html" in page.text.lower()
    mqtt_port, influx_port = stack.ports()

    assert stack.ctrl_c() == 0, stack.output
    assert not _listening(stacks.api_port)
    assert not _listening(mqtt_port), "Ctrl-C left Mosquitto running"
    assert not _listening(influx_port), "Ctrl-C left InfluxDB running"

    # Again, without the station: the state is rebuilt from what InfluxDB kept.
    again = stacks.start(SCRIPTS_STACK, "--no-sim")
    assert "simulated station" not in again.output
    back = wait_for(lambda: again.drums() >= before, timeout=60, what="the rebuilt drum count")
    assert back
    assert again.ctrl_c() == 0, again.output


def test_secure_stack_runs_on_the_deploy_configuration(stacks: Stacks) -> None:
    stack = stacks.start(*GUDANG_STACK, "--secure", "--interval", "0.3")
    wait_for(lambda: stack.drums() >= 2, timeout=60, what="drums counted through the secure stack")
    mqtt_port, influx_port = stack.ports()

    # deploy/mosquitto: no anonymous access.
    anonymous = subprocess.run(
        ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(mqtt_port), "-t", "#", "-C", "1", "-W", "5"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert anonymous.returncode != 0
    assert "not authori" in (anonymous.stderr + anonymous.stdout).lower()
    # deploy/influxdb: auth enabled, a query without credentials is refused.
    r = httpx.get(f"http://127.0.0.1:{influx_port}/query", params={"q": "SHOW DATABASES"})
    assert r.status_code == 401
    assert stack.ctrl_c() == 0, stack.output


def test_stack_with_a_keyboard_scanner_and_an_xk3190(stacks: Stacks) -> None:
    stack = stacks.start(*GUDANG_STACK, "--interval", "1", "--scale", "xk3190-tf0", "--hid", "fr")
    wait_for(lambda: stack.drums() >= 2, timeout=60, what="drums typed on AZERTY, weighed on tF0")
    r = httpx.get(f"{stack.api}/api/v1/stations", headers=HEADERS)
    [station] = r.json()
    assert {d["name"]: d["state"] for d in station["devices"]} == {
        "scanner": "connected",
        "scale": "connected",
    }

    def weighed() -> bool:
        loaded = httpx.get(
            f"{stack.api}/api/v1/scans", params={"result": "loaded"}, headers=HEADERS
        )
        return any(s["weight_kg"] is not None for s in loaded.json())

    wait_for(weighed, timeout=60, what="a drum loaded with the XK3190's stable weight")
    assert stack.ctrl_c() == 0, stack.output


def test_stack_with_tls_serves_https_and_takes_a_phone_scan(stacks: Stacks) -> None:
    stack = stacks.start(*GUDANG_STACK, "--tls", "--interval", "0.5")
    found = re.search(r"HTTPS:\s+(https://\S+?)/dashboard/\s+\(CA: (\S+)\)", stack.output)
    assert found, stack.output
    https, ca = found.group(1), found.group(2)
    verify = ssl.create_default_context(cafile=ca)
    wait_for(lambda: stack.drums() >= 1, timeout=60, what="the simulated station loading")
    r = httpx.get(f"{https}/api/v1/containers/{DEMO_CONTAINER}", headers=HEADERS, verify=verify)
    assert r.status_code == 200, r.text
    # A phone at the simulated station (a bridge with a scale): weighed by its bridge.
    scan = {
        "id": str(uuid.uuid4()),
        "ts": datetime.now(UTC).isoformat(),
        "barcode": "CB-JMB-S-999001",
    }
    r = httpx.post(
        f"{https}/api/v1/stations/load-1/scans",
        json=scan,
        headers={"Authorization": "Bearer demo-worker"},
        verify=verify,
        timeout=30,
    )
    assert r.status_code == 200, r.text
    assert (r.json()["via"], r.json()["stored"]) == ("bridge", True)
    assert r.json()["weight_status"] in ("stable", "no_stable")
    assert stack.ctrl_c() == 0, stack.output
