"""Fixtures of the API tests: real servers, real services, the API on a free port, tokens."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.auth import hash_token
from bench.loadgen import station_scan
from firmware_bridge.simulators import ScaleSimulator
from gudang.settings import Settings
from gudang.wire import QcResult, ScanKind, ScanV1, Topics, encode
from gudang_ops.servers import ServerProcess
from tests.bridge.station_kit import Station, running_station
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


def role_tokens(*roles: str) -> list[dict[str, str]]:
    """The ``api.tokens`` entries of TOKENS (those of ``roles``, else all): ``<role>-1``, hashed."""
    return [
        {"name": f"{role}-1", "role": role, "sha256": hash_token(TOKENS[role])}
        for role in roles or TOKENS
    ]


def token_settings(
    mosquitto: ServerProcess,
    influxd: ServerProcess,
    site: str,
    tmp_path: Path,
    roles: tuple[str, ...] = (),
    api: dict[str, Any] | None = None,
    **sections: dict[str, Any],
) -> Settings:
    """Test settings whose API takes the configured tokens of ``roles`` only (no demo tokens)."""
    return make_settings(
        mosquitto,
        influxd,
        site,
        tmp_path,
        api={"allow_demo_tokens": False, "tokens": role_tokens(*roles), **(api or {})},
        **sections,
    )


@pytest.fixture
def api_settings(
    mosquitto: ServerProcess, influxd: ServerProcess, site: str, tmp_path: Path
) -> Settings:
    return token_settings(
        mosquitto,
        influxd,
        site,
        tmp_path,
        api={"stream_heartbeat_s": 1.0, "packaging_kg_per_drum": 0.5},
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

    def delete(self, path: str, role: str = "supervisor") -> httpx.Response:
        return httpx.delete(f"{self.url}{path}", headers=auth(role), timeout=15)

    def as_token(self, token: str, method: str, path: str, body: object = None) -> httpx.Response:
        """A request with ``token`` (a made or signed-in one) in place of a role's."""
        return httpx.request(
            method,
            f"{self.url}{path}",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
            timeout=15,
        )

    def scan(
        self,
        barcode: str,
        weight: float | None = 9.5,
        kind: ScanKind = ScanKind.DRUM,
        station: str = STATION,
        qc: QcResult | None = None,
    ) -> ScanV1:
        """Publish one scan as a station's bridge does."""
        s = station_scan(self.site, station, barcode, weight, kind, qc)
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


@contextmanager
def running_stack(settings: Settings) -> Iterator[Stack]:
    """Services and API with these settings, and a probe on their broker."""
    probe = Probe(settings)
    try:
        with running_services(settings), running_api(settings) as url:
            yield Stack(url, settings, probe)
    finally:
        probe.close()


@pytest.fixture
def stack(api_settings: Settings) -> Iterator[Stack]:
    with running_stack(api_settings) as running:
        yield running


@contextmanager
def scale_station(
    stack: Stack, tmp_path: Path, kg: float
) -> Iterator[tuple[Station, ScaleSimulator]]:
    """A bridge with a scanner and an MT-SICS scale at STATION, ``kg`` settled on the scale.

    Returned once the API knows the bridge's scale (its retained status) and that the
    station is online (the services' view), so a phone's scan there is weighed.
    """
    with running_station(stack.settings, tmp_path, "mt-sics") as st:
        scale = st.scale
        assert scale is not None
        assert st.bridge.link.wait_subscribed(10)
        wait_for(lambda: _has_scale(stack), what="the API sees the bridge's scale")
        scale.place(kg)
        wait_for(lambda: scale.reading().stable, what="drum settled")
        yield st, scale


def _has_scale(stack: Stack) -> bool:
    return any(
        s["station"] == STATION and s["online"] and any(d["role"] == "scale" for d in s["devices"])
        for s in stack.get("/api/v1/stations").json()
    )
