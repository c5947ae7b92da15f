"""The production broker (deploy/mosquitto/) refuses whoever is not who they claim."""

from __future__ import annotations

from pathlib import Path

import pytest

from gudang.wire import Topics
from tests.deploy.conftest import Client, Site, make_certs
from tests.harness import wait_for

SITE = "blitar"
T = Topics(SITE)


def _failed_tls_handshakes(site: Site) -> int:
    text = site.broker.log_path.read_text(errors="replace")
    return sum("SSL routines" in line for line in text.splitlines())


def _refusals(caplog: pytest.LogCaptureFixture, client_id: str) -> list[str]:
    # gudang.mqtt logs the CONNACK's reason code when the broker refuses a connection.
    prefix = f"MQTT {client_id}: broker refused connection: "
    return [
        r.getMessage()[len(prefix) :] for r in caplog.records if r.getMessage().startswith(prefix)
    ]


def test_anonymous_client_is_refused(
    deployed: Site, clients: list[Client], caplog: pytest.LogCaptureFixture
) -> None:
    anonymous = Client(deployed.mqtt(None, None), client_id="anon")
    clients.append(anonymous)
    reasons = wait_for(lambda: _refusals(caplog, "anon"), what="the broker's refusal")
    assert reasons[0] == "Not authorized"  # CONNACK reason code 0x87
    assert anonymous.connection_changes == []


