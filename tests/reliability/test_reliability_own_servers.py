"""A server a test starts, kills or restarts is gone when the test is: ``own_servers``.

Checked from outside, in a nested pytest run, so that the fixture's teardown has happened
(and the nested session ended) before the pids are looked at.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from gudang_ops.servers import stale_servers, stop_stale_servers

REPO = Path(__file__).resolve().parents[2]

NESTED_CONFTEST = """
from tests.reliability.conftest import own_servers  # noqa: F401
"""

NESTED_TESTS = """
import json
from pathlib import Path

from gudang_ops.servers import start_mosquitto

PIDS = Path({pids!r})


def _record(name, servers):
    PIDS.joinpath(name).write_text(json.dumps([s.process.pid for s in servers]))


def test_restarts_then_fails(own_servers, tmp_path):
    first = own_servers.mosquitto(tmp_path / "mosquitto")
    second = own_servers.restart(first, kill=True)
    third = own_servers.restart(second)
    fourth = own_servers.influxd(tmp_path / "influxdb")
    _record("failing", [first, second, third, fourth])
    assert third.running and fourth.running
    raise AssertionError("this test fails with its servers running")


def test_starts_one_past_the_keeper(own_servers, tmp_path):
    stray = start_mosquitto(tmp_path / "stray")
    _record("stray", [stray])
"""


def test_reliability_every_server_a_test_started_is_stopped_even_when_it_fails(
    tmp_path: Path,
) -> None:
    nested = tmp_path / "nested"
    pids = tmp_path / "pids"
    basetemp = tmp_path / "nested-tmp"  # the nested tests' tmp_path, beside ours
    nested.mkdir()
    pids.mkdir()
    (nested / "conftest.py").write_text(NESTED_CONFTEST)
    (nested / "test_nested.py").write_text(NESTED_TESTS.format(pids=str(pids)))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    try:
        run = subprocess.run(
            [*argv, f"--basetemp={basetemp}", str(nested)],
            check=False,  # its failures are the point; the output says which
            cwd=nested,
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
        )
        out = run.stdout + run.stderr
        # The failing test failed as it should, and its servers did not outlive it.
        assert "FAILED test_nested.py::test_restarts_then_fails" in out, out
        failing = json.loads((pids / "failing").read_text())
        assert len(set(failing)) == 4
        # Each one's configuration lies under the nested tmp_path: a survivor is found so.
        assert sorted(set(failing) & set(stale_servers(basetemp))) == []
        # A server started past the keeper is stopped too, and the test says so.
        assert "ERROR at teardown of test_starts_one_past_the_keeper" in out, out
        (stray,) = json.loads((pids / "stray").read_text())
        assert f"after the test: pids [{stray}]" in out, out
        assert stale_servers(basetemp) == []
    finally:
        stop_stale_servers(tmp_path)  # whatever this test's own failure left behind
