"""Secrets are refused when empty, default or weak outside the local demo."""

from __future__ import annotations

from pathlib import Path

import pytest

from gudang.settings import ConfigError, Settings, load_settings
from gudang_ops.cli import main

STRONG = "k3Jx9-vQ2mZt8LwB4nRy7sHd1FgUcEa0"  # 32 characters, like a generated one


def _production(**sections: dict[str, object]) -> Settings:
    return load_settings(None, {"site": {"environment": "production"}, **sections})


def test_local_needs_no_secrets() -> None:
    settings = load_settings(None, {})
    assert settings.site.environment == "local"
    settings.require_secrets("mqtt", "influx")  # no error: the demo runs without auth


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("mqtt", "password", ""),
        ("mqtt", "password", "changeme"),
        ("mqtt", "password", "PASSWORD"),
        ("mqtt", "password", "short-secret"),
        ("influx", "password", "gudang"),
        ("influx", "token", "admin"),
        ("influx", "token", "0123456789abcde"),  # one short of the minimum
    ],
)
def test_production_refuses_weak_secrets(section: str, key: str, value: str) -> None:
    with pytest.raises(ConfigError) as refused:
        _production(**{section: {"username": "u", key: value}})
    message = str(refused.value)
    assert f"{section}.{key}" in message
    if value:
        assert value not in message.replace(f"{section}.{key}", "")  # named, never shown


def test_production_requires_credentials_for_what_a_process_uses() -> None:
    settings = _production()
    with pytest.raises(ConfigError, match=r"mqtt.username and mqtt.password: required"):
        settings.require_secrets("mqtt")
    bridge = _production(mqtt={"username": "load-1", "password": STRONG})
    bridge.require_secrets("mqtt")  # a bridge needs no InfluxDB credentials
    with pytest.raises(ConfigError, match=r"influx.username and influx.password"):
        bridge.require_secrets("mqtt", "influx")
    services = _production(
        mqtt={"username": "services", "password": STRONG},
        influx={"username": "gudang_services", "password": STRONG},
    )
    with pytest.raises(ConfigError, match=r"influx.create_database: must be false"):
        services.require_secrets("mqtt", "influx")
    _production(
        mqtt={"username": "services", "password": STRONG},
        influx={"token": STRONG, "create_database": False},
    ).require_secrets("mqtt", "influx")


def test_production_refuses_a_remote_broker_without_tls(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"mqtt.tls_ca: required in production"):
        _production(mqtt={"host": "192.0.2.10", "username": "load-1", "password": STRONG})
    ca = tmp_path / "ca.crt"
    remote = _production(
        mqtt={
            "host": "192.0.2.10",
            "port": 8883,
            "tls_ca": str(ca),
            "username": "load-1",
            "password": STRONG,
        }
    )
    remote.require_secrets("mqtt")


def test_environment_variable_switches_to_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GUDANG_SITE__ENVIRONMENT", "production")
    monkeypatch.setenv("GUDANG_MQTT__PASSWORD", "changeme")
    with pytest.raises(ConfigError, match=r"mqtt.password: a default or example value"):
        load_settings(None, {})


def test_cli_refuses_to_start_services_without_secrets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "site.toml"
    config.write_text('[site]\nenvironment = "production"\n')
    assert main(["--config", str(config), "services"]) == 2
    err = capsys.readouterr().err
    assert "mqtt.username and mqtt.password: required in production" in err
    assert main(["--config", str(config), "stack"]) == 2
    assert "gudang stack is the local demo" in capsys.readouterr().err


def test_old_alerts_spool_ratio_name_is_read_as_the_station_one_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    site_file = tmp_path / "site.toml"
    site_file.write_text("[alerts]\nspool_nearly_full_ratio = 0.6\n", encoding="utf-8")
    with caplog.at_level("WARNING", logger="gudang.settings"):
        settings = load_settings(site_file)
    assert settings.station.spool_nearly_full_ratio == 0.6
    assert "alerts.spool_nearly_full_ratio is deprecated" in caplog.text
    # Both given: the station's own name wins; the old one is still only warned about.
    site_file.write_text(
        "[alerts]\nspool_nearly_full_ratio = 0.6\n[station]\nspool_nearly_full_ratio = 0.9\n",
        encoding="utf-8",
    )
    assert load_settings(site_file).station.spool_nearly_full_ratio == 0.9
    caplog.clear()
    with caplog.at_level("WARNING", logger="gudang.settings"):
        assert load_settings(None, {}).station.spool_nearly_full_ratio == 0.8
    assert "deprecated" not in caplog.text
