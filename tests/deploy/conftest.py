"""A warehouse installed as deploy/install.sh installs it, on throw-away ports and folders.

The broker and InfluxDB run from deploy/mosquitto/* and deploy/influxdb/* as they are
(only paths and ports filled in); credentials, Mosquitto users and the InfluxDB schema
come from the same gudang_ops.provision functions the installer runs; the certificates from
deploy/mosquitto/make-certs.sh.
"""

from __future__ import annotations

import queue
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gudang.mqtt import Message, MqttLink
from gudang.settings import MqttSettings
from gudang_ops import provision
from gudang_ops.servers import (
    PRODUCTION_MOSQUITTO_DIR,
    SecureSite,
    ServerProcess,
    TlsFiles,
    start_secure_site,
)
from tests.harness import wait_for

MAKE_CERTS = PRODUCTION_MOSQUITTO_DIR / "make-certs.sh"
STATIONS = ("load-1", "load-2")
# A station whose password file entry is made by Mosquitto's own tool, as an operator
# following the Mosquitto manual would: both hash writers must be accepted.
PASSWD_STATION = "recv-1"
CONNECT_TIMEOUT_S = 10.0


def make_certs(directory: Path) -> TlsFiles:
    """A CA and a broker certificate for localhost / 127.0.0.1, by the deploy script."""
    subprocess.run([str(MAKE_CERTS), str(directory), "localhost"], check=True, capture_output=True)
    return TlsFiles.in_dir(directory)


@dataclass
class Site:
    """One installed warehouse: its servers, credentials and certificates."""

    etc: Path
    creds: provision.Credentials
    station_passwords: dict[str, str]
    tls: TlsFiles
    broker: ServerProcess
    influxd: ServerProcess
    password_file: Path
    database: str
    secure: SecureSite

    @property
    def influx_url(self) -> str:
        return f"http://127.0.0.1:{self.influxd.port}"

    def mqtt(
        self, username: str | None, password: str | None, *, tls: bool = False
    ) -> MqttSettings:
        """Settings for one MQTT user: loopback plain listener, or the stations' TLS one."""
        return MqttSettings.model_validate(
            {
                "host": "127.0.0.1",
                "port": self.broker.tls_port if tls else self.broker.port,
                "username": username,
                "password": password,
                "tls_ca": self.tls.cafile if tls else None,
                "keepalive_s": 10,
            }
        )

    def user_mqtt(self, username: str, *, tls: bool = False) -> MqttSettings:
        """Settings for a provisioned user, with its generated password."""
        passwords = {
            provision.MQTT_SERVICES_USER: self.creds.mqtt_services,
            provision.MQTT_API_USER: self.creds.mqtt_api,
            provision.MQTT_OPERATOR_USER: self.creds.mqtt_operator,
            **self.station_passwords,
        }
        return self.mqtt(username, passwords[username], tls=tls)


@pytest.fixture(scope="package")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """Certificates, credentials, Mosquitto users, broker and InfluxDB, set up once."""
    secure = start_secure_site(tmp_path_factory.mktemp("deployed"), stations=STATIONS)
    try:
        station_passwords = {s: secure.station_password(s) for s in STATIONS}
        # A station added while the broker runs, with Mosquitto's own tool, then a reload
        # (SIGHUP), as `install.sh --add-station` reloads it.
        station_passwords[PASSWD_STATION] = provision.new_secret()
        subprocess.run(
            [
                "mosquitto_passwd",
                "-b",
                str(secure.password_file),
                PASSWD_STATION,
                station_passwords[PASSWD_STATION],
            ],
            check=True,
            capture_output=True,
        )
        reloads = secure.broker.log_path.read_text().count("Reloading config")
        secure.broker.process.send_signal(signal.SIGHUP)
        wait_for(
            lambda: secure.broker.log_path.read_text().count("Reloading config") > reloads,
            what="the broker reloaded its password file",
        )
        yield Site(
            secure.etc,
            provision.load_credentials(secure.etc),
            station_passwords,
            secure.tls,
            secure.broker,
            secure.influxd,
            secure.password_file,
            secure.database,
            secure,
        )
    finally:
        secure.stop()


class Client:
    """An MQTT client of one user: what it receives, and how the broker answered its publishes."""

    def __init__(
        self, settings: MqttSettings, *topics: str, client_id: str = "test-client"
    ) -> None:
        self.messages: queue.Queue[Message] = queue.Queue()
        self.acks: queue.Queue[tuple[int, bool]] = queue.Queue()
        self.connection_changes: list[bool] = []
        self.link = MqttLink(
            settings,
            client_id,
            subscriptions=[(t, 1) for t in topics],
            on_message=self.messages.put,
            on_published=lambda mid, ok: self.acks.put((mid, ok)),
            on_connection=self.connection_changes.append,
        )
        self.link.start()

    def ready(self) -> Client:
        """Wait until connected and subscribed; fail with the broker's answer otherwise."""
        if not (
            self.link.wait_connected(CONNECT_TIMEOUT_S)
            and self.link.wait_subscribed(CONNECT_TIMEOUT_S)
        ):
            self.close()
            pytest.fail(f"{self.link.client_id} did not connect: {self.link.last_error}")
        return self

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> bool:
        """Publish at QoS 1; True if the broker accepted it (MQTT 5 PUBACK reason code)."""
        mid = self.link.publish(topic, payload, qos=1, retain=retain)
        got_mid, ok = self.acks.get(timeout=CONNECT_TIMEOUT_S)
        assert got_mid == mid
        return ok

    def received(self) -> list[Message]:
        """Everything received so far."""
        out = []
        while not self.messages.empty():
            out.append(self.messages.get_nowait())
        return out

    def wait_message(self, topic: str, timeout: float = CONNECT_TIMEOUT_S) -> list[Message]:
        """Everything received up to and including the first message on ``topic``."""
        seen: list[Message] = []
        while True:
            msg = self.messages.get(timeout=timeout)
            seen.append(msg)
            if msg.topic == topic:
                return seen

    def close(self) -> None:
        self.link.stop()


@pytest.fixture
def clients() -> Iterator[list[Client]]:
    """Clients made by a test, closed after it."""
    made: list[Client] = []
    yield made
    for client in made:
        client.close()
