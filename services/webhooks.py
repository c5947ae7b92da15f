"""Alert delivery to webhooks: POST the AlertV1 JSON to each configured URL.

A background thread per URL sends, retrying with exponential back-off, so a slow or dead
receiver (a WhatsApp or Telegram gateway, say) never holds up the ingest or the other
webhooks. The deliveries wait on disk (services.outbox): a restart of the services loses
none, and past a URL's bound a new delivery takes the place of a lower-priority one (a
flood of minor alerts never pushes out a ``container_full``); one that cannot is dropped
with a log line and a counter. URLs carry secrets (a Telegram bot's token): logs and
thread names show them masked.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections import Counter
from pathlib import Path

import httpx

from gudang.settings import AlertSettings, mask_url
from gudang.wire import AlertV1, alert_decoder, encode
from services.outbox import Delivery, Outbox, default_path, priority

log = logging.getLogger(__name__)

# The first retry comes soon (a receiver restarting), later ones at most retry_max_s apart.
RETRY_MIN_S = 0.5
# How long stop() waits for the sender to finish the delivery in hand.
STOP_TIMEOUT_S = 5.0
# A sender with nothing to send looks at the outbox again after this long at most.
IDLE_WAIT_S = 0.5


class _Worker:
    """One webhook URL: its own thread over its deliveries, so a dead one delays no other."""

    def __init__(
        self, url: str, settings: AlertSettings, counters: Counter[str], outbox: Outbox
    ) -> None:
        self.url = url
        self.shown = mask_url(url)
        self.settings = settings
        self.counters = counters
        self.outbox = outbox
        self.wake = threading.Event()
        self._stop = threading.Event()
        self._http = httpx.Client(timeout=settings.webhook_timeout_s)
        self._thread = threading.Thread(target=self._run, name=f"webhook {self.shown}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.wake.set()
        self._thread.join(timeout=STOP_TIMEOUT_S)
        self._http.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            delivery = self.outbox.oldest(self.url)
            if delivery is None:
                self.wake.wait(IDLE_WAIT_S)
                self.wake.clear()
                continue
            if self._deliver(delivery):
                self.outbox.done(delivery.seq)

    def _deliver(self, delivery: Delivery) -> bool:
        """Send one delivery; True once it is done with (sent, or given up)."""
        delay = RETRY_MIN_S
        for attempt in range(1, self.settings.webhook_max_attempts + 1):
            try:
                r = self._http.post(
                    self.url, content=delivery.body, headers={"Content-Type": "application/json"}
                )
                if r.status_code < 300:
                    self.counters["sent"] += 1
                    return True
                problem = f"HTTP {r.status_code}"
            except httpx.HTTPError as exc:
                # httpx's message may quote the URL: never log it whole.
                problem = type(exc).__name__
            self.counters["retries"] += 1
            log.warning("webhook %s attempt %d failed: %s", self.shown, attempt, problem)
            if self._stop.wait(delay):
                return False  # kept on disk: sent after the restart
            delay = min(delay * 2, self.settings.webhook_retry_max_s)
        self.counters["failed"] += 1
        log.error(
            "webhook %s: gave up after %d attempts", self.shown, self.settings.webhook_max_attempts
        )
        return True


class WebhookSender:
    """Sends alerts to the webhooks, each URL on its own thread, from an outbox on disk."""

    def __init__(self, settings: AlertSettings, site: str) -> None:
        self.settings = settings
        self.site = site
        self.counters: Counter[str] = Counter()
        self._workers: list[_Worker] = []
        self._outbox: Outbox | None = None

    def start(self) -> None:
        """Open the outbox and start a sender thread per webhook."""
        if not self.settings.webhooks:
            return
        path = self.settings.webhook_queue_path or default_path(self.site)
        try:
            self._outbox = Outbox(path)
        except (sqlite3.Error, OSError) as exc:
            # The alerts are stored and on MQTT anyway: deliver them, if not durably.
            self.counters["outbox_unavailable"] += 1
            log.error(
                "cannot open the webhook outbox %s (%s): deliveries wait in memory only, "
                "a restart loses them; set alerts.webhook_queue_path to a writable file",
                path,
                exc,
            )
            self._outbox = Outbox(Path(":memory:"))
        forgotten = self._outbox.forget_others(self.settings.webhooks)
        if forgotten:
            log.warning("%d deliveries for webhooks no longer configured dropped", forgotten)
        waiting = self._outbox.count()
        if waiting:
            log.info("%d webhook deliveries waiting from before the restart", waiting)
        self._workers = [
            _Worker(url, self.settings, self.counters, self._outbox)
            for url in self.settings.webhooks
        ]

    def stop(self) -> None:
        """Stop sending; what is still queued stays on disk for the next start."""
        for worker in self._workers:
            worker.stop()
        self._workers = []
        if self._outbox is not None:
            self._outbox.close()
            self._outbox = None

    def send(self, alert: AlertV1) -> None:
        """Queue one alert transition for every webhook."""
        outbox = self._outbox
        if outbox is None:
            return
        body = encode(alert)
        prio = priority(alert)
        for worker in self._workers:
            dropped = outbox.put(worker.url, prio, body, self.settings.webhook_queue)
            worker.wake.set()
            if dropped is None:
                continue
            self.counters["dropped"] += 1
            gone = alert_decoder.decode(dropped.body)
            log.error(
                "webhook queue of %s full: alert %s (%s) not sent",
                worker.shown,
                gone.id,
                gone.state.value,
            )

    @property
    def pending(self) -> int:
        """Deliveries waiting, all webhooks together."""
        return self._outbox.count() if self._outbox is not None else 0
