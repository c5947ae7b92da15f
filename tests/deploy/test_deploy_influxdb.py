"""InfluxDB from deploy/influxdb/ (auth on), set up by gudang_ops.provision as the installer does;
and the whole path with each part under its own generated users."""

from __future__ import annotations

import os
import stat
import subprocess
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gudang.influx import InfluxClient, InfluxRejected, quote_str
from gudang.settings import InfluxSettings, Settings, load_settings
from gudang.wire import (
    ContainerStateV1,
    ScanKind,
    ScanV1,
    Topics,
    WeightStatus,
    container_state_decoder,
    encode,
    reply_decoder,
)
from gudang_ops import provision
from gudang_ops.servers import DEPLOY_DIR, PRODUCTION_INFLUX_DIR
from tests.deploy.conftest import Client, Site
from tests.harness import influx_rows, running_services, wait_for

CONTAINER = "CSQU3054383"
SCHEMA = PRODUCTION_INFLUX_DIR / "setup.toml"


def _influx(site: Site, user: str | None, password: str | None) -> InfluxClient:
    return InfluxClient(
        InfluxSettings.model_validate(
            {
                "url": site.influx_url,
                "database": site.database,
                "username": user,
                "password": password,
                "create_database": False,
            }
        )
    )


def _point(measurement: str = "probe") -> str:
    return f"{measurement},site=deploytest value=1i {time.time_ns()}"


def test_api_user_reads_but_cannot_write(deployed: Site) -> None:
    api = _influx(deployed, provision.INFLUX_API_USER, deployed.creds.influx_api)
    services = _influx(deployed, provision.INFLUX_SERVICES_USER, deployed.creds.influx_services)
    try:
        services.write([_point()])
        assert api.query("SELECT count(value) FROM probe")[0]["count"] >= 1
        with pytest.raises(InfluxRejected) as refused:
            api.write([_point()])
        assert refused.value.status == 403
        # Neither may create databases or users: that is the admin's, at install.
        for client in (api, services):
            with pytest.raises(InfluxRejected) as refused:
                client.query('CREATE DATABASE "other"', db=False)
            assert refused.value.status == 403
    finally:
        api.close()
        services.close()


def test_credentials_travel_in_a_header_never_in_the_url(deployed: Site) -> None:
    """URLs end up in access logs and proxies; the password must not be in one."""
    password = deployed.creds.influx_services
    services = _influx(deployed, provision.INFLUX_SERVICES_USER, password)
    urls: list[str] = []
    services._http.event_hooks["request"].append(lambda request: urls.append(str(request.url)))
    try:
        services.write([_point()])
        assert services.query("SELECT count(value) FROM probe")[0]["count"] >= 1
    finally:
        services.close()
    assert len(urls) == 2
    for url in urls:
        assert password not in url
        assert provision.INFLUX_SERVICES_USER not in url


@pytest.mark.parametrize(
    ("user", "password"),
    [
        (provision.INFLUX_SERVICES_USER, "wrong-password-for-the-services"),
        (provision.INFLUX_ADMIN_USER, "wrong-password-for-the-admin-xx"),
        ("nobody", "whatever-password-1234567"),
        (None, None),
    ],
)
def test_wrong_or_missing_password_is_refused(
    deployed: Site, user: str | None, password: str | None
) -> None:
    client = _influx(deployed, user, password)
    try:
        for attempt in (
            lambda: client.query("SHOW MEASUREMENTS"),
            lambda: client.write([_point()]),
        ):
            with pytest.raises(InfluxRejected) as refused:
                attempt()
            assert refused.value.status == 401
    finally:
        client.close()


