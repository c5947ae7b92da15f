"""The station's disk spool: every scan is written here before it is published.

A row leaves the spool only when the broker acknowledged its message (PUBACK). After a
broker outage or a restart of the bridge the spool drains in order, with the payloads
(and so the timestamps) exactly as first written.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path


class SpoolFull(Exception):
    """The spool reached its bound; the scan could not be accepted."""


@dataclass(frozen=True, slots=True)
class SpoolRow:
    """One spooled message."""

    seq: int
    topic: str
    payload: bytes


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
                " topic TEXT NOT NULL, payload BLOB NOT NULL)"
            )
            self._depth = int(self._db.execute("SELECT COUNT(*) FROM spool").fetchone()[0])

    @property
    def depth(self) -> int:
        """Messages waiting for the broker's acknowledgement."""
        return self._depth

    def put(self, topic: str, payload: bytes) -> int:
        """Store a message durably; returns its sequence number."""
        with self._lock:
            if self._depth >= self.capacity:
                raise SpoolFull(f"spool {self.path} holds {self._depth} messages (its bound)")
            cur = self._db.execute(
                "INSERT INTO spool (topic, payload) VALUES (?, ?)", (topic, payload)
            )
            self._depth += 1
            return int(cur.lastrowid or 0)

    def pending(self, after: int, limit: int) -> list[SpoolRow]:
        """Rows with seq > ``after``, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, topic, payload FROM spool WHERE seq > ? ORDER BY seq LIMIT ?",
                (after, limit),
            ).fetchall()
        return [SpoolRow(int(r[0]), str(r[1]), bytes(r[2])) for r in rows]

    def remove(self, seq: int) -> None:
        """Forget a row the broker acknowledged, now (one transaction)."""
        self.remove_many([seq])

    def remove_many(self, seqs: list[int]) -> None:
        """Forget rows the broker acknowledged, in one transaction (one fsync, not one each)."""
        if not seqs:
            return
        with self._lock:
            self._db.execute("BEGIN")
            try:
                removed = 0
                for seq in seqs:
                    removed += self._db.execute("DELETE FROM spool WHERE seq = ?", (seq,)).rowcount
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._depth -= removed

    def count(self) -> int:
        """Rows in the database, counted afresh (depth is kept in memory)."""
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM spool").fetchone()[0])

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()
