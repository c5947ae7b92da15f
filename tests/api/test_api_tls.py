"""HTTPS with the site CA's certificate, and what plain HTTP may carry in production.

The certificate is made by the installer's own script (deploy/mosquitto/make-certs.sh);
the API serves both listeners as `gudang api` does (api.transport.ApiServers).
"""

from __future__ import annotations

import asyncio
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.requests import Request

from api.app import create_app
from api.routes.phone_tokens import phone_base_url
from api.transport import ApiServers
from gudang.settings import ConfigError, Settings
from gudang_ops.servers import ServerProcess, free_port
from tests.api.conftest import TOKENS, token_settings
from tests.harness import make_settings, running_services, wait_for

REPO = Path(__file__).resolve().parents[2]
LAN_NAME = "gudang.local"  # what the installer names beside the LAN addresses


@pytest.fixture(scope="module")
def site_ca(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site CA and a server certificate for gudang.local, localhost and 127.0.0.1."""
    folder = tmp_path_factory.mktemp("ca")
    subprocess.run(
        [str(REPO / "deploy/mosquitto/make-certs.sh"), str(folder), LAN_NAME],
        check=True,
        capture_output=True,
    )
    return folder


def _settings(
    mosquitto: ServerProcess, influxd: ServerProcess, site: str, tmp_path: Path, ca: Path, env: str
) -> Settings:
    settings = token_settings(
        mosquitto,
        influxd,
        site,
        tmp_path,
        roles=("worker",),
        api={
            "port": free_port(),
            "tls_port": free_port(),
            "tls_certfile": str(ca / "server.crt"),
            "tls_keyfile": str(ca / "server.key"),
        },
    )
    # The site's positional name leaves no room for a [site] override: set it apart.
    return settings.model_copy(
        update={"site": settings.site.model_copy(update={"environment": env})}
    )


@pytest.fixture
def production(
    mosquitto: ServerProcess, influxd: ServerProcess, site: str, tmp_path: Path, site_ca: Path
) -> Iterator[Settings]:
    settings = _settings(mosquitto, influxd, site, tmp_path, site_ca, "production")
    servers = ApiServers(create_app(settings), settings, log_level="warning")
    thread = threading.Thread(target=servers.run, name="api-servers", daemon=True)
    with running_services(settings):
        thread.start()
        try:
            wait_for(lambda: servers.started, 15, "both listeners up")
            yield settings
        finally:
            servers.stop()
            thread.join(timeout=15)
    assert not thread.is_alive()


def _worker() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS['worker']}"}


def test_https_answers_with_a_certificate_the_site_ca_verifies(
    production: Settings, site_ca: Path
) -> None:
    https = f"https://127.0.0.1:{production.api.tls_port}"
    ca = ssl.create_default_context(cafile=str(site_ca / "ca.crt"))
    r = wait_for(
        lambda: (
            (x := httpx.get(f"{https}/api/v1/health", verify=ca, timeout=10)).status_code == 200
            and x
        ),
        20,
        "healthy over HTTPS",
    )
    assert r.json()["status"] == "ok"
    r = httpx.get(f"{https}/api/v1/stations", headers=_worker(), verify=ca, timeout=10)
    assert r.status_code == 200, r.text
    page = httpx.get(f"{https}/dashboard/scan.html", verify=ca, timeout=10)
    assert page.status_code == 200
    assert 'src="js/scan.js"' in page.text
    # The certificate names the LAN name and the addresses; a client without the site CA
    # refuses it, as a phone that was not given the CA does.
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{https}/api/v1/health", verify=ssl.create_default_context(), timeout=10)
    # This machine's own plain HTTP (the installer's health check) is served as before.
    plain = httpx.get(f"http://127.0.0.1:{production.api.port}/api/v1/health", timeout=10)
    assert plain.status_code == 200


def test_certificate_names_the_lan_name(site_ca: Path) -> None:
    text = subprocess.run(
        ["openssl", "x509", "-in", str(site_ca / "server.crt"), "-noout", "-ext", "subjectAltName"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert f"DNS:{LAN_NAME}" in text
    assert "IP Address:127.0.0.1" in text


# A phone on the Wi-Fi: the ASGI scope carries its address as uvicorn would give it.
PHONE = ("192.168.7.23", 51234)


def _from_phone(settings: Settings, *requests: dict[str, Any]) -> list[httpx.Response]:
    """Send requests to the app as a phone on the LAN would reach its plain HTTP port."""
    app = create_app(settings)  # no lifespan: nothing here gets past the guard or needs it

    async def run() -> list[httpx.Response]:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=PHONE),
            base_url=f"http://{LAN_NAME}:{settings.api.port}",
        ) as client:
            return [await client.request(**r) for r in requests]

    return asyncio.run(run())


def test_plain_http_from_another_machine_is_redirected_and_tokens_refused(
    mosquitto: ServerProcess, influxd: ServerProcess, site: str, tmp_path: Path, site_ca: Path
) -> None:
    settings = _settings(mosquitto, influxd, site, tmp_path, site_ca, "production")
    tls_port = settings.api.tls_port
    page, post, header, query = _from_phone(
        settings,
        {"method": "GET", "url": "/dashboard/scan.html?x=1"},
        {"method": "POST", "url": "/api/v1/stations/load-1/scans", "json": {"id": "x"}},
        {"method": "GET", "url": "/api/v1/stations", "headers": _worker()},
        {"method": "GET", "url": "/api/v1/stations", "params": {"access_token": TOKENS["worker"]}},
    )
    assert page.status_code == 308
    assert page.headers["location"] == f"https://{LAN_NAME}:{tls_port}/dashboard/scan.html?x=1"
    assert post.status_code == 308  # a client keeps the method and body on 308
    for r in (header, query):
        assert r.status_code == 403, r.text
        assert "tokens are refused over plain HTTP" in r.json()["detail"]
        assert f"https://{LAN_NAME}:{tls_port}/api/v1/stations" in r.json()["detail"]


def test_plain_http_is_served_outside_production(
    mosquitto: ServerProcess, influxd: ServerProcess, site: str, tmp_path: Path, site_ca: Path
) -> None:
    settings = _settings(mosquitto, influxd, site, tmp_path, site_ca, "local")
    (r,) = _from_phone(settings, {"method": "GET", "url": "/dashboard/scan.html"})
    assert r.status_code == 200
    assert 'src="js/scan.js"' in r.text


def test_tls_settings_come_together(
    mosquitto: ServerProcess, influxd: ServerProcess, site: str, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match="set all three or none"):
        make_settings(mosquitto, influxd, site, tmp_path, api={"tls_port": 8443})


def test_the_phone_sign_in_link_goes_to_https(
    mosquitto: ServerProcess, influxd: ServerProcess, site: str, tmp_path: Path, site_ca: Path
) -> None:
    settings = _settings(mosquitto, influxd, site, tmp_path, site_ca, "production")
    tls = settings.api.tls_port

    def base(host: str, scheme: str = "http") -> str:
        scope = {"type": "http", "scheme": scheme, "headers": [(b"host", host.encode())]}
        return phone_base_url(Request(scope), settings)

    # Whichever way the supervisor's screen reached the API, the phone goes to HTTPS.
    assert base("192.168.1.10:8000") == f"https://192.168.1.10:{tls}"
    assert base(f"gudang.local:{tls}", "https") == f"https://gudang.local:{tls}"
    assert base("[fd00::10]:8000") == f"https://[fd00::10]:{tls}"
    assert base("gudang.local") == f"https://gudang.local:{tls}"
