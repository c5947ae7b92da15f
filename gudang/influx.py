"""InfluxDB through its v1 HTTP API: /write (line protocol), /query (InfluxQL), /ping.

InfluxDB 1.x serves these natively, 2.x and 3.x as compatibility endpoints, so one
client serves every version. Server-side only (needs httpx); the bridge never imports it.
"""

from __future__ import annotations

import base64
import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from gudang.settings import InfluxSettings, secret

log = logging.getLogger(__name__)

FieldValue = float | int | bool | str


class InfluxError(Exception):
    """Base of InfluxDB failures."""


class InfluxUnavailable(InfluxError):
    """InfluxDB could not be reached or failed on its side (5xx): retry later."""


class InfluxRejected(InfluxError):
    """InfluxDB refused the request as wrong (4xx): retrying the same will not help."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message


# -- line protocol -------------------------------------------------------------------------
# Escaping per https://docs.influxdata.com/influxdb/v1/write_protocols/line_protocol_reference/
_MEASUREMENT_ESC = str.maketrans({",": r"\,", " ": r"\ ", "\n": r"\n"})
_KEY_ESC = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ ", "\n": r"\n"})
# A string field keeps its newlines as they are: InfluxDB takes a line break inside the
# quotes as part of the value, while ``\n`` would be stored as a backslash and an n.
_STR_ESC = str.maketrans({'"': r"\"", "\\": "\\\\"})


# Field and tag keys are a handful of constants: escape each once.
_KEY_CACHE: dict[str, str] = {}
_KEY_CACHE_MAX = 4096  # keys from data (never expected) must not grow it without bound


def _key(key: str) -> str:
    escaped = _KEY_CACHE.get(key)
    if escaped is None:
        escaped = key.translate(_KEY_ESC)
        if len(_KEY_CACHE) < _KEY_CACHE_MAX:
            _KEY_CACHE[key] = escaped
    return escaped


def _tag_value(value: str) -> str:
    # Most tag values (site, station names) need no escape: skip translate for them.
    if "," in value or "=" in value or " " in value or "\n" in value:
        return value.translate(_KEY_ESC)
    return value


def _field(value: FieldValue) -> str:
    # Exact types first (the hot path); bool before int: bool is an int in Python.
    kind = type(value)
    if kind is str:
        text: str = value  # type: ignore[assignment]
        if '"' in text or "\\" in text:
            text = text.translate(_STR_ESC)
        return '"' + text + '"'
    if kind is float:
        if not math.isfinite(value):  # type: ignore[arg-type]
            raise ValueError(f"field value {value!r} is not finite")
        return repr(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i"
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"field value {value!r} is not finite")
        return repr(float(value))
    return '"' + value.translate(_STR_ESC) + '"'


def line(
    measurement: str,
    tags: Mapping[str, str],
    fields: Mapping[str, FieldValue | None],
    ts_ns: int,
) -> str:
    """One point in line protocol; ``None`` fields are left out, tags are sorted."""
    head = measurement.translate(_MEASUREMENT_ESC)
    for key in sorted(tags):
        val = tags[key]
        if val:  # InfluxDB refuses empty tag values
            head += "," + _key(key) + "=" + _tag_value(val)
    field_str = ",".join([_key(k) + "=" + _field(v) for k, v in fields.items() if v is not None])
    if not field_str:
        raise ValueError(f"point {measurement} has no fields")
    return f"{head} {field_str} {ts_ns}"


def _escape_newlines(text: str) -> str:
    # InfluxQL's scanner reads CR and CRLF as LF, ends a quoted literal at a raw LF and
    # the whole query at a NUL (parse errors: a 400 where a filter by such a value should
    # simply match nothing). ``\n`` is its one escape for LF; NUL has none, and no stored
    # name holds one, so it becomes U+FFFD (still matching nothing).
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "\ufffd")
    return text.replace("\n", "\\n")


def quote_ident(name: str) -> str:
    """An InfluxQL identifier in double quotes."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def quote_str(value: str) -> str:
    """An InfluxQL string literal in single quotes (any text: it never breaks the query)."""
    return "'" + _escape_newlines(value.replace("\\", "\\\\").replace("'", "\\'")) + "'"


