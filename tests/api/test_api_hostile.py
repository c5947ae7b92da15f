"""A hostile client on the LAN, against ``gudang api`` as its own process under uvicorn.

Request bodies are refused from their headers (no token: 401; past the cap: 413) before
they are read, so the API's memory does not grow with what a client sends; live streams
are capped per token and a reader that takes nothing is dropped.
"""

from __future__ import annotations

import select
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from api.guard import MAX_BODY_BYTES
from bench.bridge_bench import site_toml
from gudang.settings import load_settings
from gudang.wire import (
    MAX_PAYLOAD_BYTES,
    DeviceStateV1,
    StationState,
    StationStatusV1,
    Topics,
    encode,
)
from gudang_ops.servers import ServerProcess, free_port
from tests.api.conftest import TOKENS, auth
from tests.api.test_api_stream import _next, sse_events
from tests.bridge.station_kit import gudang_command
from tests.harness import Probe, make_settings, wait_for

DROPPED = 'gudang_api_live_events{what="stream_slow_reader_dropped"}'

# What the attacker announced (and, before the guard, streamed): 200 MB.
HOSTILE_BYTES = 200 * 1024 * 1024
# An answer "at once": before this much of the body is sent. Loopback socket buffers take
# a few MB before the sender blocks, so this is what the kernel holds, not the API.
ANSWERED_WITHIN_BYTES = 16 * 1024 * 1024
# A stream reader that takes nothing for this long is dropped (a short one for the test).
STREAM_SEND_TIMEOUT_S = 5.0
# The API's RSS may grow this much over the whole hostile request ("a few MB").
RSS_GROWTH_MAX = 16 * 1024 * 1024


@dataclass
class ApiProcess:
    """``gudang api`` in a process of its own."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss(self) -> int:
        """The process's resident set, in bytes."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS")


def api_config(path: Path, mosquitto: ServerProcess, influxd: ServerProcess, site: str) -> int:
    """Write a settings file for ``gudang api`` with the test tokens; returns its port."""
    from api.auth import hash_token

    port = free_port()
    tokens = "".join(
        f'\n[[api.tokens]]\nname = "{role}-1"\nrole = "{role}"\nsha256 = "{hash_token(tok)}"\n'
        for role, tok in TOKENS.items()
    )
    path.write_text(
        site_toml(site, mosquitto)
        + f"""
[influx]
url = "http://127.0.0.1:{influxd.port}"
database = "db_{site}"

[api]
host = "127.0.0.1"
port = {port}
stream_heartbeat_s = 1.0
stream_send_timeout_s = {STREAM_SEND_TIMEOUT_S}
{tokens}""",
        encoding="utf-8",
    )
    return port


@pytest.fixture
def api_process(
    mosquitto: ServerProcess, influxd: ServerProcess, site: str, tmp_path: Path
) -> Iterator[ApiProcess]:
    config = tmp_path / "api.toml"
    port = api_config(config, mosquitto, influxd, site)
    log = tmp_path / "api.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [gudang_command(), "--config", str(config), "api"], stdout=out, stderr=out
        )
    api = ApiProcess(process, port, log)

    def healthy() -> bool:
        assert process.poll() is None, log.read_text()
        try:
            return httpx.get(f"{api.url}/api/v1/health", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(healthy, 60, "gudang api healthy")
        yield api
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def stream_body(
    port: int, head: bytes, total: int, chunked: bool = False, deadline_s: float = 120
) -> tuple[bytes, int]:
    """Send ``head`` then up to ``total`` body bytes, reading as we go; stop at the answer.

    Returns (the first bytes of the answer, body bytes sent when it came)."""
    chunk = b'{"container_no": "' + b"A" * (64 * 1024 - 20) + b'"}'
    sent = 0
    answer = b""
    deadline = time.monotonic() + deadline_s
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head)
        sock.setblocking(False)
        pending = b""
        while time.monotonic() < deadline:
            want_write = sent < total or pending
            readable, writable, _ = select.select([sock], [sock] if want_write else [], [], 1.0)
            if readable:
                try:
                    data = sock.recv(65536)
                except ConnectionResetError:
                    data = b""
                if data:
                    answer += data
                    if b"\r\n\r\n" in answer:
                        return _rest_of_answer(sock, answer), sent
                elif not answer:
                    raise AssertionError(f"connection closed without an answer after {sent} B")
                else:
                    return answer, sent
            if writable:
                if not pending:
                    piece = chunk[: max(0, min(len(chunk), total - sent))]
                    pending = (b"%x\r\n" % len(piece)) + piece + b"\r\n" if chunked else piece
                    sent += len(piece)
                try:
                    n = sock.send(pending)
                except (BrokenPipeError, ConnectionResetError):
                    pending = b""
                    continue
                pending = pending[n:]
    raise AssertionError(f"no answer within {deadline_s}s; {sent} body bytes sent")


def _rest_of_answer(sock: socket.socket, answer: bytes) -> bytes:
    """Read on until the answer's body (its Content-Length) is complete."""
    head, _, body = answer.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    sock.setblocking(True)
    sock.settimeout(30)
    while len(body) < length:
        data = sock.recv(65536)
        if not data:
            break
        body += data
    return head + b"\r\n\r\n" + body


def _head(content_length: int | None, token: str | None = None) -> bytes:
    lines = [
        b"POST /api/v1/containers HTTP/1.1",
        b"Host: gudang",
        b"Content-Type: application/json",
    ]
    if content_length is None:
        lines.append(b"Transfer-Encoding: chunked")
    else:
        lines.append(b"Content-Length: %d" % content_length)
    if token is not None:
        lines.append(b"Authorization: Bearer " + token.encode())
    return b"\r\n".join(lines) + b"\r\n\r\n"


