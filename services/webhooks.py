"""Alert delivery to webhooks: POST the AlertV1 JSON to each configured URL.

A background thread per URL sends, retrying with exponential back-off, so a slow or dead
receiver (a WhatsApp or Telegram gateway, say) never holds up the ingest or the other
webhooks. Each queue is bounded: past it, new deliveries are dropped with a log line and
a counter.
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


class _Worker:
    """One webhook URL: its own bounded queue and thread, so a dead one delays no other."""

    def __init__(self, url: str, settings: AlertSettings, counters: Counter[str]) -> None:
        self.url = url
        self.settings = settings
        self.counters = counters
        self.queue: queue.Queue[bytes] = queue.Queue(maxsize=settings.webhook_queue)
        self._stop = threading.Event()
        self._http = httpx.Client(timeout=settings.webhook_timeout_s)
        self._thread = threading.Thread(target=self._run, name=f"webhook {url}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=STOP_TIMEOUT_S)
        self._http.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                body = self.queue.get(timeout=0.2)
            except queue.Empty:
                continue
            self._deliver(body)

    def _deliver(self, body: bytes) -> None:
        delay = RETRY_MIN_S
        for attempt in range(1, self.settings.webhook_max_attempts + 1):
            try:
                r = self._http.post(
                    self.url, content=body, headers={"Content-Type": "application/json"}
                )
                if r.status_code < 300:
                    self.counters["sent"] += 1
                    return
                problem = f"HTTP {r.status_code}"
            except httpx.HTTPError as exc:
                problem = str(exc) or type(exc).__name__
            self.counters["retries"] += 1
            log.warning("webhook %s attempt %d failed: %s", self.url, attempt, problem)
            if self._stop.wait(delay):
                return
            delay = min(delay * 2, self.settings.webhook_retry_max_s)
        self.counters["failed"] += 1
        log.error(
            "webhook %s: gave up after %d attempts", self.url, self.settings.webhook_max_attempts
        )


class WebhookSender:
    """Sends alerts to the webhooks, each URL on its own thread."""

    def __init__(self, settings: AlertSettings) -> None:
        self.settings = settings
        self.counters: Counter[str] = Counter()
        self._workers: list[_Worker] = []

    def start(self) -> None:
        """Start a sender thread per webhook."""
        self._workers = [
            _Worker(url, self.settings, self.counters) for url in self.settings.webhooks
        ]

    def stop(self) -> None:
        """Stop sending; what is still queued is dropped (it is stored in InfluxDB)."""
        for worker in self._workers:
            worker.stop()
        self._workers = []

    def send(self, alert: AlertV1) -> None:
        """Queue one alert transition for every webhook."""
        if not self._workers:
            return
        body = encode(alert)
        for worker in self._workers:
            try:
                worker.queue.put_nowait(body)
            except queue.Full:
                self.counters["dropped"] += 1
                log.error(
                    "webhook queue of %s full: alert %s (%s) not sent",
                    worker.url,
                    alert.id,
                    alert.state.value,
                )

    @property
    def pending(self) -> int:
        """Deliveries waiting, all webhooks together."""
        return sum(w.queue.qsize() for w in self._workers)
