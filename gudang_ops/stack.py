"""``gudang stack``: broker, InfluxDB, services, API and a simulated station on one machine."""

from __future__ import annotations

import logging
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from pydantic import ValidationError

from api.app import create_app
from api.transport import ApiServers
from firmware_bridge.simulated_station import SimulatedStation
from gudang.settings import ApiSettings, ConfigError, Settings
from gudang_ops.servers import (
    PRODUCTION_MOSQUITTO_DIR,
    ServerProcess,
    TlsFiles,
    free_port,
    port_free,
    start_influxd,
    start_mosquitto,
    start_secure_site,
    stop_stale_servers,
)
from services.app import Services

log = logging.getLogger(__name__)

DEMO_CONTAINER = "CSQU3054383"
# --tls: HTTPS beside the plain port, 8000 -> 8443.
HTTPS_PORT_OFFSET = 443
DEMO_STATION = "load-1"
# The well-known local tokens (api.allow_demo_tokens): the stack listens on loopback only.
DEMO_ADMIN_TOKEN = "demo-admin"
DEMO_SUPERVISOR_TOKEN = "demo-supervisor"


def _choose(port: int, what: str) -> int:
    # port_free binds with SO_REUSEADDR: after a crash, connections in TIME_WAIT do not
    # make the port look taken (stations configured for 1883 would lose their broker).
    if port_free(port):
        return port
    other = free_port()
    log.warning("port %d (%s) is taken; using %d", port, what, other)
    return other


def _open_demo_container(api_url: str) -> None:
    body = {"container_no": DEMO_CONTAINER, "container_type": "40HC"}
    for _ in range(100):
        try:
            r = httpx.post(
                f"{api_url}/api/v1/containers",
                json=body,
                headers={"Authorization": f"Bearer {DEMO_SUPERVISOR_TOKEN}"},
                timeout=10,
            )
        except httpx.HTTPError:
            time.sleep(0.2)
            continue
        if r.status_code in (201, 409):  # 409: opened by an earlier run of the stack
            return
        log.warning("opening the demo container: HTTP %s %s", r.status_code, r.text)
        time.sleep(0.5)
    raise RuntimeError("the API did not open the demo container")


def _api_certificate(tls_dir: Path) -> TlsFiles:
    """A site CA and a certificate for this machine, as the installer makes them (kept)."""
    files = TlsFiles.in_dir(tls_dir)
    if not files.certfile.exists():
        subprocess.run(
            [str(PRODUCTION_MOSQUITTO_DIR / "make-certs.sh"), str(tls_dir), socket.gethostname()],
            check=True,
            capture_output=True,
        )
    return files


