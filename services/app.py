"""The services process: wait for InfluxDB, rebuild the state, run the ingest."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime

from gudang.influx import InfluxClient, InfluxUnavailable
from gudang.settings import Settings
from services.checkpoint import load_state
from services.ingest import Ingest

log = logging.getLogger(__name__)

# How long start-up waits for InfluxDB before giving up with a clear message.
INFLUX_START_TIMEOUT_S = 60.0


def wait_for_influx(influx: InfluxClient, timeout: float = INFLUX_START_TIMEOUT_S) -> str:
    """Ping InfluxDB until it answers; return its version."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return influx.ping()
        except InfluxUnavailable as exc:
            if time.monotonic() > deadline:
                raise InfluxUnavailable(
                    f"InfluxDB at {influx.settings.url} did not answer within {timeout:.0f}s: {exc}"
                ) from exc
            log.info("waiting for InfluxDB at %s ...", influx.settings.url)
            time.sleep(1.0)


class Services:
    """The running services of one site: ingest plus its InfluxDB client."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.influx = InfluxClient(settings.influx)
        version = wait_for_influx(self.influx)
        log.info(
            "InfluxDB %s at %s, database %s", version, settings.influx.url, settings.influx.database
        )
        self.influx.ensure_database()
        state = load_state(settings, self.influx)
        self.ingest = Ingest(settings, self.influx, state)
        if state.road == "full":
            # All history was read: a checkpoint now, so the next start need not.
            self.ingest.checkpoint("after a full rebuild")

    def start(self) -> None:
        """Start consuming; publishes the rebuilt state once connected."""
        self.ingest.start()
        if self.ingest.link.wait_connected(10) and self.ingest.link.wait_subscribed(10):
            self.ingest.publish_state(datetime.now(UTC))
            self.ingest.publish_active_alerts()

    def stop(self) -> None:
        """Stop consuming and close connections."""
        self.ingest.stop()
        self.influx.close()


def run_services(settings: Settings, stop: threading.Event) -> None:
    """Run until ``stop`` is set."""
    services = Services(settings)
    services.start()
    log.info("services running for site %s", settings.site.name)
    try:
        stop.wait()
    finally:
        services.stop()
