"""Start local Mosquitto and InfluxDB processes from the configurations in deploy/.

deploy/local/ (no auth, loopback) is what ``gudang stack`` and most tests run;
deploy/mosquitto/ and deploy/influxdb/ are the production configurations, which the
deployment tests start as they are, with only paths and ports filled in.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import IO, ClassVar

from pydantic import SecretStr

from gudang.settings import Settings
from gudang_ops.provision import DEPLOY_DIR, render

log = logging.getLogger(__name__)

PRODUCTION_MOSQUITTO_DIR = DEPLOY_DIR / "mosquitto"
PRODUCTION_INFLUX_DIR = DEPLOY_DIR / "influxdb"
# InfluxDB answers /ping about a second after start; allow for a slow machine.
START_TIMEOUT_S = 30.0


class ServerError(Exception):
    """A server would not start."""


# The servers' binaries, as their processes show them in /proc (stale ones are found so).
SERVER_BINARIES = ("mosquitto", "influxd")
# How long a stale server gets to stop on SIGTERM before SIGKILL.
STALE_STOP_S = 15.0
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _die_with_parent(parent: int) -> Callable[[], None]:
    """A ``preexec_fn``: the child gets SIGTERM when the process that started it dies
    (even by SIGKILL), so ``gudang stack`` leaves no server behind after a crash."""

    libc = ctypes.CDLL(None, use_errno=True)  # loaded here: the child only calls it

    def preexec() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


def _launch(argv: list[str], out: IO[bytes], die_with_parent: bool) -> subprocess.Popen[bytes]:
    # A session of its own: Ctrl-C at the terminal reaches the stack, which stops the
    # servers in order (the broker saves its store); PDEATHSIG covers a stack that crashed.
    # (PDEATHSIG follows the thread that forks: the stack starts its servers from its
    # main thread, which lives as long as the process.)
    return subprocess.Popen(
        argv,
        stdout=out,
        stderr=out,
        start_new_session=True,
        preexec_fn=_die_with_parent(os.getpid()) if die_with_parent else None,  # noqa: PLW1509
    )


def stale_servers(data_dir: Path) -> list[int]:
    """Pids of Mosquitto or InfluxDB processes whose configuration lies under ``data_dir``:
    left by a stack that did not stop them (killed, or an older version)."""
    prefix = str(data_dir.resolve()) + os.sep
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue  # gone meanwhile, or not ours to read
        args = [a.decode(errors="replace") for a in argv if a]
        if not args or Path(args[0]).name not in SERVER_BINARIES:
            continue
        if any(a.startswith(prefix) for a in args[1:]):
            found.append(int(entry.name))
    return found


def stop_stale_servers(data_dir: Path) -> list[int]:
    """Stop the servers a previous stack left running on ``data_dir``; their pids."""
    pids = stale_servers(data_dir)
    for pid in pids:
        log.warning("stopping a server left running on %s (pid %d)", data_dir, pid)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STALE_STOP_S
    for pid in pids:
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    return pids


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"  # a zombie has stopped; its parent (gone) just did not reap it


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a server could listen on ``port`` now. With SO_REUSEADDR, as the servers
    bind: a port whose last connections linger in TIME_WAIT after a crash is free."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


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


class LoggedProcess:
    """A child process that writes a log: whether it runs, its log's end, stopping it."""

    process: subprocess.Popen[bytes]
    log_path: Path
    stop_timeout_s: ClassVar[float] = 15.0  # after SIGTERM, before SIGKILL
    tail_lines: ClassVar[int] = 20  # what ``tail()`` gives by default

    def stop(self, kill: bool = False) -> None:
        """Stop it (SIGTERM, or SIGKILL with ``kill``) and wait."""
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            self.process.wait(timeout=self.stop_timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def tail(self, lines: int | None = None) -> str:
        """The end of its log, for error messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-(self.tail_lines if lines is None else lines) :])


@dataclass
class ServerProcess(LoggedProcess):
    """A server we started; ``stop()`` ends it."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    data_dir: Path
    log_path: Path
    tls_port: int | None = None  # production Mosquitto: the stations' TLS listener
    config: Path | None = None  # a production configuration, reused by restart()


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


def start_mosquitto(
    data_dir: Path, port: int | None = None, extra: str = "", die_with_parent: bool = False
) -> ServerProcess:
    """Start Mosquitto on ``port`` (default: a free one) and wait until it listens;
    ``die_with_parent``: it stops when this process dies, however it dies."""
    port = port or free_port()
    conf = mosquitto_config(data_dir, port, extra)
    return _launch_mosquitto(conf, data_dir, port, die_with_parent=die_with_parent)


def _launch_mosquitto(
    conf: Path,
    data_dir: Path,
    port: int,
    tls_port: int | None = None,
    production: bool = False,
    die_with_parent: bool = False,
) -> ServerProcess:
    binary = find_binary("mosquitto", "apt-get install mosquitto")
    with (data_dir / "mosquitto.stderr").open("ab") as out:
        proc = _launch([binary, "-c", str(conf)], out, die_with_parent)
    server = ServerProcess(
        "mosquitto",
        proc,
        port,
        data_dir,
        data_dir / "mosquitto.log",
        tls_port=tls_port,
        config=conf if production else None,
    )
    deadline = time.monotonic() + START_TIMEOUT_S
    ports = [port] + ([tls_port] if tls_port else [])
    if not all(_wait_tcp(p, deadline) for p in ports) or not server.running:
        server.stop(kill=True)
        raise ServerError(f"mosquitto did not start on port {port}:\n{server.tail()}")
    return server


@dataclass(frozen=True)
class TlsFiles:
    """The broker's TLS material, as deploy/mosquitto/make-certs.sh writes it."""

    cafile: Path
    certfile: Path
    keyfile: Path

    @classmethod
    def in_dir(cls, directory: Path) -> TlsFiles:
        """The files make-certs.sh leaves in ``directory``."""
        return cls(directory / "ca.crt", directory / "server.crt", directory / "server.key")


def production_mosquitto_config(
    data_dir: Path,
    port: int,
    tls_port: int,
    password_file: Path,
    tls: TlsFiles,
    acl_file: Path = PRODUCTION_MOSQUITTO_DIR / "acl",
    tls_address: str = "127.0.0.1",
) -> Path:
    """Render deploy/mosquitto/mosquitto.conf with test paths and ports into ``data_dir``."""

    data_dir.mkdir(parents=True, exist_ok=True)
    text = render(
        PRODUCTION_MOSQUITTO_DIR / "mosquitto.conf",
        port=port,
        tls_port=tls_port,
        tls_address=tls_address,
        password_file=password_file,
        acl_file=acl_file,
        cafile=tls.cafile,
        certfile=tls.certfile,
        keyfile=tls.keyfile,
        persistence_dir=data_dir,
        log_file=data_dir / "mosquitto.log",
    )
    if os.geteuid() == 0:
        # Started as root, mosquitto would drop to its own user, which cannot read the
        # test's files; on a real install the files belong to that user.
        text += "\nuser root\n"
    conf = data_dir / "mosquitto.conf"
    conf.write_text(text)
    return conf


def start_production_mosquitto(
    data_dir: Path,
    password_file: Path,
    tls: TlsFiles,
    port: int | None = None,
    tls_port: int | None = None,
    die_with_parent: bool = False,
) -> ServerProcess:
    """Start Mosquitto from the production configuration (auth, ACL, TLS) on free ports."""
    port = port or free_port()
    tls_port = tls_port or free_port()
    conf = production_mosquitto_config(data_dir, port, tls_port, password_file, tls)
    return _launch_mosquitto(
        conf, data_dir, port, tls_port, production=True, die_with_parent=die_with_parent
    )


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
    data_dir: Path,
    http_port: int | None = None,
    rpc_port: int | None = None,
    auth: bool = False,
    die_with_parent: bool = False,
) -> ServerProcess:
    """Start influxd on free ports and wait until /ping answers."""
    http_port = http_port or free_port()
    rpc_port = rpc_port or free_port()
    conf = influx_config(data_dir, http_port, rpc_port, auth)
    return _launch_influxd(conf, data_dir, http_port, die_with_parent=die_with_parent)


