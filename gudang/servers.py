"""Start local Mosquitto and InfluxDB processes from the configurations in deploy/local/.

Used by ``gudang stack`` and by the test suite, so both run the same files.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from string import Template

log = logging.getLogger(__name__)

DEPLOY_DIR = Path(__file__).resolve().parent.parent / "deploy"
# InfluxDB answers /ping about a second after start; allow for a slow machine.
START_TIMEOUT_S = 30.0


class ServerError(Exception):
    """A server would not start."""


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def find_binary(name: str, hint: str) -> str:
    """The path of a server binary, or a clear error saying how to install it."""
    for candidate in (shutil.which(name), f"/usr/sbin/{name}", f"/usr/bin/{name}"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise ServerError(f"{name} is not installed: {hint}")


@dataclass
class ServerProcess:
    """A server we started; ``stop()`` ends it."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    data_dir: Path
    log_path: Path

    def stop(self, kill: bool = False) -> None:
        """Stop it (SIGTERM, or SIGKILL with ``kill``) and wait."""
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def tail(self, lines: int = 20) -> str:
        """The end of its log, for error messages."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _wait_tcp(port: int, deadline: float) -> bool:
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def mosquitto_config(data_dir: Path, port: int, extra: str = "") -> Path:
    """Write the local Mosquitto configuration for ``port`` into ``data_dir``."""
    data_dir.mkdir(parents=True, exist_ok=True)
    text = Template((DEPLOY_DIR / "local" / "mosquitto.conf").read_text())
    # Started as root, mosquitto would drop to its own user, which cannot write here.
    user = "user root\n" if os.geteuid() == 0 else ""
    conf = data_dir / "mosquitto.conf"
    conf.write_text(text.substitute(port=port, data_dir=data_dir, extra=user + extra))
    return conf


def start_mosquitto(data_dir: Path, port: int | None = None, extra: str = "") -> ServerProcess:
    """Start Mosquitto on ``port`` (default: a free one) and wait until it listens."""
    binary = find_binary("mosquitto", "apt-get install mosquitto")
    port = port or free_port()
    conf = mosquitto_config(data_dir, port, extra)
    log_path = data_dir / "mosquitto.stderr"
    with log_path.open("ab") as out:
        proc = subprocess.Popen(
            [binary, "-c", str(conf)], stdout=out, stderr=out, start_new_session=True
        )
    server = ServerProcess("mosquitto", proc, port, data_dir, data_dir / "mosquitto.log")
    if not _wait_tcp(port, time.monotonic() + START_TIMEOUT_S) or not server.running:
        server.stop(kill=True)
        raise ServerError(f"mosquitto did not start on port {port}:\n{server.tail()}")
    return server


def influx_config(data_dir: Path, http_port: int, rpc_port: int, auth: bool = False) -> Path:
    """Write the local InfluxDB configuration into ``data_dir``."""
    data_dir.mkdir(parents=True, exist_ok=True)
    text = Template((DEPLOY_DIR / "local" / "influxdb.conf").read_text())
    conf = data_dir / "influxdb.conf"
    conf.write_text(
        text.substitute(
            data_dir=data_dir,
            http_port=http_port,
            rpc_port=rpc_port,
            auth_enabled="true" if auth else "false",
        )
    )
    return conf


def ping_influx(url: str, timeout: float = 1.0) -> str | None:
    """The version InfluxDB reports on /ping, or None when it does not answer."""
    try:
        with urllib.request.urlopen(f"{url}/ping", timeout=timeout) as r:
            return str(r.headers.get("X-Influxdb-Version", "unknown"))
    except (urllib.error.URLError, OSError):
        return None


def start_influxd(
    data_dir: Path, http_port: int | None = None, rpc_port: int | None = None, auth: bool = False
) -> ServerProcess:
    """Start influxd on free ports and wait until /ping answers."""
    binary = find_binary("influxd", "apt-get install influxdb")
    http_port = http_port or free_port()
    rpc_port = rpc_port or free_port()
    conf = influx_config(data_dir, http_port, rpc_port, auth)
    log_path = data_dir / "influxd.log"
    with log_path.open("ab") as out:
        proc = subprocess.Popen(
            [binary, "-config", str(conf)], stdout=out, stderr=out, start_new_session=True
        )
    server = ServerProcess("influxd", proc, http_port, data_dir, log_path)
    deadline = time.monotonic() + START_TIMEOUT_S
    url = f"http://127.0.0.1:{http_port}"
    while time.monotonic() < deadline:
        if not server.running:
            break
        if ping_influx(url) is not None:
            return server
        time.sleep(0.1)
    server.stop(kill=True)
    raise ServerError(f"influxd did not answer on {url}:\n{server.tail()}")


def restart(server: ServerProcess, kill: bool = False) -> ServerProcess:
    """Stop a server and start it again with the same ports and data."""
    server.stop(kill=kill)
    if server.name == "mosquitto":
        return start_mosquitto(server.data_dir, server.port)
    conf = (server.data_dir / "influxdb.conf").read_text()
    rpc = int(conf.split('bind-address = "127.0.0.1:')[1].split('"')[0])
    return start_influxd(server.data_dir, server.port, rpc)
