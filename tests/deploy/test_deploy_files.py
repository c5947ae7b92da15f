"""The installer's files agree with each other: units, compose, templates, secret files."""

from __future__ import annotations

import configparser
import os
import shlex
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from gudang.settings import load_settings
from gudang_ops import provision
from gudang_ops.servers import DEPLOY_DIR

COMPOSE_DIR = DEPLOY_DIR / "compose"
UNITS = {
    "gudang-services.service": ("services", "/etc/gudang/gudang.toml", "/etc/gudang/services.env"),
    "gudang-api.service": ("api", "/etc/gudang/gudang.toml", "/etc/gudang/api.env"),
    "gudang-bridge.service": ("bridge", "/etc/gudang/station.toml", "/etc/gudang/station.env"),
}
SCRIPTS = [
    DEPLOY_DIR / "install.sh",
    DEPLOY_DIR / "install-station.sh",
    DEPLOY_DIR / "backup.sh",
    DEPLOY_DIR / "mosquitto" / "make-certs.sh",
    COMPOSE_DIR / "prepare.sh",
]


def _unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read(DEPLOY_DIR / "systemd" / name)
    return parser


@pytest.mark.parametrize("name", sorted(UNITS))
def test_systemd_units_restart_and_use_the_installed_files(name: str) -> None:
    role, config, env_file = UNITS[name]
    service = _unit(name)["Service"]
    assert service["Restart"] == "on-failure"
    assert service["RestartPreventExitStatus"] == "2"  # settings errors: gudang_ops.cli exits 2
    assert shlex.split(service["ExecStart"]) == [
        "/opt/gudang/venv/bin/gudang",
        "--config",
        config,
        role,
    ]
    assert service["EnvironmentFile"] == env_file
    assert service["User"] == f"gudang-{role}"
    install = (
        DEPLOY_DIR / ("install-station.sh" if role == "bridge" else "install.sh")
    ).read_text()
    # The installer writes the very files the unit reads.
    assert f"$ETC/{Path(config).name}" in install
    assert name in install
    if role == "bridge":
        assert "$ETC/station.env" in install
    else:  # written by `provision credentials --etc $ETC`, named by gudang_ops.provision
        assert 'provision credentials --etc "$ETC"' in install
        assert (
            Path(env_file).name
            == {"services": provision.SERVICES_ENV, "api": provision.API_ENV}[role]
        )


def test_each_process_runs_as_its_own_user() -> None:
    users = {_unit(name)["Service"]["User"] for name in UNITS}
    assert len(users) == len(UNITS)


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_scripts_are_valid_bash_and_executable(script: Path) -> None:
    subprocess.run(["bash", "-n", str(script)], check=True)
    assert os.access(script, os.X_OK)


def test_the_installers_library_is_valid_bash_and_sourced_by_both() -> None:
    library = DEPLOY_DIR / "install-lib.sh"
    subprocess.run(["bash", "-n", str(library)], check=True)
    # Sourced, not run: it has no program of its own.
    assert not os.access(library, os.X_OK)
    for installer in ("install.sh", "install-station.sh"):
        assert "install-lib.sh" in (DEPLOY_DIR / installer).read_text(), installer


