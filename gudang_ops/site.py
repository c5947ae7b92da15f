"""``gudang status|start|stop|restart [PART ...]``: the installed processes of this box.

On a box with systemd these are ``systemctl`` on the units deploy/install.sh and
deploy/install-station.sh install. Without systemd (a container, a chroot, a CI machine)
they start the same programs with the same files and users as the units do, keep their
process ids in /run/gudang/ and their output in /var/log/gudang/. Nothing restarts a
process that dies there, and nothing starts at boot: that is systemd's job.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from gudang_ops.provision import read_env

ETC = Path("/etc/gudang")
RUN_DIR = Path("/run/gudang")
LOG_DIR = Path("/var/log/gudang")
VENV_GUDANG = "/opt/gudang/venv/bin/gudang"
MOSQUITTO_CONF = Path("/etc/mosquitto/mosquitto.conf")
INFLUXDB_CONF = Path("/etc/influxdb/influxdb.conf")
SYSTEMD_RUNNING = Path("/run/systemd/system")
START_TIMEOUT_S = 90.0
# Exit status of ``status`` when a part is not running (systemctl's and LSB's "not running").
NOT_RUNNING = 3


class SiteError(Exception):
    """A part could not be started or stopped; the message says what to look at."""


@dataclass(frozen=True)
class Part:
    """One installed process: its systemd unit, and how to run it without systemd."""

    name: str
    unit: str
    argv: tuple[str, ...]
    user: str | None = None  # None: started as root (mosquitto drops to its own user)
    group: str | None = None
    env_file: Path | None = None
    stop_timeout_s: float = 15.0  # the unit's TimeoutStopSec
    ready: Callable[[Part, int], bool] = field(default=lambda part, offset: True, compare=False)
    own_log: str | None = None  # where the program logs besides its output
    state_dir: Path | None = None  # the unit's StateDirectory=, handed over the same way

    @property
    def pid_file(self) -> Path:
        return RUN_DIR / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return LOG_DIR / f"{self.name}.log"


def _mosquitto_listening(part: Part, offset: int) -> bool:
    ports = re.findall(r"^listener\s+(\d+)", MOSQUITTO_CONF.read_text(), re.MULTILINE)
    return bool(ports) and _tcp_open(int(ports[0]))


def _influx_answers(part: Part, offset: int) -> bool:
    http = tomllib.loads(INFLUXDB_CONF.read_text()).get("http", {})
    port = str(http.get("bind-address", ":8086")).rsplit(":", 1)[1]
    return _http_status(f"http://127.0.0.1:{port}/ping") == 204


def _api_answers(part: Part, offset: int) -> bool:
    return _http_status(_health_url()) is not None


def _logged_since(text: str) -> Callable[[Part, int], bool]:
    def ready(part: Part, offset: int) -> bool:
        with part.log_file.open("rb") as log:
            log.seek(offset)
            return text.encode() in log.read()

    return ready


def _tcp_open(port: int) -> bool:
    import socket

    with socket.socket() as s:
        s.settimeout(1.0)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _http_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (OSError, ValueError):
        return None


def _health_url() -> str:
    port = 8000
    config = ETC / "gudang.toml"
    if config.exists():
        port = int(tomllib.loads(config.read_text()).get("api", {}).get("port", port))
    return f"http://127.0.0.1:{port}/api/v1/health"


def _gudang_part(
    role: str,
    config: str,
    env: str,
    *,
    group: str,
    ready: Callable[[Part, int], bool],
    state_dir: Path | None = None,
    stop_timeout_s: float = 15.0,
) -> Part:
    """``gudang --config ETC/CONFIG ROLE`` as the user gudang-ROLE, as its unit runs it."""
    return Part(
        role,
        f"gudang-{role}",
        (VENV_GUDANG, "--config", str(ETC / config), role),
        user=f"gudang-{role}",
        group=group,
        env_file=ETC / env,
        stop_timeout_s=stop_timeout_s,
        ready=ready,
        state_dir=state_dir,
    )


SERVER_PARTS = (
    Part(
        "mosquitto",
        "mosquitto",
        ("mosquitto", "-c", str(MOSQUITTO_CONF)),
        ready=_mosquitto_listening,
        own_log="/var/log/mosquitto/mosquitto.log",
    ),
    Part(
        "influxdb",
        "influxdb",
        ("influxd", "-config", str(INFLUXDB_CONF)),
        user="influxdb",
        group="influxdb",
        ready=_influx_answers,
    ),
    _gudang_part(
        "services",
        "gudang.toml",
        "services.env",
        group="gudang",
        state_dir=Path("/var/lib/gudang-services"),
        stop_timeout_s=30.0,
        ready=_logged_since("services running for site"),
    ),
    _gudang_part("api", "gudang.toml", "api.env", group="gudang", ready=_api_answers),
)
BRIDGE = _gudang_part(
    "bridge",
    "station.toml",
    "station.env",
    group="gudang-bridge",
    state_dir=Path("/var/lib/gudang-bridge"),
    ready=_logged_since("started with"),  # connected or not: it spools
)
ALL_PARTS = {p.name: p for p in (*SERVER_PARTS, BRIDGE)}


def installed_parts() -> list[Part]:
    """The parts this box has: the server's, a station's bridge, or both."""
    parts: list[Part] = []
    if (ETC / "gudang.toml").exists():
        parts.extend(SERVER_PARTS)
    if (ETC / "station.toml").exists():
        parts.append(BRIDGE)
    return parts


def select(names: Sequence[str]) -> list[Part]:
    """The named parts in start order (all installed ones when none is named)."""
    if not names:
        parts = installed_parts()
        if not parts:
            raise SiteError(f"nothing installed here ({ETC}/gudang.toml or station.toml)")
        return parts
    unknown = [n for n in names if n not in ALL_PARTS]
    if unknown:
        raise SiteError(f"unknown part {', '.join(unknown)} (parts: {', '.join(ALL_PARTS)})")
    return [p for p in ALL_PARTS.values() if p.name in names]


def has_systemd() -> bool:
    """Whether systemd runs this box (as sd_booted(3) decides)."""
    return SYSTEMD_RUNNING.is_dir()


# --- without systemd ----------------------------------------------------------------------
def running_pid(part: Part) -> int | None:
    """The process id of the part if this tool started it and it still runs."""
    try:
        pid = int(part.pid_file.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return None
    # A pid file outlives its process; the number may since belong to another program.
    program = os.path.basename(part.argv[0]).encode()
    if not any(os.path.basename(arg) == program for arg in cmdline):
        return None
    return pid


def start(part: Part, timeout_s: float = START_TIMEOUT_S) -> int:
    """Start a part as its unit would, and wait until it is ready; its process id."""
    pid = running_pid(part)
    if pid is not None:
        return pid
    RUN_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)
    LOG_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
    env["LANG"] = os.environ.get("LANG", "C.UTF-8")
    if part.env_file is not None:
        env.update(read_env(part.env_file))
    if part.state_dir is not None and part.user is not None:
        # As systemd makes a StateDirectory: owned by the part's user, 0700.
        part.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        shutil.chown(part.state_dir, part.user, part.group or part.user)
        env["STATE_DIRECTORY"] = str(part.state_dir)
    argv = list(part.argv)
    if part.user is not None:
        # setpriv execs in place, so the pid is the program's and SIGTERM reaches it.
        argv = [
            "setpriv",
            f"--reuid={part.user}",
            f"--regid={part.group or part.user}",
            "--init-groups",
            "--",
            *argv,
        ]
    with part.log_file.open("ab") as log:
        offset = log.tell()
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            env=env,
            cwd="/",
            start_new_session=True,  # outlives this command
        )
    part.pid_file.write_text(f"{process.pid}\n")
    deadline = time.monotonic() + timeout_s
    while not part.ready(part, offset):
        if process.poll() is not None:
            part.pid_file.unlink(missing_ok=True)
            raise SiteError(
                f"{part.name} exited with status {process.returncode}: see {part.log_file}"
            )
        if time.monotonic() > deadline:
            raise SiteError(f"{part.name} not ready after {timeout_s:.0f} s: see {part.log_file}")
        time.sleep(0.2)
    return process.pid


def stop(part: Part) -> bool:
    """Stop a part (SIGTERM, then SIGKILL after its stop timeout); whether it was running."""
    pid = running_pid(part)
    if pid is None:
        part.pid_file.unlink(missing_ok=True)
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + part.stop_timeout_s
    while _alive(pid):
        if time.monotonic() > deadline:
            print(f"gudang: {part.name} did not stop in {part.stop_timeout_s:.0f} s: killed")
            os.kill(pid, signal.SIGKILL)
            break
        time.sleep(0.1)
    part.pid_file.unlink(missing_ok=True)
    return True


def _alive(pid: int) -> bool:
    try:
        # A child of ours that exited is a zombie until reaped: reap it, it is gone.
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass
    try:
        # Not ours (started by an earlier command): a zombie is gone too, whether or not
        # the machine's first process (a container's, perhaps) ever reaps it.
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


# --- the command --------------------------------------------------------------------------
def _systemctl(verb: str, parts: Sequence[Part]) -> int:
    units = [p.unit for p in parts]
    if verb == "status":
        done = subprocess.run(
            ["systemctl", "status", "--no-pager", "--lines=5", *units], check=False
        )
        print(f"logs: journalctl -u {' -u '.join(units)}")
        return done.returncode
    return subprocess.run(["systemctl", verb, *units], check=False).returncode


def _status_line(part: Part) -> tuple[str, bool]:
    pid = running_pid(part)
    logs = str(part.log_file) + (f", {part.own_log}" if part.own_log else "")
    if pid is None:
        return f"{part.name:<10} stopped               logs: {logs}", False
    state = f"running (pid {pid})"
    if part.name == "api":
        code = _http_status(_health_url())
        state += f", health {code}" if code is not None else ", not answering"
    return f"{part.name:<10} {state:<22} logs: {logs}", True


def control(verb: str, names: Sequence[str]) -> int:
    """Run ``verb`` (status, start, stop, restart) on the named parts; an exit status."""
    parts = select(names)
    if has_systemd():
        return _systemctl(verb, parts)
    if verb != "status" and os.geteuid() != 0:
        raise SiteError("run as root (sudo gudang ...): it starts processes as other users")
    if verb == "status":
        lines = [_status_line(p) for p in parts]
        for line, _ in lines:
            print(line)
        return 0 if all(ok for _, ok in lines) else NOT_RUNNING
    if verb in ("stop", "restart"):
        for part in reversed(parts):  # the API and services before what they need
            if stop(part):
                print(f"gudang: {part.name} stopped")
    if verb in ("start", "restart"):
        for part in parts:
            pid = start(part)
            print(f"gudang: {part.name} running (pid {pid}), output in {part.log_file}")
    return 0
