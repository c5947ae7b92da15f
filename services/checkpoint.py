"""Checkpoints of the live state in InfluxDB, and a start that reads the newest valid one.

A checkpoint is the whole live state (``Rebuilt``: the floor, the alerts, the ids and
points of the duplicate-detection window, the commands seen) serialised *generically*:
every attribute of the floor and every field of the dataclasses and msgspec structs in it
is written, named by its class, except what a class declares as configuration or wiring
(``not_state``) or as coming back from elsewhere (``transient``: a station's online
state comes from its retained status). The names of each class's fields go with it, and
a checkpoint whose classes do not match today's code is not used. So state added later
is in the next checkpoint without anyone listing it, and a checkpoint from before it is
never read into a state that lacks it.

Stored as measurement ``checkpoint``: the state as compressed JSON in parts of 60,000
characters (tag ``part``), all at one services' time. Part 0 carries the header (how many
parts, their SHA-256, the times below) and is written last, so a checkpoint cut off by a
crash has no header, or parts that do not match it: it is skipped.

A start (``load_state``) takes the newest checkpoint that is readable, of today's format
and younger than ``ingest.checkpoint_max_age_s``, then replays what was stored after it:
the services' own events (commands, alerts, quarantine) stamped after its ``stamp_ns``,
and scans from the start of its duplicate window on (a bridge's spool may store a scan
with an old device time after the checkpoint), skipping scans the checkpoint has applied
(their ids are in its window). Without one it reads all history (``rebuild``), the same
state by another road (tests/services/test_services_checkpoint.py).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import importlib
import json
import logging
import time
import zlib
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any

import msgspec
import pydantic

from gudang.influx import InfluxClient, InfluxError, line, quote_ident, quote_str
from gudang.settings import Settings
from gudang.storage import CHECKPOINT, TAG_PART, TAG_SITE, datetime_to_ns
from services.alerts import AlertBook
from services.floor import Floor
from services.rebuild import CHUNK_ROWS, Bounds, Rebuilt, finish, rebuild, replay
from services.recent import window_start_ns
from services.records import Stamper

log = logging.getLogger(__name__)

FORMAT = 1
PART_CHARS = 60_000  # InfluxDB 1.x keeps string fields up to 64 KiB
PARTS_PER_WRITE = 8  # about 0.5 MB per request
KEEP = 3  # checkpoints kept; older ones are deleted
CANDIDATES = 3  # how many of the newest a start tries before the full rebuild
_MODULES = ("services.", "gudang.")  # classes a checkpoint may name


class CheckpointUnreadable(ValueError):
    """A stored checkpoint that cannot be used (torn, corrupt, another format or code)."""


# -- the generic codec --------------------------------------------------------------------
def _name(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _resolve(name: str) -> type:
    module, _, qualname = name.partition(":")
    if not module.startswith(_MODULES):
        raise CheckpointUnreadable(f"class {name} is not one of Gudang's")
    try:
        obj: Any = importlib.import_module(module)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise CheckpointUnreadable(f"class {name} is gone: {exc}") from exc
    if not isinstance(obj, type):
        raise CheckpointUnreadable(f"{name} is not a class")
    return obj


def _skipped(cls: type) -> frozenset[str]:
    return frozenset(getattr(cls, "not_state", frozenset()) | getattr(cls, "transient", set()))


def _fields(cls: type, obj: Any = None) -> list[str]:
    """The names a checkpoint stores of a class (of ``obj`` for a plain class)."""
    skip = _skipped(cls)
    if dataclasses.is_dataclass(cls):
        return [f.name for f in dataclasses.fields(cls) if f.name not in skip]
    if issubclass(cls, msgspec.Struct):
        return list(cls.__struct_fields__)
    if issubclass(cls, pydantic.BaseModel):
        return list(cls.model_fields)
    if obj is None:
        raise TypeError(f"{_name(cls)}: plain class without an instance")
    return sorted(k for k in vars(obj) if k not in skip)


class Encoder:
    """Live state -> JSON-able tree; records each class's field names as it goes."""

    def __init__(self) -> None:
        self.classes: dict[str, list[str]] = {}

    def _note(self, cls: type, obj: Any = None) -> list[str]:
        name = _name(cls)
        names = self.classes.get(name)
        if names is None:
            names = self.classes[name] = _fields(cls, obj)
        return names

    def enc(self, v: Any) -> Any:
        """One value as a tree."""
        kind = type(v)
        if v is None or kind in (bool, int, float, str):
            return v
        if kind is list:
            return [self.enc(x) for x in v]
        if kind is tuple:
            return {"$t": [self.enc(x) for x in v]}
        if kind is datetime:
            return {"$dt": v.isoformat()}
        if isinstance(v, Enum):
            return {"$e": _name(kind), "v": v.value}
        if isinstance(v, bytes | bytearray):
            return {"$b": base64.b64encode(v).decode("ascii"), "mut": kind is bytearray}
        if kind is Counter:
            return {"$C": [[self.enc(k), self.enc(n)] for k, n in v.items()]}
        if kind is deque:
            return {"$q": [self.enc(x) for x in v], "max": v.maxlen}
        if isinstance(v, dict):
            out: dict[str, Any] = {"$d": [[self.enc(k), self.enc(x)] for k, x in v.items()]}
            if kind is not dict:  # a dict subclass (RecentIds): its class, no fields
                out["cls"] = _name(kind)
            return out
        if isinstance(v, set | frozenset):
            out = {"$s": [self.enc(x) for x in v], "frozen": isinstance(v, frozenset)}
            if kind not in (set, frozenset):
                out["cls"] = _name(kind)
            return out
        if isinstance(v, msgspec.Struct):
            self._note(kind)
            return {"$S": _name(kind), "v": msgspec.to_builtins(v)}
        if isinstance(v, pydantic.BaseModel):  # a SKU set live (SkuSettings)
            self._note(kind)
            return {"$P": _name(kind), "v": v.model_dump(mode="json")}
        if dataclasses.is_dataclass(v):
            names = self._note(kind)
            return {"$D": _name(kind), "f": {n: self.enc(getattr(v, n)) for n in names}}
        if kind.__module__.startswith(_MODULES) and hasattr(v, "__dict__"):
            names = self._note(kind, v)
            return {"$O": _name(kind), "a": {n: self.enc(getattr(v, n)) for n in names}}
        # State a checkpoint cannot hold must fail loudly, never be dropped.
        raise TypeError(f"a checkpoint cannot hold a {_name(kind)}: {v!r:.80}")


