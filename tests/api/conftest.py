"""Fixtures of the API tests: real servers, real services, the API on a free port, tokens."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from api.auth import hash_token
from gudang.settings import Settings
from gudang.wire import QcResult, ScanKind, ScanV1, Topics, WeightStatus, encode
from gudang_ops.servers import ServerProcess
from tests.harness import Probe, make_settings, running_api, running_services, wait_for

CONTAINER = "CSQU3054383"
CONTAINER_2 = "MSKU1234565"  # ISO 6346 valid, a second container
STATION = "load-1"

# One configured (hashed) token per role, as an operator would set them up.
TOKENS = {
    "worker": "tok-worker-" + "w" * 32,
    "supervisor": "tok-supervisor-" + "s" * 32,
    "admin": "tok-admin-" + "a" * 32,
}


def auth(role: str) -> dict[str, str]:
    """The Authorization header of the role's token."""
    return {"Authorization": f"Bearer {TOKENS[role]}"}


@pytest.fixture
def api_settings(
    mosquitto: ServerProcess, influxd: ServerProcess, site: str, tmp_path: Path
) -> Settings:
    return make_settings(
        mosquitto,
        influxd,
        site,
        tmp_path,
        api={
            "allow_demo_tokens": False,
            "stream_heartbeat_s": 1.0,
            "packaging_kg_per_drum": 0.5,
            "tokens": [
                {"name": f"{role}-1", "role": role, "sha256": hash_token(tok)}
                for role, tok in TOKENS.items()
            ],
        },
    )


@dataclass
class Stack:
    """Services and API running for one test."""

    url: str
    settings: Settings
    probe: Probe

    @property
    def site(self) -> str:
        return self.settings.site.name

    @property
    def topics(self) -> Topics:
        return Topics(self.site)

    def get(self, path: str, role: str = "supervisor", **kw: object) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", headers=auth(role), timeout=15, **kw)  # type: ignore[arg-type]

    def post(self, path: str, body: object = None, role: str = "supervisor") -> httpx.Response:
        return httpx.post(f"{self.url}{path}", json=body, headers=auth(role), timeout=15)

    def put(self, path: str, body: object, role: str = "supervisor") -> httpx.Response:
        return httpx.put(f"{self.url}{path}", json=body, headers=auth(role), timeout=15)

    def scan(
        self,
        barcode: str,
        weight: float | None = 9.5,
        kind: ScanKind = ScanKind.DRUM,
        station: str = STATION,
        qc: QcResult | None = None,
    ) -> ScanV1:
        """Publish one scan as a station's bridge does."""
        s = ScanV1(
            id=uuid.uuid4().hex,
            ts=datetime.now(UTC),
            site=self.site,
            station=station,
            barcode=barcode,
            kind=kind,
            weight_kg=weight if kind is ScanKind.DRUM else None,
            weight_stable=weight is not None and kind is ScanKind.DRUM,
            weight_status=WeightStatus.STABLE if weight is not None else WeightStatus.NO_SCALE,
            qc=qc,
        )
        self.probe.publish(self.topics.scan(station), encode(s))
        return s

    def open_and_point(self, container: str = CONTAINER, station: str = STATION) -> None:
        """Open a container and point a station at it, through the API."""
        r = self.post("/api/v1/containers", {"container_no": container})
        assert r.status_code == 201, r.text
        r = self.put(f"/api/v1/stations/{station}/container", {"container_no": container})
        assert r.status_code == 200, r.text

    def container(self, number: str = CONTAINER) -> dict[str, object]:
        r = self.get(f"/api/v1/containers/{number}")
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]

    def wait_drums(self, n: int, number: str = CONTAINER) -> dict[str, object]:
        return wait_for(  # type: ignore[no-any-return]
            lambda: (c := self.container(number))["drums"] == n and c,
            what=f"{n} drums in {number}",
        )


@pytest.fixture
def stack(api_settings: Settings) -> Iterator[Stack]:
    probe = Probe(api_settings)
    try:
        with running_services(api_settings), running_api(api_settings) as url:
            yield Stack(url, api_settings, probe)
    finally:
        probe.close()