def production_influx_config(data_dir: Path, http_port: int, rpc_port: int) -> Path:
    """Render deploy/influxdb/influxdb.conf (auth on) with test paths and ports."""

    data_dir.mkdir(parents=True, exist_ok=True)
    conf = data_dir / "influxdb.conf"
    conf.write_text(
        render(
            PRODUCTION_INFLUX_DIR / "influxdb.conf",
            data_dir=data_dir,
            http_port=http_port,
            rpc_port=rpc_port,
        )
    )
    return conf


def start_production_influxd(
    data_dir: Path,
    http_port: int | None = None,
    rpc_port: int | None = None,
    die_with_parent: bool = False,
) -> ServerProcess:
    """Start influxd from the production configuration (auth on) on free ports."""
    http_port = http_port or free_port()
    rpc_port = rpc_port or free_port()
    conf = production_influx_config(data_dir, http_port, rpc_port)
    return _launch_influxd(
        conf, data_dir, http_port, production=True, die_with_parent=die_with_parent
    )


def _launch_influxd(
    conf: Path,
    data_dir: Path,
    http_port: int,
    production: bool = False,
    die_with_parent: bool = False,
) -> ServerProcess:
    binary = find_binary("influxd", "apt-get install influxdb")
    log_path = data_dir / "influxd.log"
    with log_path.open("ab") as out:
        proc = _launch([binary, "-config", str(conf)], out, die_with_parent)
    server = ServerProcess(
        "influxd", proc, http_port, data_dir, log_path, config=conf if production else None
    )
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
    if server.config is not None:  # a production configuration: the same file again
        if server.name == "mosquitto":
            return _launch_mosquitto(
                server.config, server.data_dir, server.port, server.tls_port, production=True
            )
        return _launch_influxd(server.config, server.data_dir, server.port, production=True)
    if server.name == "mosquitto":
        return start_mosquitto(server.data_dir, server.port)
    conf = (server.data_dir / "influxdb.conf").read_text()
    rpc = int(conf.split('bind-address = "127.0.0.1:')[1].split('"')[0])
    return start_influxd(server.data_dir, server.port, rpc)