class Decoder:
    """JSON-able tree -> live state; ``factories`` make plain objects (the floor)."""

    def __init__(self, classes: dict[str, list[str]], factories: dict[type, Callable[[], Any]]):
        self.factories = factories
        self.checked: set[str] = set()
        self.classes = classes

    def _cls(self, name: str, obj: Any = None, check: bool = True) -> type:
        """The class named; with ``check``, its fields must be those the checkpoint has."""
        cls = _resolve(name)
        if check and name not in self.checked:
            stored = self.classes.get(name)
            now = _fields(cls, obj)
            if stored != now:
                raise CheckpointUnreadable(f"{name} has changed: {stored} then, {now} now")
            self.checked.add(name)
        return cls

    def dec(self, v: Any) -> Any:
        """One tree as a value."""
        if v is None or isinstance(v, bool | int | float | str):
            return v
        if isinstance(v, list):
            return [self.dec(x) for x in v]
        if "$t" in v:
            return tuple(self.dec(x) for x in v["$t"])
        if "$dt" in v:
            return datetime.fromisoformat(v["$dt"])
        if "$e" in v:
            return self._cls(v["$e"], check=False)(v["v"])
        if "$b" in v:
            raw = base64.b64decode(v["$b"])
            return bytearray(raw) if v["mut"] else raw
        if "$C" in v:
            return Counter({self.dec(k): self.dec(n) for k, n in v["$C"]})
        if "$q" in v:
            return deque((self.dec(x) for x in v["$q"]), maxlen=v["max"])
        if "$d" in v:
            items = ((self.dec(k), self.dec(x)) for k, x in v["$d"])
            cls = self._cls(v["cls"], check=False) if "cls" in v else dict
            return cls(items)
        if "$s" in v:
            members = (self.dec(x) for x in v["$s"])
            if "cls" in v:
                return self._cls(v["cls"], check=False)(members)
            return frozenset(members) if v["frozen"] else set(members)
        if "$S" in v:
            return msgspec.convert(v["v"], self._cls(v["$S"]))
        if "$P" in v:
            model: Any = self._cls(v["$P"])
            return model.model_validate(v["v"])
        if "$D" in v:
            cls = self._cls(v["$D"])
            return cls(**{n: self.dec(x) for n, x in v["f"].items()})
        if "$O" in v:
            cls = _resolve(v["$O"])
            factory = self.factories.get(cls)
            if factory is None:
                raise CheckpointUnreadable(f"no way to make a {v['$O']}")
            obj = factory()
            self._cls(v["$O"], obj)
            for n, x in v["a"].items():
                setattr(obj, n, self.dec(x))
            restored = getattr(obj, "after_checkpoint", None)
            if restored is not None:
                restored()  # what it derives from its state (the floor: the live catalogue)
            return obj
        raise CheckpointUnreadable(f"unknown value in checkpoint: {str(v)[:80]}")