def test_retention_policies_and_weight_downsampling(deployed: Site) -> None:
    admin = provision.InfluxAdmin(
        deployed.influx_url, provision.INFLUX_ADMIN_USER, deployed.creds.influx_admin
    )
    policies = {
        r["name"]: r for r in admin.query(f'SHOW RETENTION POLICIES ON "{deployed.database}"')
    }
    assert set(policies) == {"main", "weight_raw"}  # no unused "autogen"
    assert policies["main"]["default"] is True
    assert policies["main"]["duration"] == "43680h0m0s"  # 260 weeks
    assert policies["weight_raw"]["duration"] == "720h0m0s"  # 30 days
    assert policies["weight_raw"]["default"] is False

    cqs = [r for r in admin.query("SHOW CONTINUOUS QUERIES") if r["name"] == "weight_1m"]
    assert len(cqs) == 1
    assert "INTO gudang.main.weight_1m FROM gudang.weight_raw.weight" in cqs[0]["query"]

    # Raw readings as the services would write them (their user, into weight_raw)...
    services = InfluxClient(
        InfluxSettings.model_validate(
            {
                "url": deployed.influx_url,
                "database": deployed.database,
                "retention_policy": "weight_raw",
                "username": provision.INFLUX_SERVICES_USER,
                "password": deployed.creds.influx_services,
            }
        )
    )
    minute = (time.time_ns() // 60_000_000_000 - 5) * 60_000_000_000
    station = f"s{uuid.uuid4().hex[:8]}"
    try:
        services.write(
            [
                f"weight,site=deploytest,station={station} weight_kg={kg} {minute + i * 10**9}"
                for i, kg in enumerate((9.0, 9.5, 10.0, 11.5))
            ]
        )
    finally:
        services.close()
    # ...then one run of the continuous query's own SELECT over that minute (InfluxDB
    # runs it by itself every minute; a test cannot wait for its schedule).
    schema = provision.InfluxSchema.load(SCHEMA)
    select = schema.cq_text(schema.continuous_queries[0])
    head, group_by = select.split(" GROUP BY ")
    admin.query(
        f"{head} WHERE time >= {minute} AND time < {minute + 60 * 10**9} GROUP BY {group_by}",
        db=deployed.database,
    )
    api = _influx(deployed, provision.INFLUX_API_USER, deployed.creds.influx_api)
    try:
        rows = api.query(f"SELECT * FROM main.weight_1m WHERE station = {quote_str(station)}")
    finally:
        api.close()
    assert len(rows) == 1
    assert rows[0]["time"] == minute
    assert rows[0]["weight_kg"] == pytest.approx(10.0)
    assert rows[0]["min_kg"] == pytest.approx(9.0)
    assert rows[0]["max_kg"] == pytest.approx(11.5)
    assert rows[0]["readings"] == 4


def test_setup_refuses_an_influxdb_without_auth(tmp_path: Path) -> None:
    # The local demo's InfluxDB (deploy/local/, auth off): provisioning must not touch it.
    from gudang_ops.servers import start_influxd

    open_server = start_influxd(tmp_path / "influxdb")
    creds = provision.ensure_credentials(tmp_path / "etc")
    try:
        with pytest.raises(provision.ProvisionError, match="answers without credentials"):
            provision.setup_influx(
                f"http://127.0.0.1:{open_server.port}", provision.InfluxSchema.load(SCHEMA), creds
            )
        admin = provision.InfluxAdmin(f"http://127.0.0.1:{open_server.port}", None, None)
        assert admin.query("SHOW USERS") == []
        assert admin.query("SHOW DATABASES") == []
    finally:
        open_server.stop()


def test_setup_again_keeps_passwords_and_schema(deployed: Site) -> None:
    # An upgrade re-runs the installer: same credentials files, same result.
    again = provision.ensure_credentials(deployed.etc)
    assert again == deployed.creds
    done = provision.setup_influx(deployed.influx_url, provision.InfluxSchema.load(SCHEMA), again)
    assert "user gudang_api (READ on gudang)" in done
    assert not any(line.startswith("database") for line in done)  # it existed
    api = _influx(deployed, provision.INFLUX_API_USER, deployed.creds.influx_api)
    try:
        assert isinstance(api.query("SHOW MEASUREMENTS"), list)
        with pytest.raises(InfluxRejected):
            api.write([_point()])
    finally:
        api.close()


def _settings_from_env_file(
    monkeypatch: pytest.MonkeyPatch, env_file: Path, deployed: Site, site_name: str
) -> Settings:
    """Settings as systemd gives them: a file without secrets, secrets in the environment."""
    with monkeypatch.context() as env:
        for key, value in provision.read_env(env_file).items():
            env.setenv(key, value)
        settings = load_settings(
            None,
            {
                "site": {"name": site_name, "environment": "production"},
                "mqtt": {"host": "127.0.0.1", "port": deployed.broker.port, "keepalive_s": 10},
                "influx": {
                    "url": deployed.influx_url,
                    "database": deployed.database,
                    "create_database": False,
                },
                "ingest": {"linger_ms": 5},
            },
        )
    settings.require_secrets("mqtt", "influx")
    return settings


def _scan(site: str, barcode: str, kind: ScanKind, weight: float | None) -> ScanV1:
    return ScanV1(
        id=uuid.uuid4().hex,
        ts=datetime.now(UTC),
        site=site,
        station="load-1",
        barcode=barcode,
        kind=kind,
        weight_kg=weight,
        weight_stable=weight is not None,
        weight_status=WeightStatus.STABLE if weight is not None else WeightStatus.NO_SCALE,
    )


def test_services_run_end_to_end_with_their_own_users(
    deployed: Site, site: str, clients: list[Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    topics = Topics(site)
    services_settings = _settings_from_env_file(
        monkeypatch, deployed.etc / provision.SERVICES_ENV, deployed, site
    )
    api_settings = _settings_from_env_file(
        monkeypatch, deployed.etc / provision.API_ENV, deployed, site
    )
    assert services_settings.mqtt.username == "services"
    assert api_settings.influx.username == "gudang_api"

    with running_services(services_settings) as services:
        # The API's MQTT user asks the services to open a container and follows its state.
        api = Client(
            api_settings.mqtt, topics.all_replies, topics.state_container(CONTAINER)
        ).ready()
        clients.append(api)
        request = b'{"v":1,"request_id":"open-deploy-1","args":{"container_no":"CSQU3054383"}}'
        assert api.publish(topics.command("container/open"), request)
        reply = reply_decoder.decode(api.wait_message(topics.reply("open-deploy-1"))[-1].payload)
        assert reply.ok, reply.error

        # A station, over TLS with its own user, points itself at the container, loads a drum.
        station = Client(deployed.user_mqtt("load-1", tls=True)).ready()
        clients.append(station)
        for scan in (
            _scan(site, CONTAINER, ScanKind.CONTAINER, None),
            _scan(site, "CB-JMB-L-000123", ScanKind.DRUM, 9.25),
        ):
            assert station.publish(topics.scan("load-1"), encode(scan))

        def drums() -> ContainerStateV1 | None:
            for msg in api.received():
                state = container_state_decoder.decode(msg.payload)
                if msg.topic == topics.state_container(CONTAINER) and state.drums == 1:
                    return state
            return None

        state = wait_for(drums, what="the drum counted, as the API user sees it")
        assert state.net_weight_kg == pytest.approx(9.25)
        assert services.ingest.counters["scan_loaded"] == 1

    rows = influx_rows(
        api_settings.influx,
        f"SELECT * FROM scan WHERE site = {quote_str(site)} AND result = 'loaded'",
    )
    assert [(r["drum"], r["container_no"], r["station"]) for r in rows] == [
        ("CB-JMB-L-000123", CONTAINER, "load-1")
    ]

    # No password ever reached a server's log.
    logs = deployed.broker.log_path.read_text(errors="replace") + deployed.influxd.tail(100_000)
    for secret in (
        deployed.creds.mqtt_services,
        deployed.creds.mqtt_api,
        deployed.creds.influx_admin,
        deployed.creds.influx_services,
        deployed.creds.influx_api,
        deployed.station_passwords["load-1"],
    ):
        assert secret not in logs


def _rpc_port(data_dir: Path) -> str:
    # The top-level bind-address of the rendered deploy/influxdb/influxdb.conf: backup's port.
    conf = (data_dir / "influxdb.conf").read_text()
    return conf.split('bind-address = "127.0.0.1:')[1].split('"')[0]


def test_backup_and_restore_onto_a_new_install(deployed: Site, tmp_path: Path) -> None:
    """docs/operations.md: deploy/backup.sh, then restore on a freshly installed box."""
    from gudang_ops.servers import start_production_influxd

    marker = f"m{uuid.uuid4().hex[:10]}"
    services = _influx(deployed, provision.INFLUX_SERVICES_USER, deployed.creds.influx_services)
    try:
        services.write(
            [f"backup_probe,site={marker} n={i}i {time.time_ns() + i}" for i in range(5)]
        )
    finally:
        services.close()
    rpc = _rpc_port(deployed.influxd.data_dir)
    backups = tmp_path / "backups"
    subprocess.run(
        [str(DEPLOY_DIR / "backup.sh"), str(backups)],
        check=True,
        capture_output=True,
        env={**os.environ, "INFLUX_RPC": f"127.0.0.1:{rpc}", "ETC_DIRS": str(deployed.etc)},
    )
    [taken] = list(backups.iterdir())
    assert stat.S_IMODE(taken.stat().st_mode) == 0o700  # it holds every password
    backup = taken / "influxdb"
    # The secrets come back byte for byte, still 0600.
    restored_etc = tmp_path / "restored-etc"
    restored_etc.mkdir()
    subprocess.run(["tar", "-xzf", str(taken / "etc.tar.gz"), "-C", str(restored_etc)], check=True)
    copy = restored_etc / str(deployed.etc).lstrip("/") / provision.SERVICES_ENV
    assert copy.read_bytes() == (deployed.etc / provision.SERVICES_ENV).read_bytes()
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600

    new_box = start_production_influxd(tmp_path / "new-influxdb")
    url = f"http://127.0.0.1:{new_box.port}"
    new_rpc = _rpc_port(new_box.data_dir)
    schema = provision.InfluxSchema.load(SCHEMA)
    try:
        provision.setup_influx(url, schema, deployed.creds)  # install.sh on the new box
        admin = provision.InfluxAdmin(url, provision.INFLUX_ADMIN_USER, deployed.creds.influx_admin)
        admin.query(f'DROP DATABASE "{deployed.database}"')  # the empty one install made
        subprocess.run(
            [
                "influxd",
                "restore",
                "-portable",
                "-host",
                f"127.0.0.1:{new_rpc}",
                "-db",
                deployed.database,
                str(backup),
            ],
            check=True,
            capture_output=True,
        )
        provision.setup_influx(url, schema, deployed.creds)  # grants, RPs and CQ again
        api = provision.InfluxAdmin(url, provision.INFLUX_API_USER, deployed.creds.influx_api)
        rows = api.query(
            f"SELECT sum(n) FROM backup_probe WHERE site = {quote_str(marker)}",
            db=deployed.database,
        )
        assert rows[0]["sum"] == 0 + 1 + 2 + 3 + 4
        policies = {
            r["name"]: r["default"]
            for r in admin.query(f'SHOW RETENTION POLICIES ON "{deployed.database}"')
        }
        assert policies == {"main": True, "weight_raw": False}
    finally:
        new_box.stop()


def test_secure_site_settings_give_each_part_its_own_users(
    deployed: Site, clients: list[Client]
) -> None:
    """What `gudang stack --secure` runs with: services, API and station, each its own user."""
    base = load_settings(None, {"site": {"name": "blitar"}})
    services = deployed.secure.settings_for(base, "services")
    api = deployed.secure.settings_for(base, "api")
    station = deployed.secure.settings_for(base, "load-2")
    assert station.mqtt.port == deployed.broker.tls_port
    assert station.mqtt.tls_ca == deployed.tls.cafile
    topics = Topics("blitar")
    follower = Client(services.mqtt, topics.all_scans).ready()
    clients.append(follower)
    bridge = Client(station.mqtt).ready()
    clients.append(bridge)
    assert bridge.publish(topics.scan("load-2"), b"{}")
    assert not bridge.publish(topics.scan("load-1"), b"{}")
    follower.wait_message(topics.scan("load-2"))
    writer, reader = InfluxClient(services.influx), InfluxClient(api.influx)
    try:
        writer.write([_point("secure_site")])
        assert reader.query("SELECT count(value) FROM secure_site")[0]["count"] == 1
        with pytest.raises(InfluxRejected):
            reader.write([_point("secure_site")])
    finally:
        writer.close()
        reader.close()


def test_debug_endpoints_profiling_closed_statistics_loopback_only(deployed: Site) -> None:
    # InfluxDB 1.6 has a switch for the profiling endpoints (pprof-enabled: off here) but
    # none for /debug/vars and /debug/requests, which answer without credentials. They are
    # reachable from this machine only (bind-address 127.0.0.1), list user names and client
    # addresses but no password: what docs/install.md says ("Security, in short").
    import httpx

    assert 'bind-address = "127.0.0.1:' in (deployed.influxd.config or Path()).read_text()
    pprof = httpx.get(f"{deployed.influx_url}/debug/pprof/", timeout=10)
    assert pprof.status_code == 404
    stats = httpx.get(f"{deployed.influx_url}/debug/vars", timeout=10)
    assert stats.status_code == 200
    requests = httpx.get(f"{deployed.influx_url}/debug/requests?seconds=1", timeout=10)
    assert requests.status_code == 200
    passwords = [
        deployed.creds.influx_admin,
        deployed.creds.influx_services,
        deployed.creds.influx_api,
    ]
    for body in (stats.text, requests.text):
        assert not [p for p in passwords if p in body]
