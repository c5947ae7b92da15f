"""Fixtures of the services tests: the floor kit, the stations' receipts, a webhook receiver."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gudang.settings import Settings
from tests.services.kit import Floorkit, Receipts, WebhookReceiver


@pytest.fixture
def kit(settings: Settings) -> Iterator[Floorkit]:
    """A Floorkit on the test's settings, connected before any services start."""
    with Floorkit(settings) as floorkit:
        yield floorkit


@pytest.fixture
def receipts(settings: Settings) -> Iterator[Receipts]:
    """Every receipt the services send the test's stations."""
    got = Receipts(settings)
    yield got
    got.probe.close()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    """A real HTTP server on loopback taking webhook POSTs."""
    webhooks = WebhookReceiver()
    yield webhooks
    webhooks.close()
