"""Alert delivery to webhooks and notification targets, from one outbox on disk.

``alerts.webhooks`` get a POST of the AlertV1 JSON; each ``[[alerts.notify]]`` target its
own format (services.notify: AlertV1, Telegram's sendMessage, or a signed JSON), only the
kinds and severities it asks for. Each target is a queue of its own in the one outbox.

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

from gudang.settings import AlertSettings, NotifySettings, SiteSettings, mask_url
from gudang.wire import AlertState, AlertV1, alert_decoder, encode
from services.notify import request, wants
from services.outbox import Delivery, Outbox, default_path, priority

log = logging.getLogger(__name__)

# The first retry comes soon (a receiver restarting), later ones at most retry_max_s apart.
RETRY_MIN_S = 0.5
# How long stop() waits for the sender to finish the delivery in hand.
STOP_TIMEOUT_S = 5.0
# A sender with nothing to send looks at the outbox again after this long at most.
IDLE_WAIT_S = 0.5


class _HideTargets(logging.Filter):
    """Masks the targets' URLs in httpx's own log lines (it logs every request's URL at
    INFO, a Telegram bot's token with it)."""

    def __init__(self, urls: list[str]) -> None:
        super().__init__()
        self.shown = {u: mask_url(u) for u in urls if mask_url(u) != u}

    def _hide(self, arg: object) -> object:
        if not isinstance(arg, (str, httpx.URL)):
            return arg
        text = str(arg)
        for url, shown in self.shown.items():
            text = text.replace(url, shown)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's arguments and message; never drops a record."""
        if isinstance(record.args, tuple):
            record.args = tuple(self._hide(a) for a in record.args)
        if isinstance(record.msg, str):
            record.msg = str(self._hide(record.msg))
        return True


class _Worker:
    """One webhook URL: its own thread over its deliveries, so a dead one delays no other."""

    def __init__(
        self,
        key: str,
        target: NotifySettings,
        settings: AlertSettings,
        site: SiteSettings,
        counters: Counter[str],
        outbox: Outbox,
    ) -> None:
        self.url = key  # its queue in the outbox
        self.target = target
        self.site = site
        self.shown = mask_url(target.target)
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
                # Made at each attempt: a signature's timestamp is the sending time.
                body, headers = request(self.target, delivery.body, self.site)
                r = self._http.post(self.target.target, content=body, headers=headers)
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

    def __init__(
        self, settings: AlertSettings, site: str, site_settings: SiteSettings | None = None
    ) -> None:
        self.settings = settings
        self.site = site
        self.site_settings = site_settings or SiteSettings(name=site)
        self.counters: Counter[str] = Counter()
        self._workers: list[_Worker] = []
        self._outbox: Outbox | None = None
        self._hide: _HideTargets | None = None
        # The plain webhooks' kinds (empty: every kind): alerts.webhook_kinds, or the
        # admin's live alerts/routing (set_webhook_kinds).
        self.webhook_kinds: list[str] = list(settings.webhook_kinds)

    def start(self) -> None:
        """Open the outbox and start a sender thread per webhook."""
        targets = self.targets()
        if not targets:
            return
        self._hide = _HideTargets([t.target for _, t in targets])
        logging.getLogger("httpx").addFilter(self._hide)
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
        forgotten = self._outbox.forget_others([key for key, _ in targets])
        if forgotten:
            log.warning("%d deliveries for webhooks no longer configured dropped", forgotten)
        waiting = self._outbox.count()
        if waiting:
            log.info("%d webhook deliveries waiting from before the restart", waiting)
        self._workers = [
            _Worker(key, target, self.settings, self.site_settings, self.counters, self._outbox)
            for key, target in targets
        ]

    def targets(self) -> list[tuple[str, NotifySettings]]:
        """Every target with its outbox key: the plain webhooks (keyed by their URL, as
        before the formats), then the notify targets."""
        kinds = self.webhook_kinds  # the plain webhooks' filter
        plain = [(url, NotifySettings(url=url, kinds=kinds)) for url in self.settings.webhooks]
        return plain + [(t.key, t) for t in self.settings.notify]

    def set_webhook_kinds(self, kinds: list[str]) -> None:
        """The plain webhooks' kinds from now on (the notify targets keep their own)."""
        self.webhook_kinds = list(kinds)
        plain = set(self.settings.webhooks)
        for worker in self._workers:
            if worker.url in plain:
                worker.target = worker.target.model_copy(update={"kinds": self.webhook_kinds})

    def stop(self) -> None:
        """Stop sending; what is still queued stays on disk for the next start."""
        for worker in self._workers:
            worker.stop()
        self._workers = []
        if self._hide is not None:
            logging.getLogger("httpx").removeFilter(self._hide)
            self._hide = None
        if self._outbox is not None:
            self._outbox.close()
            self._outbox = None

    def send(self, alert: AlertV1) -> None:
        """Queue one alert transition for every webhook."""
        outbox = self._outbox
        if outbox is None:
            return
        if alert.state is AlertState.RAISED and int(alert.data.get("count", 1)) > 1:
            # A grouped alert counting one more: its first raise went out, its end will.
            self.counters["grouped_not_sent"] += 1
            return
        body = encode(alert)
        prio = priority(alert)
        for worker in self._workers:
            if not wants(worker.target, alert):
                continue
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
