"""Alert delivery to webhooks: POST the AlertV1 JSON to each configured URL.

A background thread sends, retrying with exponential back-off, so a slow or dead
receiver (a WhatsApp or Telegram gateway, say) never holds up the ingest. The queue is
bounded: past it, new deliveries are dropped with a log line and a counter.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import Counter

import httpx

from gudang.settings import AlertSettings
from gudang.wire import AlertV1, encode

log = logging.getLogger(__name__)

# The first retry comes soon (a receiver restarting), later ones at most retry_max_s apart.
RETRY_MIN_S = 0.5
# How long stop() waits for the sender to finish the delivery in hand.
STOP_TIMEOUT_S = 5.0


class WebhookSender:
    """Sends alerts to the webhooks on its own thread."""

    def __init__(self, settings: AlertSettings) -> None:
        self.settings = settings
        self.counters: Counter[str] = Counter()
        self._queue: queue.Queue[tuple[str, bytes]] = queue.Queue(maxsize=settings.webhook_queue)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._http: httpx.Client | None = None

    def start(self) -> None:
        """Start the sender thread (nothing to do without webhooks)."""
        if not self.settings.webhooks:
            return
        self._http = httpx.Client(timeout=self.settings.webhook_timeout_s)
        self._thread = threading.Thread(target=self._run, name="webhooks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop sending; what is still queued is dropped (it is stored in InfluxDB)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=STOP_TIMEOUT_S)
        if self._http is not None:
            self._http.close()

    def send(self, alert: AlertV1) -> None:
        """Queue one alert transition for every webhook."""
        if not self.settings.webhooks:
            return
        body = encode(alert)
        for url in self.settings.webhooks:
            try:
                self._queue.put_nowait((url, body))
            except queue.Full:
                self.counters["dropped"] += 1
                log.error(
                    "webhook queue full: alert %s (%s) not sent to %s", alert.id, alert.state, url
                )

    @property
    def pending(self) -> int:
        """Deliveries waiting."""
        return self._queue.qsize()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                url, body = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            self._deliver(url, body)

    def _deliver(self, url: str, body: bytes) -> None:
        assert self._http is not None  # started
        delay = RETRY_MIN_S
        for attempt in range(1, self.settings.webhook_max_attempts + 1):
            try:
                r = self._http.post(url, content=body, headers={"Content-Type": "application/json"})
                if r.status_code < 300:
                    self.counters["sent"] += 1
                    return
                problem = f"HTTP {r.status_code}"
            except httpx.HTTPError as exc:
                problem = str(exc) or type(exc).__name__
            self.counters["retries"] += 1
            log.warning("webhook %s attempt %d failed: %s", url, attempt, problem)
            if self._stop.wait(delay):
                return
            delay = min(delay * 2, self.settings.webhook_retry_max_s)
        self.counters["failed"] += 1
        log.error("webhook %s: gave up after %d attempts", url, self.settings.webhook_max_attempts)
