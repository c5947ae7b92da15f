"""The API under 64 concurrent clients: what a floor of dashboards polling looks like."""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import httpx


@dataclass
class ApiLoadResult:
    """Latencies (seconds) of successful requests, and how many failed."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    seconds: float = 0.0

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds > 0 else 0.0


async def _client(
    http: httpx.AsyncClient, paths: Sequence[str], offset: int, until: float, out: ApiLoadResult
) -> None:
    i = offset
    while time.monotonic() < until:
        path = paths[i % len(paths)]
        i += 1
        start = time.perf_counter()
        try:
            r = await http.get(path)
        except httpx.HTTPError:
            out.errors += 1
            continue
        if r.status_code == 200:
            out.latencies.append(time.perf_counter() - start)
        else:
            out.errors += 1


async def _load(url: str, paths: Sequence[str], clients: int, seconds: float) -> ApiLoadResult:
    out = ApiLoadResult()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as http:
        start = time.monotonic()
        until = start + seconds
        await asyncio.gather(*(_client(http, paths, i, until, out) for i in range(clients)))
        out.seconds = time.monotonic() - start
    return out


def _run(url: str, paths: Sequence[str], clients: int, seconds: float) -> ApiLoadResult:
    return asyncio.run(_load(url, paths, clients, seconds))


def start_api_load(
    url: str, paths: Sequence[str], clients: int, seconds: float
) -> tuple[mp.pool.Pool, mp.pool.AsyncResult[ApiLoadResult]]:
    """Run the clients in a process of their own (so they do not share the bench's GIL)."""
    pool = mp.get_context("spawn").Pool(1)
    return pool, pool.apply_async(_run, (url, list(paths), clients, seconds))
