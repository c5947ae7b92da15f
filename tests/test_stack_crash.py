"""The local stack after a crash: nothing outlives it, nothing doubles, no port moves.

``gudang stack`` is killed with SIGKILL (no chance to clean up): its Mosquitto and
InfluxDB, in sessions of their own so that Ctrl-C stops them in order, must stop with it;
the next stack on the same data folder must find the servers an older stack left and stop
them rather than start a second pair over the same data; and the ports a station is
configured for must not move because of connections lingering in TIME_WAIT.
"""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path

import httpx

from gudang_ops.servers import free_port, stale_servers, start_mosquitto
from tests.harness import wait_for
from tests.test_stack import GUDANG_STACK, Stacks, _listening, stacks  # noqa: F401 (fixture)


def _fixed_ports(started: Stacks) -> tuple[int, int, int]:
    """The API, MQTT and InfluxDB ports every stack of the test is configured for."""
    influx_port = free_port()
    started.env["GUDANG_INFLUX__URL"] = f"http://127.0.0.1:{influx_port}"
    return started.api_port, int(started.env["GUDANG_MQTT__PORT"]), influx_port


def _time_wait_on(port: int) -> None:
    """Leave a connection in TIME_WAIT on the server's side of ``port``: the server closes
    first (``Connection: close``), so the server's end lingers."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        while s.recv(65536):
            pass
    # Else the test would prove nothing (the closing handshake may take a moment).
    wait_for(lambda: _in_time_wait(port), 10, f"a connection in TIME_WAIT on {port}")


def _in_time_wait(port: int) -> bool:
    """Whether a connection of local port ``port`` is in TIME_WAIT (state 06)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "06":
            return True
    return False


def test_servers_stop_with_a_killed_stack_and_the_next_one_keeps_its_ports(
    stacks: Stacks,  # noqa: F811
) -> None:
    api_port, mqtt_port, influx_port = _fixed_ports(stacks)
    first = stacks.start(*GUDANG_STACK, "--no-sim")
    assert first.ports() == (mqtt_port, influx_port)
    servers = stale_servers(stacks.data)
    assert len(servers) == 2  # its Mosquitto and InfluxDB
    _time_wait_on(api_port)

    os.kill(first.process.pid, signal.SIGKILL)  # the stack alone, not its process group
    first.process.wait(10)
    wait_for(lambda: not stale_servers(stacks.data), 30, "the servers stopping with the stack")
    assert not _listening(mqtt_port)
    assert not _listening(influx_port)

    second = stacks.start(*GUDANG_STACK, "--no-sim")
    assert second.ports() == (mqtt_port, influx_port), second.output
    assert f"127.0.0.1:{api_port}/dashboard/" in second.output
    assert "is taken" not in second.output
    r = httpx.get(f"http://127.0.0.1:{api_port}/api/v1/health", timeout=15)
    assert r.status_code == 200
    assert second.ctrl_c() == 0, second.output


def test_a_stack_stops_the_servers_an_older_one_left_on_its_data_folder(
    stacks: Stacks,  # noqa: F811
) -> None:
    _api_port, mqtt_port, influx_port = _fixed_ports(stacks)
    data = stacks.data
    # What an older stack, killed, left behind: a broker of its own session on the port.
    left = start_mosquitto(data / "mosquitto", mqtt_port)
    try:
        assert stale_servers(data) == [left.process.pid]
        stack = stacks.start(*GUDANG_STACK, "--no-sim")
        assert left.process.poll() is not None, "the stale broker is still running"
        assert stack.ports() == (mqtt_port, influx_port), stack.output
        assert "left running" in stack.output
        assert len(stale_servers(data)) == 2  # one pair, the stack's own
        assert stack.ctrl_c() == 0, stack.output
    finally:
        left.stop()
