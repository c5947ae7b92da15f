"""Notifications gateways take as they are: Telegram's sendMessage, a signed JSON webhook.

Each target is its own queue in the one outbox on disk; per-target filters by kind and
severity. A real HTTP receiver on loopback records every request whole (method, path,
headers, body), and the test checks its exact shape.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from pydantic import ValidationError

from gudang.settings import AlertSettings, NotifySettings, Settings, SiteSettings
from gudang.wire import AlertKind, AlertState, AlertV1, alert_decoder, encode
from services.notify import KIND_WORDS, request, text, wants
from tests.harness import running_services, wait_for
from tests.services.kit import CONTAINER, Floorkit, drum

BOT_TOKEN = "123456:ABC-bot-secret-token"
CHAT_ID = "-1001234567"
SECRET = "s3cret-of-the-gateway-0123"


@dataclass(frozen=True)
class Seen:
    """One request as the receiver read it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    """A real HTTP server on loopback that keeps every request; ``fail_first`` get 500."""

    def __init__(self, fail_first: int = 0) -> None:
        self.seen: list[Seen] = []
        self._fail_left = fail_first
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                if receiver._fail_left > 0:
                    receiver._fail_left -= 1
                    self.send_response(500)
                else:
                    receiver.seen.append(Seen("POST", self.path, headers, body))
                    self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"ok":true}')

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def on(self, path: str) -> list[Seen]:
        """The requests to one path."""
        return [s for s in list(self.seen) if s.path == path]

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)


def _wib(at: datetime) -> str:
    # Computed here, not by the code under test: WIB is UTC+7, no summer time.
    t = at.astimezone(UTC) + timedelta(hours=7)
    return f"{t:%H:%M} WIB"


def test_telegram_and_signed_targets_get_their_exact_requests_filtered(
    settings_with: Callable[..., Settings], site: str, caplog: pytest.LogCaptureFixture
) -> None:
    receiver = Receiver(fail_first=1)  # the first attempt fails: the retry is logged
    settings = settings_with(
        alerts={
            "webhook_retry_max_s": 0.5,
            "notify": [
                {
                    "format": "telegram",
                    "bot_token": BOT_TOKEN,
                    "chat_id": CHAT_ID,
                    "telegram_api": receiver.base,
                    "kinds": ["container_full"],
                },
                {
                    "format": "signed",
                    "url": f"{receiver.base}/signed",
                    "secret": SECRET,
                    "min_severity": "warning",
                },
                {"format": "alert", "url": f"{receiver.base}/raw"},
            ],
        },
    )
    caplog.set_level(logging.INFO)
    try:
        with Floorkit(settings) as kit, running_services(settings):
            kit.open_at(CONTAINER, "load-1", capacity_drums=3)
            kit.scan("load-1", drum(1))
            kit.scan("load-1", drum(1))  # a duplicate: info, for the raw target only
            kit.wait_alert("duplicate_scan")
            kit.scan("load-1", drum(2))
            kit.scan("load-1", drum(3))
            full = kit.wait_alert("container_full")
            telegram_path = f"/bot{BOT_TOKEN}/sendMessage"
            sent = wait_for(lambda: receiver.on(telegram_path), 30, "the Telegram message")
            signed = wait_for(lambda: receiver.on("/signed"), 30, "the signed delivery")
            wait_for(
                lambda: (
                    {alert_decoder.decode(s.body).kind for s in receiver.on("/raw")}
                    >= {AlertKind.DUPLICATE_SCAN, AlertKind.CONTAINER_FULL}
                ),
                30,
                "the raw deliveries",
            )
    finally:
        receiver.close()

    # Telegram: sendMessage, JSON {chat_id, text}, the text in Indonesian, the time in WIB.
    assert len(sent) == 1
    message = json.loads(sent[0].body)
    assert sent[0].headers["content-type"] == "application/json"
    assert set(message) == {"chat_id", "text"}
    assert message["chat_id"] == CHAT_ID
    assert message["text"].splitlines()[0] == f"PERINGATAN · Kontainer penuh · {CONTAINER}"
    assert _wib(full.raised_at) in message["text"]
    assert message["text"].splitlines()[-2].startswith("Muncul ")
    assert message["text"].splitlines()[-1] == site

    # Signed: the warning and above only (no duplicate scan); the HMAC checks out.
    kinds = set()
    for s in signed:
        stamp = s.headers["x-gudang-timestamp"]
        assert abs(int(stamp) - time.time()) < 600
        expected = hmac.new(SECRET.encode(), f"{stamp}.".encode() + s.body, hashlib.sha256)
        assert s.headers["x-gudang-signature"] == f"sha256={expected.hexdigest()}"
        body = json.loads(s.body)
        assert set(body) == {"v", "site", "text", "alert"}
        assert body["v"] == 1
        assert body["site"] == site
        kinds.add(body["alert"]["kind"])
    assert "container_full" in kinds
    assert "duplicate_scan" not in kinds

    # The bot's token is in the URL: never in a log line.
    assert "webhook http://127.0.0.1" in caplog.text  # the failed first attempt, masked
    assert BOT_TOKEN not in caplog.text
    assert SECRET not in caplog.text