def run_stack(
    settings: Settings,
    data_dir: Path,
    simulate: bool,
    interval: float,
    secure: bool = False,
    tls: bool = False,
    scale_protocol: str = "mt-sics",
    hid_layout: str | None = None,
) -> int:
    """Run everything until Ctrl-C; returns the exit code.

    The simulated station's scale speaks ``scale_protocol``; with ``hid_layout`` its
    scanner is a USB keyboard of that layout (input events on a FIFO).

    ``secure`` runs Mosquitto and InfluxDB from the production configurations in deploy/
    (passwords, ACL, TLS, InfluxDB auth) with credentials generated under ``data_dir``;
    the services, the API and the simulated station each use their own users.
    ``tls`` also serves the API over HTTPS (the plain port + 443) with a certificate from
    a site CA made under ``data_dir/tls``.
    """
    data_dir = data_dir.resolve()
    try:  # validated again: demo tokens are refused unless api.host is loopback
        demo_api = ApiSettings.model_validate(
            {**settings.api.model_dump(), "allow_demo_tokens": True}
        )
    except ValidationError as exc:
        raise ConfigError(f"gudang stack: {exc.errors()[0]['msg']}") from exc
    servers: list[ServerProcess] = []
    station: SimulatedStation | None = None
    services: Services | None = None
    try:
        # A stack killed before it could stop its servers (or an older one) left them on
        # this data folder: stop them, rather than start a second pair over the same data.
        stop_stale_servers(data_dir)
        mqtt_port = _choose(settings.mqtt.port, "MQTT")
        influx_port = _choose(urlsplit(settings.influx.url).port or 8086, "InfluxDB")
        api_port = _choose(settings.api.port, "API")
        station_settings = services_settings = None
        if secure:
            log.info("starting Mosquitto and InfluxDB from deploy/ (auth, ACL, TLS)")
            site = start_secure_site(
                data_dir / "secure",
                (DEMO_STATION,),
                mqtt_port=mqtt_port,
                influx_port=influx_port,
                die_with_parent=True,  # nothing outlives the stack, even killed
            )
            servers.extend([site.broker, site.influxd])
            base = settings.model_copy(
                update={"api": demo_api.model_copy(update={"port": api_port})}
            )
            services_settings = site.settings_for(base, "services")
            station_settings = site.settings_for(base, DEMO_STATION)
            settings = site.settings_for(base, "api")  # the API's own users
            log.info("stations' TLS listener on %s; secrets in %s", site.broker.tls_port, site.etc)
        else:
            log.info("starting Mosquitto on %d (data in %s)", mqtt_port, data_dir / "mosquitto")
            servers.append(start_mosquitto(data_dir / "mosquitto", mqtt_port, die_with_parent=True))
            log.info("starting InfluxDB on %d (data in %s)", influx_port, data_dir / "influxdb")
            servers.append(start_influxd(data_dir / "influxdb", influx_port, die_with_parent=True))
            settings = settings.model_copy(
                update={
                    "mqtt": settings.mqtt.model_copy(
                        update={"host": "127.0.0.1", "port": mqtt_port}
                    ),
                    "influx": settings.influx.model_copy(
                        update={"url": f"http://127.0.0.1:{influx_port}"}
                    ),
                    "api": demo_api.model_copy(update={"port": api_port}),
                }
            )
        https_line = ""
        if tls:
            files = _api_certificate(data_dir / "tls")
            tls_port = _choose(api_port + HTTPS_PORT_OFFSET, "HTTPS")
            settings = settings.model_copy(
                update={
                    "api": settings.api.model_copy(
                        update={
                            "tls_port": tls_port,
                            "tls_certfile": files.certfile,
                            "tls_keyfile": files.keyfile,
                        }
                    )
                }
            )
            https_line = (
                f"  HTTPS:      https://{settings.api.host}:{tls_port}/dashboard/   "
                f"(CA: {files.cafile})\n"
            )
        services = Services(services_settings or settings)
        services.start()
        api_url = f"http://{settings.api.host}:{api_port}"
        server = ApiServers(create_app(settings), settings, log_level="warning")

        def after_start() -> None:
            nonlocal station
            while not server.started:
                time.sleep(0.1)
            if simulate:
                _open_demo_container(api_url)
                station = SimulatedStation(
                    station_settings or settings,
                    DEMO_STATION,
                    data_dir / "spool",
                    interval_s=interval,
                    container_no=DEMO_CONTAINER,
                    protocol=scale_protocol,
                    hid_layout=hid_layout,
                )
                station.start()
            print(
                "\n  Gudang is up.\n"
                f"  Dashboard:  {api_url}/dashboard/   (token: {DEMO_SUPERVISOR_TOKEN})\n"
                f"  API:        {api_url}/api/v1/containers\n"
                f"  Container:  {api_url}/api/v1/containers/{DEMO_CONTAINER}\n"
                f"  API docs:   {api_url}/docs\n"
                + https_line
                + f"  Phone page: {api_url}/dashboard/scan.html#station={DEMO_STATION}\n"
                f"  Tokens:     {DEMO_ADMIN_TOKEN}, {DEMO_SUPERVISOR_TOKEN}, demo-worker "
                f"(local only), e.g.\n"
                f"              curl -H 'Authorization: Bearer {DEMO_SUPERVISOR_TOKEN}' "
                f"{api_url}/api/v1/containers/{DEMO_CONTAINER}\n"
                f"  MQTT:       127.0.0.1:{mqtt_port}   InfluxDB: http://127.0.0.1:{influx_port}\n"
                + (
                    f"  A simulated station ({DEMO_STATION}) loads a drum every {interval:g} s "
                    f"into {DEMO_CONTAINER}.\n"
                    if simulate
                    else ""
                )
                + "  Ctrl-C stops everything.\n",
                flush=True,
            )

        threading.Thread(target=after_start, name="stack-start", daemon=True).start()
        # uvicorn re-raises the signal that stopped it once it has shut down; SIGTERM's
        # default action would then kill us before the finally below stops the servers.
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        try:
            server.run()  # until Ctrl-C
        except KeyboardInterrupt:
            pass  # the signal uvicorn re-raised after its clean shutdown
        return 0
    finally:
        log.info("stopping the stack")
        if station is not None:
            station.stop()
        if services is not None:
            services.stop()
        for proc in reversed(servers):
            proc.stop()