def _series_rows(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for result in body.get("results", []):
        if "error" in result:
            raise InfluxRejected(400, str(result["error"]))
        for series in result.get("series", []) or []:
            cols = series["columns"]
            tags = series.get("tags") or {}
            for values in series.get("values", []):
                row = dict(zip(cols, values, strict=False))
                row.update(tags)
                rows.append(row)
    return rows


class _Base:
    def __init__(self, settings: InfluxSettings) -> None:
        self.settings = settings
        self._params: dict[str, str] = {"db": settings.database}
        if settings.retention_policy:
            self._params["rp"] = settings.retention_policy
        self._headers: dict[str, str] = {}
        if settings.token is not None:
            self._headers["Authorization"] = f"Token {secret(settings.token)}"
        elif settings.username:
            # HTTP Basic, never u=/p= in the URL, where access logs and proxies keep it.
            pair = f"{settings.username}:{secret(settings.password) or ''}".encode()
            self._headers["Authorization"] = f"Basic {base64.b64encode(pair).decode('ascii')}"

    def _write_params(self) -> dict[str, str]:
        return {**self._params, "precision": "ns"}

    def _query_params(self, q: str, db: bool = True) -> dict[str, str]:
        params = dict(self._params) if db else {}
        params["q"] = q
        params["epoch"] = "ns"
        return params

    @staticmethod
    def _check(response: httpx.Response, what: str) -> None:
        if response.status_code < 300:
            return
        try:
            message = str(response.json().get("error", response.text))
        except ValueError:
            message = response.text
        if response.status_code >= 500:
            raise InfluxUnavailable(f"{what}: HTTP {response.status_code}: {message}")
        raise InfluxRejected(response.status_code, message)


class InfluxClient(_Base):
    """Blocking client, for the services' ingest thread."""

    def __init__(self, settings: InfluxSettings) -> None:
        super().__init__(settings)
        self._http = httpx.Client(
            base_url=settings.url, timeout=settings.timeout_s, headers=self._headers
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def ping(self) -> str:
        """Return the server's version; raise InfluxUnavailable when it does not answer."""
        try:
            r = self._http.get("/ping")
        except httpx.HTTPError as exc:
            raise InfluxUnavailable(f"ping {self.settings.url}: {exc}") from exc
        self._check(r, "ping")
        return str(r.headers.get("X-Influxdb-Version", "unknown"))

    def ensure_database(self) -> None:
        """CREATE DATABASE if the settings ask for it (idempotent), with the retention
        policy of the scales' readings (as deploy/influxdb/setup.toml makes them)."""
        if self.settings.create_database:
            db = quote_ident(self.settings.database)
            self.query(f"CREATE DATABASE {db}", db=False)
            rp = self.settings.weight_retention_policy
            existing = {row.get("name") for row in self.query(f"SHOW RETENTION POLICIES ON {db}")}
            if rp not in existing:
                self.query(
                    f"CREATE RETENTION POLICY {quote_ident(rp)} ON {db} "
                    "DURATION 30d REPLICATION 1 SHARD DURATION 1d",
                    db=False,
                )

    def write(self, lines: Sequence[str], rp: str | None = None) -> None:
        """Write points (into retention policy ``rp``, default the settings');
        InfluxUnavailable means retry, InfluxRejected means never."""
        if not lines:
            return
        body = "\n".join(lines).encode()
        params = self._write_params()
        if rp is not None:
            params["rp"] = rp
        try:
            r = self._http.post("/write", params=params, content=body)
        except httpx.HTTPError as exc:
            raise InfluxUnavailable(f"write to {self.settings.url}: {exc}") from exc
        self._check(r, "write")

    def query(self, q: str, db: bool = True) -> list[dict[str, Any]]:
        """Run InfluxQL; rows as dicts (times in ns since the epoch, tags merged in)."""
        try:
            r = self._http.post("/query", params=self._query_params(q, db))
        except httpx.HTTPError as exc:
            raise InfluxUnavailable(f"query {self.settings.url}: {exc}") from exc
        self._check(r, "query")
        return _series_rows(r.json())


class AsyncInfluxReader(_Base):
    """Non-blocking reader for the API (queries only)."""

    def __init__(self, settings: InfluxSettings) -> None:
        super().__init__(settings)
        self._http = httpx.AsyncClient(
            base_url=settings.url, timeout=settings.timeout_s, headers=self._headers
        )

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def ping(self) -> str:
        """Return the server's version; raise InfluxUnavailable when it does not answer."""
        try:
            r = await self._http.get("/ping")
        except httpx.HTTPError as exc:
            raise InfluxUnavailable(f"ping {self.settings.url}: {exc}") from exc
        self._check(r, "ping")
        return str(r.headers.get("X-Influxdb-Version", "unknown"))

    async def query(self, q: str) -> list[dict[str, Any]]:
        """Run InfluxQL; rows as dicts (times in ns since the epoch, tags merged in)."""
        try:
            r = await self._http.get("/query", params=self._query_params(q))
        except httpx.HTTPError as exc:
            raise InfluxUnavailable(f"query {self.settings.url}: {exc}") from exc
        self._check(r, "query")
        return _series_rows(r.json())