def test_200mb_body_without_a_token_is_answered_401_at_once_and_memory_stays_flat(
    api_process: ApiProcess,
) -> None:
    before = api_process.rss()
    answer, sent = stream_body(api_process.port, _head(HOSTILE_BYTES), HOSTILE_BYTES)
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
    assert b"a bearer token is required" in answer
    assert sent < ANSWERED_WITHIN_BYTES, f"answered only after {sent} bytes of the body"
    # An unknown token the same way, and chunked: no Content-Length to refuse by.
    answer, sent = stream_body(api_process.port, _head(None, "not-a-token"), HOSTILE_BYTES, True)
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
    assert sent < ANSWERED_WITHIN_BYTES
    growth = api_process.rss() - before
    assert growth < RSS_GROWTH_MAX, f"the API grew by {growth / 1e6:.1f} MB"


def test_body_past_64_kib_is_refused_413_while_it_streams_even_with_a_token(
    api_process: ApiProcess,
) -> None:
    before = api_process.rss()
    token = TOKENS["supervisor"]
    # Announced too large: refused from the header.
    answer, sent = stream_body(api_process.port, _head(HOSTILE_BYTES, token), HOSTILE_BYTES)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert sent < ANSWERED_WITHIN_BYTES
    # Chunked: refused once the cap is passed, long before the sender stops.
    answer, sent = stream_body(api_process.port, _head(None, token), HOSTILE_BYTES, True)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"larger than" in answer
    assert MAX_BODY_BYTES < sent < ANSWERED_WITHIN_BYTES
    assert api_process.rss() - before < RSS_GROWTH_MAX
    # A body under the cap goes through to the route (422: not a container number).
    r = httpx.post(
        f"{api_process.url}/api/v1/containers",
        json={"container_no": "nope"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=15,
    )
    assert r.status_code == 422, r.text
    metrics = httpx.get(f"{api_process.url}/metrics", headers=auth("worker"), timeout=15).text
    assert "gudang_api_bodies_refused_total 2.0" in metrics


def _open_stream(port: int, token: str) -> tuple[socket.socket, int]:
    """A stream opened on a raw socket that will never be read past its status line."""
    sock = socket.socket()
    # A small receive buffer: the server's side fills sooner when nobody reads.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(30)
    sock.connect(("127.0.0.1", port))
    sock.sendall(
        f"GET /api/v1/stream?access_token={token} HTTP/1.1\r\nHost: gudang\r\n\r\n".encode()
    )
    line = b""
    while not line.endswith(b"\r\n"):
        data = sock.recv(1)
        assert data, "closed before a status line"
        line += data
    return sock, int(line.split()[1])


def _metric(url: str, name: str) -> float:
    text = httpx.get(f"{url}/metrics", headers=auth("admin"), timeout=15).text
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_200_unread_streams_of_one_token_lock_nobody_else_out_and_stalled_readers_are_dropped(
    api_process: ApiProcess,
    mosquitto: ServerProcess,
    influxd: ServerProcess,
    site: str,
    tmp_path: Path,
) -> None:
    per_token = load_settings(None).api.stream_max_per_token
    sockets: list[socket.socket] = []
    try:
        codes = []
        for _ in range(200):
            sock, code = _open_stream(api_process.port, TOKENS["worker"])
            codes.append(code)
            if code == 200:
                sockets.append(sock)
            else:
                sock.close()
        assert codes.count(200) == per_token, codes
        assert codes.count(429) == 200 - per_token, codes
        # Another token's dashboard still gets its stream and its snapshot.
        with sse_events(api_process.url, TOKENS["supervisor"]) as events:
            assert _next(events, "status")[1] == 200
            _next(events, "snapshot")
            # Changes pile up behind the readers that take nothing: fat station statuses
            # (each well under the payload bound) until the server gives up on them.
            settings = make_settings(mosquitto, influxd, site, tmp_path)
            probe = Probe(settings)
            try:
                status = StationStatusV1(
                    site=site,
                    station="load-9",
                    state=StationState.ONLINE,
                    devices=[
                        DeviceStateV1(name=f"d{i}", role="scale", state="error", detail="x" * 2000)
                        for i in range(5)
                    ],
                )
                payload = encode(status)
                assert len(payload) < MAX_PAYLOAD_BYTES
                topic = Topics(site).status("load-9")

                def dropped() -> bool:
                    for _ in range(20):  # ~200 KB a poll: enough, not a CPU hog
                        probe.link.publish(topic, payload, qos=0)
                    return _metric(api_process.url, DROPPED) >= per_token

                wait_for(dropped, 120, "every stalled stream dropped")
            finally:
                probe.close()
            # Each drop ended its response as a disconnect, not as an app that broke off.
            assert "without completing response" not in api_process.log.read_text()
            # The reading dashboard got the changes the stalled readers did not take.
            _next(events, "station")
        # Only the stalled streams are gone: every dashboard still gets a stream, and the
        # worker's slots are free again.
        with sse_events(api_process.url, TOKENS["supervisor"]) as events:
            assert _next(events, "status")[1] == 200
            _next(events, "snapshot")
        sock, code = _open_stream(api_process.port, TOKENS["worker"])
        sock.close()
        assert code == 200
    finally:
        for sock in sockets:
            sock.close()