def _compose() -> dict[str, Any]:
    data = yaml.safe_load((COMPOSE_DIR / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def _sources(service: dict[str, Any]) -> list[str]:
    return [v.split(":")[0] for v in service.get("volumes", [])]


def test_compose_uses_the_deploy_files_and_the_same_paths() -> None:
    services = _compose()["services"]
    assert set(services) == {"mosquitto", "influxdb", "influxdb-setup", "services", "api"}
    for name, service in services.items():
        # Loopback bindings of the configuration work only on the host's network.
        assert service["network_mode"] == "host", name
        assert service["restart"] in {"on-failure", "unless-stopped", "no"}, name
    assert "../mosquitto/acl" in _sources(services["mosquitto"])
    assert "./run/mosquitto.conf" in _sources(services["mosquitto"])
    assert "./run/influxdb.conf" in _sources(services["influxdb"])
    assert "../influxdb/setup.toml" in _sources(services["influxdb-setup"])
    for role in ("services", "api"):
        service = services[role]
        _, config, env_file = UNITS[f"gudang-{role}.service"]
        # Same settings file path and same command as the systemd unit.
        assert f"./run/gudang.toml:{config}:ro" in service["volumes"]
        assert service["command"] == ["gudang", "--config", config, role]
        assert service["env_file"] == f"./run/etc/{Path(env_file).name}"
    for source in _sources(services["mosquitto"]) + _sources(services["influxdb-setup"]):
        if source.startswith("../"):
            assert (COMPOSE_DIR / source).exists(), source


def test_compose_prepare_renders_every_mounted_file(tmp_path: Path) -> None:
    out = tmp_path / "run"
    subprocess.run(
        [str(COMPOSE_DIR / "prepare.sh"), "blitar", "localhost", "--out", str(out)],
        check=True,
        capture_output=True,
        env={**os.environ, "PYTHON": sys.executable},
    )
    services = _compose()["services"]
    mounted = [s for svc in services.values() for s in _sources(svc) if s.startswith("./run/")]
    mounted += [svc["env_file"] for svc in services.values() if "env_file" in svc]
    for source in mounted:
        assert (out / source.removeprefix("./run/")).exists(), source
    conf = (out / "mosquitto.conf").read_text()
    assert "$" not in conf.replace("$SYS", "")  # every placeholder filled
    assert "password_file /mosquitto/config/passwd" in conf
    users = {line.split(":")[0] for line in (out / "passwd").read_text().splitlines()}
    assert users == {"services", "api", "operator"}
    settings = load_settings(out / "gudang.toml")
    assert settings.site.environment == "production"


def test_site_templates_load_as_production_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    etc = tmp_path / "etc"
    provision.ensure_credentials(etc)
    config = tmp_path / "gudang.toml"
    config.write_text(
        provision.render(
            DEPLOY_DIR / "gudang" / "gudang.toml",
            site="blitar",
            mqtt_port=1883,
            influx_port=8086,
            api_port=8000,
            api_tls_port=8443,
        )
    )
    for key, value in provision.read_env(etc / provision.SERVICES_ENV).items():
        monkeypatch.setenv(key, value)
    assert provision.ensure_api_admin_token(etc, config)
    assert not provision.ensure_api_admin_token(etc, config)  # once only
    token_file = etc / provision.API_ADMIN_TOKEN
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    services = load_settings(config)
    services.require_secrets("mqtt", "influx")
    from api.auth import hash_token

    [admin] = services.api.tokens
    assert (admin.name, admin.role) == ("admin", "admin")
    assert admin.sha256 == hash_token(token_file.read_text().strip())
    assert token_file.read_text().strip() not in config.read_text()
    assert (services.mqtt.host, services.mqtt.port) == ("127.0.0.1", 1883)
    assert services.influx.username == provision.INFLUX_SERVICES_USER
    # HTTPS for the phones, with the installer's certificate (docs/install.md).
    assert (services.api.port, services.api.tls_port) == (8000, 8443)
    assert str(services.api.tls_certfile) == "/etc/gudang/tls/api.crt"
    assert str(services.api.tls_keyfile) == "/etc/gudang/tls/api.key"

    station_env = provision.add_station(etc, tmp_path / "passwd", "load-1")
    devices = '\n[[station.devices]]\nname = "scanner"\nrole = "scanner"\nport = "/dev/ttyUSB0"\n'
    station_toml = tmp_path / "station.toml"
    station_toml.write_text(
        provision.render(
            DEPLOY_DIR / "gudang" / "station.toml",
            site="blitar",
            station="load-1",
            broker_host="192.0.2.10",
            broker_port=8883,
            mode="loading",
            devices=devices,
        )
    )
    monkeypatch.delenv("GUDANG_INFLUX__USERNAME")
    monkeypatch.delenv("GUDANG_INFLUX__PASSWORD")
    for key, value in provision.read_env(station_env).items():
        monkeypatch.setenv(key, value)
    bridge = load_settings(station_toml)
    bridge.require_secrets("mqtt")
    assert bridge.mqtt.username == "load-1" == bridge.station.name
    assert (bridge.mqtt.port, str(bridge.mqtt.tls_ca)) == (8883, "/etc/gudang/ca.crt")
    assert [d.port for d in bridge.station.devices] == ["/dev/ttyUSB0"]


def test_secret_files_are_private_and_kept(tmp_path: Path) -> None:
    etc = tmp_path / "etc"
    first = provision.ensure_credentials(etc)
    files = sorted(etc.iterdir())
    assert [f.name for f in files] == ["api.env", "operator.env", "services.env"]
    for f in files:
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    assert provision.ensure_credentials(etc) == first  # a re-run never rotates silently
    values = [
        first.mqtt_services,
        first.mqtt_api,
        first.mqtt_operator,
        first.influx_admin,
        first.influx_services,
        first.influx_api,
    ]
    assert len(set(values)) == len(values)
    assert all(len(v) == 32 for v in values)

    loose = tmp_path / "loose"
    loose.write_text("old")
    loose.chmod(0o644)
    provision.write_private(loose, "new")
    assert stat.S_IMODE(loose.stat().st_mode) == 0o600
    assert loose.read_text() == "new"


def test_render_refuses_a_missing_placeholder() -> None:
    with pytest.raises(provision.ProvisionError, match=r"no value for placeholder \$password_file"):
        provision.render(DEPLOY_DIR / "mosquitto" / "mosquitto.conf", port=1883)


ALL_UNITS = sorted(p.name for p in (DEPLOY_DIR / "systemd").glob("*.service"))
# systemd-analyze security's exposure score (0 safe .. 10 unsafe) each unit must stay under.
MAX_EXPOSURE = 2.0


@pytest.mark.parametrize("name", ALL_UNITS)
def test_every_unit_is_hardened(name: str) -> None:
    service = _unit(name)["Service"]
    assert service["NoNewPrivileges"] == "yes"
    assert service["ProtectSystem"] == "strict"
    assert service["ProtectHome"] == "yes"
    assert service["PrivateTmp"] == "yes"
    assert service["MemoryMax"].endswith(("M", "G"))
    assert service["UMask"] == "0077"
    assert "SystemCallFilter" in service
    if name == "gudang-backup.service":
        # Root only to read other users' 0600 secrets: that one capability, nothing else.
        assert service["CapabilityBoundingSet"] == "CAP_DAC_READ_SEARCH"
        assert service["ReadWritePaths"] == "/var/backups/gudang"
        assert "install -d -m 0700 /var/backups/gudang" in (DEPLOY_DIR / "install.sh").read_text()
    else:
        assert service["User"].startswith("gudang-")
        assert service["CapabilityBoundingSet"] == ""


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
@pytest.mark.parametrize("name", ALL_UNITS)
def test_every_unit_scores_ok_in_systemd_analyze_security(name: str) -> None:
    done = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", str(DEPLOY_DIR / "systemd" / name)],
        capture_output=True,
        text=True,
        check=True,
    )
    [overall] = [line for line in done.stdout.splitlines() if "Overall exposure level" in line]
    score = float(overall.split(":")[1].split()[0])
    assert score <= MAX_EXPOSURE, overall


def test_the_installer_installs_every_unit() -> None:
    install = (DEPLOY_DIR / "install.sh").read_text()
    station = (DEPLOY_DIR / "install-station.sh").read_text()
    for path in (DEPLOY_DIR / "systemd").iterdir():
        assert path.name in install or path.name in station, path.name


def test_units_and_gudang_start_give_the_same_state_directory() -> None:
    from gudang_ops import site

    for part in (*site.SERVER_PARTS, site.BRIDGE):
        if part.unit.startswith("gudang-"):
            service = _unit(f"{part.unit}.service")["Service"]
            # What systemd makes writable (ProtectSystem=strict), gudang start makes too.
            expected = service.get("StateDirectory")
            got = part.state_dir.name if part.state_dir else None
            assert got == expected, part.name
            assert service["User"] == part.user
            assert service["EnvironmentFile"] == str(part.env_file)
            assert shlex.split(service["ExecStart"]) == list(part.argv)
