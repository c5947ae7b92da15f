"""The station's disk spool: every scan is written here before it is published.

A row leaves the spool only when the services' receipt names its id (the scan is stored
in InfluxDB, or refused for good): the broker's PUBACK is not enough, since a broker
killed before its next save loses what it held in memory. After a broker outage or a
restart of the bridge the spool drains in order, with the payloads (and so the
timestamps) exactly as first written.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

import msgspec

from gudang.wire import scan_ref_decoder


class SpoolFull(Exception):
    """The spool reached its bound; the scan could not be accepted."""


@dataclass(frozen=True, slots=True)
class SpoolRow:
    """One spooled message."""

    seq: int
    topic: str
    payload: bytes
    msg_id: str | None  # the scan's id: what receipts name


def _payload_id(payload: bytes) -> str | None:
    try:
        return scan_ref_decoder.decode(payload).id
    except msgspec.DecodeError:
        return None


class Spool:
    """An ordered, bounded, durable queue in SQLite (WAL, synchronous=FULL)."""

    def __init__(self, path: Path, capacity: int) -> None:
        self.path = path
        self.capacity = capacity
        path.parent.mkdir(parents=True, exist_ok=True)
        # One connection shared under a lock: paho's thread deletes, the bridge inserts.
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            # FULL: a scan the station accepted survives a power cut, not only a crash.
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS spool ("
                " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
                " topic TEXT NOT NULL, payload BLOB NOT NULL, msg_id TEXT)"
            )
            self._migrate()
            self._db.execute("CREATE INDEX IF NOT EXISTS spool_msg_id ON spool (msg_id)")
            self._depth = int(self._db.execute("SELECT COUNT(*) FROM spool").fetchone()[0])

    def _migrate(self) -> None:
        """A spool written before receipts has no ``msg_id``: add it, read from payloads."""
        columns = {str(r[1]) for r in self._db.execute("PRAGMA table_info(spool)")}
        if "msg_id" in columns:
            return
        self._db.execute("BEGIN")
        try:
            self._db.execute("ALTER TABLE spool ADD COLUMN msg_id TEXT")
            rows = self._db.execute("SELECT seq, payload FROM spool").fetchall()
            for seq, payload in rows:
                self._db.execute(
                    "UPDATE spool SET msg_id = ? WHERE seq = ?", (_payload_id(bytes(payload)), seq)
                )
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:  # SQLite rolls back by itself after an I/O error
                self._db.execute("ROLLBACK")
            raise

    @property
    def depth(self) -> int:
        """Messages kept: not yet sent, or sent and waiting for their receipt."""
        return self._depth

    def put(self, topic: str, payload: bytes, msg_id: str) -> int:
        """Store a message durably; returns its sequence number."""
        with self._lock:
            if self._depth >= self.capacity:
                raise SpoolFull(f"spool {self.path} holds {self._depth} messages (its bound)")
            cur = self._db.execute(
                "INSERT INTO spool (topic, payload, msg_id) VALUES (?, ?, ?)",
                (topic, payload, msg_id),
            )
            self._depth += 1
            return int(cur.lastrowid or 0)

    def pending(self, after: int, limit: int) -> list[SpoolRow]:
        """Rows with seq > ``after``, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, topic, payload, msg_id FROM spool WHERE seq > ? ORDER BY seq LIMIT ?",
                (after, limit),
            ).fetchall()
        return [SpoolRow(int(r[0]), str(r[1]), bytes(r[2]), r[3]) for r in rows]

    def rows(self, seqs: list[int]) -> list[SpoolRow]:
        """The rows of these sequence numbers still kept, oldest first."""
        if not seqs:
            return []
        out: list[SpoolRow] = []
        with self._lock:
            for seq in seqs:
                r = self._db.execute(
                    "SELECT seq, topic, payload, msg_id FROM spool WHERE seq = ?", (seq,)
                ).fetchone()
                if r is not None:
                    out.append(SpoolRow(int(r[0]), str(r[1]), bytes(r[2]), r[3]))
        out.sort(key=lambda row: row.seq)
        return out

    def remove_ids(self, ids: list[str]) -> list[int]:
        """Forget the rows of these message ids, in one transaction (one fsync, not one
        each); returns the sequence numbers removed. Ids not kept are ignored."""
        if not ids:
            return []
        removed: list[int] = []
        with self._lock:
            self._db.execute("BEGIN")
            try:
                for msg_id in ids:
                    removed.extend(
                        int(r[0])
                        for r in self._db.execute(
                            "DELETE FROM spool WHERE msg_id = ? RETURNING seq", (msg_id,)
                        ).fetchall()
                    )
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:  # SQLite rolls back by itself after an I/O error
                    self._db.execute("ROLLBACK")
                raise
            self._depth -= len(removed)
        return removed

    def holds(self, msg_id: str) -> bool:
        """Whether a row with this scan id is in the spool."""
        with self._lock:
            row = self._db.execute("SELECT 1 FROM spool WHERE msg_id = ? LIMIT 1", (msg_id,))
            return row.fetchone() is not None

    def count(self) -> int:
        """Rows in the database, counted afresh (depth is kept in memory)."""
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM spool").fetchone()[0])

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()
