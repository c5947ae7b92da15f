"""Gudang's services and API as subprocesses (``gudang --config FILE ...``), measurable.

Running them as processes of their own is what production does, and lets the bench
read their CPU time and peak memory from /proc without counting its own work.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from gudang_ops.servers import LoggedProcess, ServerProcess, free_port

# Services rebuild from InfluxDB and connect; the API connects: seconds on a busy machine.
START_TIMEOUT_S = 60.0
_TICKS = os.sysconf("SC_CLK_TCK")


def write_config(
    path: Path,
    site: str,
    mosquitto: ServerProcess,
    influxd: ServerProcess,
    api_port: int,
    ingest: dict[str, Any] | None = None,
) -> Path:
    """A settings file for the services and the API of the bench's site."""
    lines = [
        "[site]",
        f'name = "{site}"',
        "[mqtt]",
        'host = "127.0.0.1"',
        f"port = {mosquitto.port}",
        "[influx]",
        f'url = "http://127.0.0.1:{influxd.port}"',
        f'database = "db_{site}"',
        "[api]",
        'host = "127.0.0.1"',
        f"port = {api_port}",
        "allow_demo_tokens = true",
        "[ingest]",
    ]
    for key, value in (ingest or {}).items():
        lines.append(f"{key} = {value}")
    path.write_text("\n".join(lines) + "\n")
    return path


@dataclass
class CpuSample:
    """CPU seconds (user + system) of a process at a monotonic instant."""

    at: float
    cpu_s: float


class GudangProcess(LoggedProcess):
    """``gudang --config FILE <command>`` in a subprocess, with its CPU and peak RSS."""

    stop_timeout_s = 20.0  # the services' stop alone may wait 10 s for their ingest thread
    tail_lines = 30

    def __init__(
        self, command: str, config: Path, log_path: Path, env: dict[str, str] | None = None
    ) -> None:
        self.command = command
        self.log_path = log_path
        gudang = Path(sys.executable).with_name("gudang")
        with log_path.open("ab") as out:
            self.process = subprocess.Popen(
                [str(gudang), "--config", str(config), command],
                stdout=out,
                stderr=out,
                env={**os.environ, **(env or {})},
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu(self) -> CpuSample:
        """User + system CPU seconds so far (all threads)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        # fields[11], [12] are utime and stime (the 14th and 15th of proc(5))
        return CpuSample(time.monotonic(), (int(fields[11]) + int(fields[12])) / _TICKS)

    def peak_rss_mb(self) -> float:
        """The peak resident set size (VmHWM) in MiB."""
        for row in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if row.startswith("VmHWM:"):
                return int(row.split()[1]) / 1024
        return 0.0

    def rss_mb(self) -> float:
        """The current resident set size in MiB."""
        for row in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if row.startswith("VmRSS:"):
                return int(row.split()[1]) / 1024
        return 0.0


def start_api(config: Path, port: int, log_path: Path) -> GudangProcess:
    """``gudang api``, waiting until /api/v1/health says the broker and InfluxDB are up."""
    proc = GudangProcess("api", config, log_path)
    url = f"http://127.0.0.1:{port}/api/v1/health"
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if not proc.running:
            break
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.stop(kill=True)
    raise RuntimeError(f"gudang api did not become healthy:\n{proc.tail()}")


def start_services(config: Path, log_path: Path) -> GudangProcess:
    """``gudang services``, waiting until its log says it runs."""
    proc = GudangProcess("services", config, log_path)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if not proc.running:
            break
        if "services running for site" in proc.tail(200):
            return proc
        time.sleep(0.2)
    proc.stop(kill=True)
    raise RuntimeError(f"gudang services did not start:\n{proc.tail()}")


__all__ = ["GudangProcess", "free_port", "start_api", "start_services", "write_config"]
