"""``gudang status|start|stop|restart``: the same words with systemd (systemctl on the units).

Without systemd they are run for real in tests/deploy/test_install_clean_root.py; here a
systemctl stand-in on the PATH records what would be asked of systemd, which this machine
does not run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gudang_ops import site
from gudang_ops.cli import main
from tests.harness import wait_for

SYSTEMCTL = """#!/bin/sh
echo "$*" >> "$SYSTEMCTL_LOG"
"""


@pytest.fixture
def systemd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A box that looks systemd-booted and has the server installed; systemctl's log."""
    running = tmp_path / "run-systemd-system"
    running.mkdir()
    etc = tmp_path / "etc-gudang"
    etc.mkdir()
    (etc / "gudang.toml").write_text("[site]\nname = 'blitar'\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "systemctl").write_text(SYSTEMCTL)
    (bin_dir / "systemctl").chmod(0o755)
    log = tmp_path / "systemctl.log"
    monkeypatch.setattr(site, "SYSTEMD_RUNNING", running)
    monkeypatch.setattr(site, "ETC", etc)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("SYSTEMCTL_LOG", str(log))
    return log


def test_with_systemd_the_words_are_systemctl_on_the_units(systemd: Path) -> None:
    assert main(["restart", "api"]) == 0
    assert main(["stop"]) == 0
    assert main(["start", "services", "api"]) == 0
    assert main(["status"]) == 0
    assert systemd.read_text().splitlines() == [
        "restart gudang-api",
        "stop mosquitto influxdb gudang-services gudang-api",
        "start gudang-services gudang-api",
        "status --no-pager --lines=5 mosquitto influxdb gudang-services gudang-api",
    ]


def test_an_unknown_part_is_refused(systemd: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["restart", "postgres"]) == 1
    assert "unknown part postgres" in capsys.readouterr().err
    assert not systemd.exists()


def test_a_box_with_nothing_installed_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(site, "ETC", tmp_path / "none")
    assert main(["status"]) == 1
    assert "nothing installed here" in capsys.readouterr().err


def test_a_zombie_left_by_another_parent_counts_as_stopped() -> None:
    # Without systemd a container's first process may never reap what `gudang start` left.
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, time\n"
            "child = subprocess.Popen(['true'])\n"
            "print(child.pid, flush=True)\n"
            "time.sleep(60)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert parent.stdout is not None
        pid = int(parent.stdout.readline())

        def state() -> str:
            return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]

        wait_for(lambda: state() == "Z", what="the child exited, unreaped")
        assert not site._alive(pid)
        assert site._alive(parent.pid)
    finally:
        parent.kill()
        parent.communicate()