@dataclass
class SecureSite:
    """A site installed as deploy/install.sh installs it, on local ports and folders.

    Mosquitto and InfluxDB run from the production configurations (auth, ACL, TLS);
    credentials, users and schema come from gudang_ops.provision, certificates from
    deploy/mosquitto/make-certs.sh. Used by ``gudang stack --secure`` and tests/deploy.
    """

    root: Path
    etc: Path
    password_file: Path
    tls: TlsFiles
    broker: ServerProcess
    influxd: ServerProcess
    database: str

    @property
    def influx_url(self) -> str:
        return f"http://127.0.0.1:{self.influxd.port}"

    def station_password(self, station: str) -> str:
        """The generated MQTT password of a station made by ``start_secure_site``."""
        from gudang_ops.provision import STATIONS_DIR, read_env

        return read_env(self.etc / STATIONS_DIR / f"{station}.env")["GUDANG_MQTT__PASSWORD"]

    def settings_for(self, base: Settings, role: str) -> Settings:
        """``base`` with the servers and the credentials of ``role``: services, api or a station."""
        from gudang_ops import provision

        creds = provision.load_credentials(self.etc)
        mqtt: dict[str, object] = {"host": "127.0.0.1", "port": self.broker.port}
        influx: dict[str, object] = {
            "url": self.influx_url,
            "database": self.database,
            "create_database": False,
        }
        if role == provision.MQTT_SERVICES_USER:
            mqtt.update(username=role, password=SecretStr(creds.mqtt_services))
            influx.update(
                username=provision.INFLUX_SERVICES_USER,
                password=SecretStr(creds.influx_services),
            )
        elif role == provision.MQTT_API_USER:
            mqtt.update(username=role, password=SecretStr(creds.mqtt_api))
            influx.update(username=provision.INFLUX_API_USER, password=SecretStr(creds.influx_api))
        else:  # a station: over the TLS listener, as from another box
            mqtt.update(
                port=self.broker.tls_port,
                tls_ca=self.tls.cafile,
                username=role,
                password=SecretStr(self.station_password(role)),
            )
        return base.model_copy(
            update={
                "mqtt": base.mqtt.model_copy(update=mqtt),
                "influx": base.influx.model_copy(update=influx),
            }
        )

    def stop(self) -> None:
        """Stop both servers."""
        self.influxd.stop()
        self.broker.stop()


def start_secure_site(
    root: Path,
    stations: tuple[str, ...] = ("load-1",),
    mqtt_port: int | None = None,
    influx_port: int | None = None,
    die_with_parent: bool = False,
) -> SecureSite:
    """Generate credentials and certificates (kept if present), start and set up both servers."""
    from gudang_ops import provision

    etc = root / "etc"
    password_file = root / "passwd"
    tls_dir = root / "tls"
    if not (tls_dir / "server.crt").exists():
        subprocess.run(
            [str(PRODUCTION_MOSQUITTO_DIR / "make-certs.sh"), str(tls_dir), "localhost"],
            check=True,
            capture_output=True,
        )
    tls = TlsFiles.in_dir(tls_dir)
    creds = provision.ensure_credentials(etc)
    provision.write_mosquitto_users(password_file, creds)
    for station in stations:
        provision.add_station(etc, password_file, station)
    broker = start_production_mosquitto(
        root / "mosquitto", password_file, tls, port=mqtt_port, die_with_parent=die_with_parent
    )
    try:
        influxd = start_production_influxd(
            root / "influxdb", http_port=influx_port, die_with_parent=die_with_parent
        )
    except ServerError:
        broker.stop()
        raise
    schema = provision.InfluxSchema.load(PRODUCTION_INFLUX_DIR / "setup.toml")
    site = SecureSite(root, etc, password_file, tls, broker, influxd, schema.database)
    try:
        provision.setup_influx(site.influx_url, schema, creds)
    except provision.ProvisionError:
        site.stop()
        raise
    return site