def state_of(state: Rebuilt) -> dict[str, Any]:
    """The state as plain comparable values: what a checkpoint keeps (for tests, logs)."""
    enc = Encoder()
    tree = enc.enc(state)
    dec = Decoder(enc.classes, {Floor: lambda: Floor(state.floor.settings)})
    again = dec.dec(tree)
    return {n: _plain(getattr(again, n)) for n in _fields(Rebuilt)}


def _plain(v: Any) -> Any:
    if isinstance(v, Floor):
        return {n: _plain(getattr(v, n)) for n in _fields(Floor, v)}
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return {n: _plain(getattr(v, n)) for n in _fields(type(v))}
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, deque):
        return list(v)
    return v


# -- storing ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Header:
    """Part 0's fields: what a start needs to know before it reads the rest."""

    at_ns: int  # the checkpoint's point time
    format: int
    parts: int
    sha256: str
    stamp_ns: int  # the services' stamp when taken: their later events are after it
    read_from_ns: int  # scans from here on may have come after it (its window's start)
    taken_at_ns: int  # the services' wall clock when taken


def encode_payload(state: Rebuilt) -> str:
    """The state as the text a checkpoint stores (compressed JSON, base64)."""
    enc = Encoder()
    tree = enc.enc(state)
    text = json.dumps({"classes": enc.classes, "state": tree}, separators=(",", ":"))
    return base64.b64encode(zlib.compress(text.encode(), 1)).decode("ascii")


def decode_payload(payload: str, settings: Settings) -> Rebuilt:
    """A checkpoint's text as the state; CheckpointUnreadable when it cannot be."""
    try:
        doc = json.loads(zlib.decompress(base64.b64decode(payload)))
        dec = Decoder(doc["classes"], {Floor: lambda: Floor(settings.floor)})
        state = dec.dec(doc["state"])
    except CheckpointUnreadable:
        raise
    except (ValueError, KeyError, TypeError, zlib.error, msgspec.ValidationError) as exc:
        # (pydantic's ValidationError is a ValueError)
        raise CheckpointUnreadable(f"checkpoint does not decode: {exc!r:.200}") from exc
    if not isinstance(state, Rebuilt) or not isinstance(state.floor, Floor):
        raise CheckpointUnreadable("checkpoint holds no state")
    if not isinstance(state.alerts, AlertBook):
        raise CheckpointUnreadable("checkpoint holds no alerts")
    return state


def write_checkpoint(
    influx: InfluxClient, settings: Settings, state: Rebuilt, stamp: Stamper, now: datetime
) -> Header:
    """Store the state now (the header last); delete all but the newest ``KEEP``."""
    site = settings.site.name
    read_from = window_start_ns(now, settings.floor)
    # The window as of now: the checkpoint holds no id a start would not keep anyway.
    state.seen_scans.prune(read_from)
    state.scan_points.prune(read_from)
    stamp_ns = stamp.last_ns
    payload = encode_payload(state)
    parts = [payload[i : i + PART_CHARS] for i in range(0, len(payload), PART_CHARS)] or [""]
    at_ns = stamp(now)
    header = Header(
        at_ns=at_ns,
        format=FORMAT,
        parts=len(parts),
        sha256=hashlib.sha256(payload.encode()).hexdigest(),
        stamp_ns=stamp_ns,
        read_from_ns=read_from,
        taken_at_ns=datetime_to_ns(now),
    )
    lines = [
        line(CHECKPOINT, {TAG_SITE: site, TAG_PART: str(i)}, {"data": part}, at_ns)
        for i, part in enumerate(parts)
    ]
    head_fields = {k: v for k, v in dataclasses.asdict(header).items() if k != "at_ns"}
    lines[0] = line(
        CHECKPOINT, {TAG_SITE: site, TAG_PART: "0"}, {**head_fields, "data": parts[0]}, at_ns
    )
    rest = lines[1:]
    for i in range(0, len(rest), PARTS_PER_WRITE):
        influx.write(rest[i : i + PARTS_PER_WRITE])
    influx.write(lines[:1])  # the header last: without it the parts are nothing
    _delete_old(influx, site)
    return header


