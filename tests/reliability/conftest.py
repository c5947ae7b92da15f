"""Fixtures of the reliability tests: the servers a test stops, kills and restarts itself."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import OwnServers, own_servers_stopped


@pytest.fixture
def own_servers(tmp_path: Path) -> Iterator[OwnServers]:
    """Start the test's own servers here (data under ``tmp_path``): each process, the
    restarted ones too, is stopped at teardown even when the test fails."""
    with own_servers_stopped(tmp_path) as servers:
        yield servers
