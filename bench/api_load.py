"""The API under 64 concurrent clients while ingesting: dashboards and scanners polling.

Two shapes, both measured:
- *paced*: each client polls at a fixed rate (a dashboard refreshing), the latency the
  target is about;
- *closed loop*: each client sends its next request as soon as the last one answered,
  which finds the API's throughput (latency is then 64 / throughput by Little's law).

The clients speak HTTP/1.1 keep-alive on raw asyncio streams: a general-purpose client
(httpx) costs more CPU per request than the API itself, and the machine has 2 cores.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import multiprocessing.pool
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

# A response header block larger than this is not what the API sends.
MAX_HEADER_BYTES = 64 * 1024
# The local stack's well-known read token (api.allow_demo_tokens: loopback only).
AUTHORIZATION = "Bearer demo-worker"


@dataclass
class ApiLoadResult:
    """Latencies (seconds) of successful requests, and how many failed."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    seconds: float = 0.0

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds > 0 else 0.0


async def _get(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str, path: str
) -> int:
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: */*\r\n"
        f"Authorization: {AUTHORIZATION}\r\n\r\n".encode()
    )
    head = await reader.readuntil(b"\r\n\r\n")
    if len(head) > MAX_HEADER_BYTES:
        raise ValueError("response header too large")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for h in lines[1:]:
        if h.lower().startswith("content-length:"):
            length = int(h.split(":", 1)[1])
    await reader.readexactly(length)
    return status


async def _client(
    url: str,
    paths: Sequence[str],
    offset: int,
    interval: float,
    until: float,
    out: ApiLoadResult,
) -> None:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    reader, writer = await asyncio.open_connection(host, port)
    i = offset
    # Spread the paced clients' first requests over one interval.
    due = time.monotonic() + (interval * offset / 64 if interval else 0.0)
    try:
        while True:
            if interval:
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                due += interval
            if time.monotonic() >= until:
                return
            path = paths[i % len(paths)]
            i += 1
            start = time.perf_counter()
            try:
                status = await _get(reader, writer, host, path)
            except (OSError, ValueError, asyncio.IncompleteReadError):
                out.errors += 1
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
                continue
            if status == 200:
                out.latencies.append(time.perf_counter() - start)
            else:
                out.errors += 1
    finally:
        writer.close()


async def _load(
    url: str, paths: Sequence[str], clients: int, seconds: float, per_client_rate: float
) -> ApiLoadResult:
    out = ApiLoadResult()
    interval = 1.0 / per_client_rate if per_client_rate > 0 else 0.0
    start = time.monotonic()
    until = start + seconds
    await asyncio.gather(*(_client(url, paths, i, interval, until, out) for i in range(clients)))
    out.seconds = time.monotonic() - start
    return out


def run_api_load(
    url: str, paths: Sequence[str], clients: int, seconds: float, per_client_rate: float = 0.0
) -> ApiLoadResult:
    """Run ``clients`` concurrent clients for ``seconds``; rate 0 means closed loop."""
    return asyncio.run(_load(url, paths, clients, seconds, per_client_rate))


def start_api_load(
    url: str, paths: Sequence[str], clients: int, seconds: float, per_client_rate: float = 0.0
) -> tuple[multiprocessing.pool.Pool, multiprocessing.pool.AsyncResult[ApiLoadResult]]:
    """The same in a process of its own (so it does not share the bench's GIL)."""
    pool = mp.get_context("spawn").Pool(1)
    job = pool.apply_async(run_api_load, (url, list(paths), clients, seconds, per_client_rate))
    return pool, job