def _alert(**kw: Any) -> AlertV1:
    base: dict[str, Any] = {
        "id": "container_full-CSQU3054383",
        "kind": AlertKind.CONTAINER_FULL,
        "severity": "warning",
        "subject": "CSQU3054383",
        "raised_at": datetime(2026, 12, 1, 7, 3, tzinfo=UTC),
    }
    return AlertV1(**{**base, **kw})


def test_the_texts_in_both_languages_and_zones() -> None:
    site = SiteSettings(name="blitar", language="en", timezone="Asia/Makassar")
    acked = _alert(
        state=AlertState.ACKNOWLEDGED,
        acknowledged_at=datetime(2026, 12, 1, 16, 30, tzinfo=UTC),
        acknowledged_by="budi",
    )
    assert text(acked, site) == (
        "WARNING · Container full · CSQU3054383\nAcknowledged 2 Dec 2026 00:30 WITA by budi\nblitar"
    )
    site = SiteSettings(name="blitar")  # Indonesian, WIB: the defaults
    dup = _alert(
        kind=AlertKind.DUPLICATE_SCAN,
        severity="info",
        subject="load-1",
        station="load-1",
        data={"count": 4},
    )
    assert (
        text(dup, site) == "INFO · Scan ganda · load-1\n4 kali\nMuncul 1 Des 2026 14:03 WIB\nblitar"
    )
    # Every kind has its words in both languages.
    for lang in ("id", "en"):
        assert set(KIND_WORDS[lang]) == set(AlertKind)


def test_filters_and_what_the_settings_refuse() -> None:
    only_full = NotifySettings(url="http://x/", kinds=["container_full"])
    assert wants(only_full, _alert())
    assert not wants(only_full, _alert(kind=AlertKind.DUPLICATE_SCAN))
    critical = NotifySettings(url="http://x/", min_severity="critical")
    assert not wants(critical, _alert())
    assert wants(critical, _alert(severity="critical"))
    # A raw target's body is the AlertV1 JSON, byte for byte.
    raw = encode(_alert())
    assert request(NotifySettings(url="http://x/"), raw, SiteSettings()) == (
        raw,
        {"Content-Type": "application/json"},
    )
    for bad in (
        {"url": "http://x/", "kinds": ["container_ful"]},
        {"format": "telegram", "bot_token": BOT_TOKEN},
        {"format": "signed", "url": "http://x/", "secret": "short"},
        {"format": "signed"},
    ):
        with pytest.raises(ValidationError):
            NotifySettings.model_validate(bad)
    for bad_alerts in ({"grouped_kinds": ["container_full"]}, {"dashboard_kinds": ["nope"]}):
        with pytest.raises(ValidationError):
            AlertSettings.model_validate(bad_alerts)
    # Two chats of one bot are two queues, never one shared.
    a = NotifySettings(format="telegram", bot_token=BOT_TOKEN, chat_id="1")
    b = NotifySettings(format="telegram", bot_token=BOT_TOKEN, chat_id="2")
    assert a.target == b.target
    assert a.key != b.key
