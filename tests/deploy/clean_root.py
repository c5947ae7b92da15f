"""A throw-away root file system for running the installers as the guides say.

The root is this machine's own file system under a copy-on-write overlay, so what the
installers find is what a Debian 12 box with the packages installed has; everything they
write (users, /etc, /opt/gudang, data) lands in the overlay's upper folder and nowhere
else. It runs in its own mount, network and process namespaces: the standard ports (1883,
8086, 8000, ...) are free whatever runs on this machine, nothing reaches the network, and
every process started inside dies when the script ends.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CHROOT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Inside the root, the wheelhouse (the namespace has no network) is mounted here.
WHEELS_IN_ROOT = "/mnt/gudang-wheels"

_ENTER = r"""
set -euo pipefail
mount --make-rprivate /
mount -t overlay overlay -o "lowerdir=/,upperdir=$W/upper,workdir=$W/work" "$W/root"
mount -t proc proc "$W/root/proc"
mount --rbind /dev "$W/root/dev"
mount --rbind /sys "$W/root/sys"
mount -t tmpfs -o mode=0755 tmpfs "$W/root/run"
# A checkout under /tmp (CI clones there) stays visible through the root's own /tmp: its
# overlay view (copy-on-write, the checkout itself is never written) is bound back in.
case "$REPO/" in
  /tmp/*) mkdir -p "$W/repo"; mount --bind "$W/root$REPO" "$W/repo" ;;
esac
mount -t tmpfs -o mode=1777 tmpfs "$W/root/tmp"
case "$REPO/" in
  /tmp/*) mkdir -p "$W/root$REPO"; mount --bind "$W/repo" "$W/root$REPO" ;;
esac
mkdir -p "$W/root$WHEELS_IN_ROOT"
mount --bind -o ro "$WHEELS" "$W/root$WHEELS_IN_ROOT"
ip link set lo up
exec chroot "$W/root" /usr/bin/env -i PATH="$CHROOT_PATH" HOME=/root LANG=C.UTF-8 \
  PIP_NO_INDEX=1 PIP_FIND_LINKS="$WHEELS_IN_ROOT" PIP_DISABLE_PIP_VERSION_CHECK=1 \
  /bin/bash -euo pipefail -c "$SCRIPT"
"""


def available() -> str | None:
    """Why a clean root cannot be made here, or None when it can."""
    if sys.platform != "linux" or os.geteuid() != 0:
        return "needs root on Linux (mount and network namespaces)"
    for tool in ("unshare", "chroot", "ip", "mosquitto", "influxd", "setpriv", "curl"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    if "overlay" not in Path("/proc/filesystems").read_text():
        return "the kernel has no overlay file system"
    return None


def wheelhouse(directory: Path) -> Path:
    """Every wheel `pip install '.[server,bridge]'` needs, fetched once (the root is offline)."""
    stamp = directory / ".pyproject"
    wanted = (REPO / "pyproject.toml").read_text()
    if stamp.exists() and stamp.read_text() == wanted:
        return directory
    directory.mkdir(parents=True, exist_ok=True)
    project = tomllib.loads(wanted)["project"]
    extras = project["optional-dependencies"]
    requirements = [*project["dependencies"], *extras["server"], *extras["bridge"]]
    subprocess.run(
        # The dependencies only (building gudang here would leave build/ in the checkout);
        # and the build backend pip needs to build gudang itself inside the root.
        [
            *(sys.executable, "-m", "pip", "download", "-q", "-d", str(directory)),
            *requirements,
            *("setuptools>=77", "wheel"),
        ],
        check=True,
        capture_output=True,
        timeout=600,
    )
    stamp.write_text(wanted)
    return directory


@dataclass
class CleanRoot:
    """One overlay root: its upper folder holds everything written inside."""

    work: Path
    wheels: Path

    @property
    def upper(self) -> Path:
        return self.work / "upper"

    def path(self, inside: str) -> Path:
        """Where a file written inside the root at ``inside`` is on this machine."""
        return self.upper / inside.lstrip("/")

    def put(self, inside: str, text: str, mode: int = 0o644) -> None:
        """Place a file in the root before it starts (as if it had always been there)."""
        target = self.path(inside)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        target.chmod(mode)

    def run(self, script: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        """Run a bash script as root inside the root; every process it started ends with it."""
        for sub in ("upper", "work", "root"):
            (self.work / sub).mkdir(parents=True, exist_ok=True)
        env = {
            "PATH": os.environ.get("PATH", CHROOT_PATH),
            "W": str(self.work),
            "WHEELS": str(self.wheels),
            "WHEELS_IN_ROOT": WHEELS_IN_ROOT,
            "CHROOT_PATH": CHROOT_PATH,
            "SCRIPT": script,
            "REPO": str(REPO),
        }
        return subprocess.run(
            # --kill-child: if this test is stopped, the namespace's first process and with
            # it every process inside (servers the installer started) is killed.
            [
                "unshare",
                "--mount",
                "--net",
                "--pid",
                "--fork",
                "--kill-child",
                "bash",
                "-c",
                _ENTER,
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def remove(self) -> None:
        """Delete the big part of the root's files (a venv and two databases: hundreds of MB).

        What the scripts saved and logged stays for a failing test's reader, under pytest's
        temporary folder (which keeps the last few runs only).
        """
        for big in ("opt", "var/lib", "usr", "work"):
            shutil.rmtree(
                self.upper / big if big != "work" else self.work / big, ignore_errors=True
            )