def _headers(influx: InfluxClient, site: str, limit: int) -> list[Header]:
    rows = influx.query(
        "SELECT format, parts, sha256, stamp_ns, read_from_ns, taken_at_ns "
        f"FROM {quote_ident(CHECKPOINT)} WHERE {quote_ident(TAG_SITE)} = {quote_str(site)} "
        f"AND {quote_ident(TAG_PART)} = '0' ORDER BY time DESC LIMIT {limit}"
    )
    out = []
    for row in rows:
        try:
            out.append(
                Header(
                    at_ns=int(row["time"]),
                    format=int(row["format"]),
                    parts=int(row["parts"]),
                    sha256=str(row["sha256"]),
                    stamp_ns=int(row["stamp_ns"]),
                    read_from_ns=int(row["read_from_ns"]),
                    taken_at_ns=int(row["taken_at_ns"]),
                )
            )
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("checkpoint header at %s unreadable: %s", row.get("time"), exc)
    return out


def _delete_old(influx: InfluxClient, site: str) -> None:
    """Old checkpoints are only storage: keep the newest KEEP (best effort)."""
    try:
        kept = _headers(influx, site, KEEP)
        if len(kept) < KEEP:
            return
        influx.query(
            f"DELETE FROM {quote_ident(CHECKPOINT)} WHERE {quote_ident(TAG_SITE)} = "
            f"{quote_str(site)} AND time < {kept[-1].at_ns}"
        )
    except InfluxError as exc:
        log.warning("old checkpoints not deleted (they only take space): %s", exc)


def read_checkpoint(influx: InfluxClient, settings: Settings, header: Header) -> Rebuilt:
    """The state of one stored checkpoint; CheckpointUnreadable when it is torn or corrupt."""
    if header.format != FORMAT:
        raise CheckpointUnreadable(f"format {header.format}, this code reads {FORMAT}")
    rows = influx.query(
        f"SELECT data FROM {quote_ident(CHECKPOINT)} WHERE {quote_ident(TAG_SITE)} = "
        f"{quote_str(settings.site.name)} AND time = {header.at_ns} "
        f"GROUP BY {quote_ident(TAG_PART)}"
    )
    parts: dict[int, str] = {}
    for row in rows:
        parts[int(row[TAG_PART])] = str(row.get("data") or "")
    missing = [i for i in range(header.parts) if i not in parts]
    if missing:
        raise CheckpointUnreadable(f"{len(missing)} of {header.parts} parts missing")
    payload = "".join(parts[i] for i in range(header.parts))
    if hashlib.sha256(payload.encode()).hexdigest() != header.sha256:
        raise CheckpointUnreadable("its parts do not match its SHA-256")
    return decode_payload(payload, settings)


def load_state(
    settings: Settings,
    influx: InfluxClient,
    now: datetime | None = None,
    chunk: int = CHUNK_ROWS,
) -> Rebuilt:
    """The live state: the newest valid checkpoint plus what came after, else all history."""
    now = now or datetime.now(UTC)
    started = time.monotonic()
    site = settings.site.name
    try:
        headers = _headers(influx, site, CANDIDATES)
    except InfluxError as exc:
        log.warning("no checkpoint read (%s): rebuilding from all history", exc)
        headers = []
    max_age_ns = int(settings.ingest.checkpoint_max_age_s * 1e9)
    for header in headers:
        age_ns = datetime_to_ns(now) - header.taken_at_ns
        if age_ns > max_age_ns:
            log.info(
                "newest checkpoint is %.1f days old: rebuilding from all history", age_ns / 86_400e9
            )
            break
        try:
            state = read_checkpoint(influx, settings, header)
        except (CheckpointUnreadable, InfluxError) as exc:
            log.warning("checkpoint at %d not used: %s", header.at_ns, exc)
            continue
        state.road = "checkpoint"
        state.last_ns = max(header.at_ns, header.stamp_ns)
        bounds = Bounds(
            scans_from=header.read_from_ns,
            stamped_from=header.stamp_ns + 1,
            keep_from=window_start_ns(now, settings.floor),
            skip_seen=True,
        )
        read = time.monotonic()
        replay(state, settings, influx, bounds, chunk)
        replayed = time.monotonic()
        finish(state, settings, influx, now, scans_from=header.read_from_ns)
        log.info(
            "started from the checkpoint at %d in %.2f s (checkpoint read %.2f s, %d events "
            "after it %.2f s, last scans %.2f s)",
            header.at_ns,
            time.monotonic() - started,
            read - started,
            state.events,
            replayed - read,
            time.monotonic() - replayed,
        )
        return state
    state = rebuild(settings, influx, chunk, now)
    log.info("rebuilt from all history in %.2f s", time.monotonic() - started)
    return state