def test_wrong_password_is_refused_and_not_logged(
    deployed: Site, clients: list[Client], caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "not-the-services-password-123456"
    impostor = Client(deployed.mqtt("services", wrong), client_id="impostor")
    clients.append(impostor)
    reasons = wait_for(lambda: _refusals(caplog, "impostor"), what="the broker's refusal")
    assert reasons[0] in {"Not authorized", "Bad user name or password"}
    assert impostor.connection_changes == []
    log = deployed.broker.log_path.read_text(errors="replace")
    assert wrong not in log
    assert deployed.creds.mqtt_services not in log


# (user, topic, may publish): the ACL of deploy/mosquitto/acl as a table.
ACL = [
    ("load-1", T.scan("load-1"), True),
    ("load-1", T.status("load-1"), True),
    ("load-1", T.weight("load-1"), True),
    ("load-1", T.scan("load-2"), False),  # station A as station B
    ("load-1", T.status("load-2"), False),
    ("load-1", T.station_command("load-1"), False),  # commands come from services / API
    ("load-1", T.receipts("load-1"), False),  # receipts come from the services only
    ("load-1", T.receipts("load-2"), False),
    ("load-1", T.state_stock, False),
    ("load-1", T.command("container/open"), False),
    ("load-1", T.alert("container_full-CSQU3054383"), False),
    ("load-1", T.deadletter, False),
    ("load-1", T.reply("r-0001"), False),
    ("services", T.state_container("CSQU3054383"), True),
    ("services", T.state_stock, True),
    ("services", T.alert("container_full-CSQU3054383"), True),
    ("services", T.deadletter, True),
    ("services", T.reply("r-0001"), True),
    ("services", T.station_command("load-1"), True),
    ("services", T.receipts("load-1"), True),
    ("services", T.scan("load-1"), False),
    ("services", T.command("container/open"), False),
    ("api", T.command("container/open"), True),
    ("api", T.station_command("load-1"), True),
    ("api", T.scan("load-1"), True),  # a phone's scan at a station with no bridge
    ("api", T.receipts("load-1"), False),
    ("api", T.state_stock, False),
    ("api", T.alert("x-1"), False),
    ("api", T.reply("r-0001"), False),
    ("operator", T.scan("load-1"), False),
    ("operator", T.command("container/open"), False),
]


def test_acl_table(deployed: Site, clients: list[Client]) -> None:
    by_user: dict[str, Client] = {}
    for user in sorted({u for u, _, _ in ACL}):
        by_user[user] = Client(deployed.user_mqtt(user), client_id=user).ready()
        clients.append(by_user[user])
    # Mosquitto 2.0.11 answers a denied MQTT 5 publish with PUBACK 0x87 "Not authorized"
    # and drops it; an allowed one with "Success".
    answers = [(u, t, by_user[u].publish(t, b"{}")) for u, t, _ in ACL]
    assert answers == ACL


def test_station_cannot_publish_as_another_station(deployed: Site, clients: list[Client]) -> None:
    # The services subscribe to every station's scans; the operator sees everything.
    services = Client(deployed.user_mqtt("services"), T.all_scans, T.all_status).ready()
    operator = Client(deployed.user_mqtt("operator"), f"gudang/{SITE}/#").ready()
    station_a = Client(deployed.user_mqtt("load-1", tls=True)).ready()
    clients.extend([services, operator, station_a])

    assert not station_a.publish(T.scan("load-2"), b'{"forged": true}')
    assert not station_a.publish(T.status("load-2"), b'{"state": "offline"}', retain=True)
    assert not station_a.publish(T.state_stock, b'{"items": []}', retain=True)
    assert station_a.publish(T.scan("load-1"), b'{"real": true}')

    # One connection delivers in order: had a forged message gone through, it would
    # arrive before the real one.
    assert [m.topic for m in services.wait_message(T.scan("load-1"))] == [T.scan("load-1")]
    assert [m.topic for m in operator.wait_message(T.scan("load-1"))] == [T.scan("load-1")]
    # Nothing forged was retained either: a fresh subscriber gets no retained message
    # before a marker the services publish after it subscribed.
    late = Client(
        deployed.user_mqtt("api"), T.status("load-2"), T.state_stock, T.state_container("marker")
    ).ready()
    clients.append(late)
    assert services.publish(T.state_container("marker"), b"{}")
    assert [m.topic for m in late.wait_message(T.state_container("marker"))] == [
        T.state_container("marker")
    ]


def test_station_reads_only_its_own_commands(deployed: Site, clients: list[Client]) -> None:
    # A station may subscribe to anything; Mosquitto delivers only what it may read.
    station_a = Client(
        deployed.user_mqtt("load-1", tls=True),
        "gudang/#",
        T.all_scans,
        "gudang/+/station/+/command",
    ).ready()
    station_b = Client(deployed.user_mqtt("load-2", tls=True)).ready()
    api = Client(deployed.user_mqtt("api")).ready()
    services = Client(deployed.user_mqtt("services")).ready()
    clients.extend([station_a, station_b, api, services])

    assert api.publish(T.station_command("load-2"), b'{"for": "load-2"}')
    assert services.publish(T.station_command("load-2"), b'{"for": "load-2"}')
    assert station_b.publish(T.scan("load-2"), b"{}")
    assert services.publish(T.state_stock, b"{}")
    assert services.publish(T.station_command("load-1"), b'{"for": "load-1"}')

    got = station_a.wait_message(T.station_command("load-1"))
    assert {m.topic for m in got} == {T.station_command("load-1")}
    assert all(m.payload == b'{"for": "load-1"}' for m in got)


def test_station_reads_only_its_own_receipts(deployed: Site, clients: list[Client]) -> None:
    # A receipt makes a station delete scans from its spool: another station's must never
    # reach it, and nobody but the services may send one.
    station_a = Client(
        deployed.user_mqtt("load-1", tls=True), "gudang/+/station/+/receipts"
    ).ready()
    station_b = Client(deployed.user_mqtt("load-2", tls=True)).ready()
    # The API reads every station's receipts (a phone's scan is answered once stored).
    api = Client(deployed.user_mqtt("api"), "gudang/+/station/+/receipts").ready()
    services = Client(deployed.user_mqtt("services")).ready()
    clients.extend([station_a, station_b, api, services])

    assert services.publish(T.receipts("load-2"), b'{"for": "load-2"}')
    assert not station_b.publish(T.receipts("load-1"), b'{"forged": "load-2"}')
    assert not api.publish(T.receipts("load-1"), b'{"forged": "api"}')
    assert services.publish(T.receipts("load-1"), b'{"for": "load-1"}')

    got = station_a.wait_message(T.receipts("load-1"))
    assert [(m.topic, m.payload) for m in got] == [(T.receipts("load-1"), b'{"for": "load-1"}')]
    got = api.wait_message(T.receipts("load-1"))
    assert [(m.topic, m.payload) for m in got] == [
        (T.receipts("load-2"), b'{"for": "load-2"}'),
        (T.receipts("load-1"), b'{"for": "load-1"}'),
    ]


def test_a_station_cannot_take_over_the_services_session(
    deployed: Site, clients: list[Client]
) -> None:
    services = Client(
        deployed.user_mqtt("services"), T.all_scans, client_id=f"gudang-services-{SITE}"
    ).ready()
    clients.append(services)
    # Same client id as the services: the broker replaces it by the station's username.
    thief = Client(deployed.user_mqtt("load-2"), client_id=f"gudang-services-{SITE}").ready()
    clients.append(thief)
    station = Client(deployed.user_mqtt("load-1")).ready()
    clients.append(station)
    assert station.publish(T.scan("load-1"), b"{}")
    services.wait_message(T.scan("load-1"))
    assert services.connection_changes == [True]  # never disconnected
    assert thief.received() == []


def test_station_with_a_password_made_by_mosquitto_passwd(
    deployed: Site, clients: list[Client]
) -> None:
    services = Client(deployed.user_mqtt("services"), T.all_scans).ready()
    station = Client(deployed.user_mqtt("recv-1", tls=True)).ready()
    clients.extend([services, station])
    assert station.publish(T.scan("recv-1"), b"{}")
    assert not station.publish(T.scan("load-1"), b"{}")
    services.wait_message(T.scan("recv-1"))


# paho drops the SSL socket of a failed handshake without closing it (CPython frees it at
# once, with a ResourceWarning): the client's leak, not the broker's behaviour under test.
@pytest.mark.filterwarnings(
    r"ignore:Exception ignored in. <ssl.SSLSocket:pytest.PytestUnraisableExceptionWarning"
)
def test_tls_listener_accepts_the_site_ca_only(
    deployed: Site, clients: list[Client], tmp_path: Path
) -> None:
    good = Client(deployed.user_mqtt("load-1", tls=True)).ready()
    clients.append(good)
    assert good.publish(T.scan("load-1"), b"{}")

    # No TLS at all on the TLS port.
    before = _failed_tls_handshakes(deployed)
    plain = deployed.user_mqtt("load-2").model_copy(update={"port": deployed.broker.tls_port})
    clients.append(Client(plain, client_id="plain"))
    wait_for(lambda: _failed_tls_handshakes(deployed) > before, what="plain client refused")
    assert not clients[-1].link.connected

    # TLS, but trusting another CA: the client must not accept the site's certificate.
    other = make_certs(tmp_path / "other-ca")
    before = _failed_tls_handshakes(deployed)
    wrong_ca = deployed.user_mqtt("load-2", tls=True).model_copy(update={"tls_ca": other.cafile})
    clients.append(Client(wrong_ca, client_id="wrong-ca"))
    wait_for(lambda: _failed_tls_handshakes(deployed) > before, what="unknown-CA handshake failed")
    assert not clients[-1].link.connected
    assert clients[-1].connection_changes == []


@pytest.mark.parametrize("user", ["services", "api", "operator"])
def test_site_users_are_refused_on_station_names(user: str, deployed: Site) -> None:
    from gudang_ops.provision import ProvisionError, add_station

    with pytest.raises(ProvisionError, match="reserved"):
        add_station(deployed.etc, deployed.password_file, user)


def test_the_broker_starts_without_deprecation_notes(deployed: Site) -> None:
    # Mosquitto 2.0 notes at every start that message_size_limit should be max_packet_size.
    assert deployed.broker.config is not None
    assert "max_packet_size 266240" in deployed.broker.config.read_text()
    stderr = (deployed.broker.data_dir / "mosquitto.stderr").read_text(errors="replace")
    log = deployed.broker.log_path.read_text(errors="replace")
    assert "running" in log  # the log the notes would be next to
    assert "It is recommended to replace" not in stderr + log


def test_a_payload_over_the_scan_limit_still_reaches_the_services(
    deployed: Site, clients: list[Client]
) -> None:
    # Up to 256 KiB reaches the services (which dead-letter it with a reason).
    # (the operator reads what the services read; their own session stays theirs)
    reader = Client(deployed.user_mqtt("operator"), T.scan("+"), client_id="operator").ready()
    station = Client(deployed.user_mqtt("load-1", tls=True), client_id="load-1").ready()
    clients.extend([reader, station])
    assert station.publish(T.scan("load-1"), b"x" * (200 * 1024))
    [*_, got] = reader.wait_message(T.scan("load-1"))
    assert len(got.payload) == 200 * 1024
