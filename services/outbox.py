"""The webhooks' deliveries on disk: they survive a restart; a flood cannot push out what matters.

One SQLite table of deliveries, each for one URL with a priority. A URL's deliveries go
out oldest first. Past a URL's bound a new delivery takes the place of the oldest one of
a lower priority, if any; else it is the one dropped. So a flood of low-severity alerts
(duplicate scans, say) never pushes out a ``container_full``.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from gudang.wire import AlertKind, AlertV1

# Higher goes first when the queue is full. A full container is a warning on the floor
# (the drums go on into the next one) but the one notification nobody may miss.
PRIORITY = {"info": 0, "warning": 1, "critical": 2}
MUST_ARRIVE = frozenset({AlertKind.CONTAINER_FULL})


def priority(alert: AlertV1) -> int:
    """The delivery priority of an alert transition."""
    if alert.kind in MUST_ARRIVE:
        return PRIORITY["critical"]
    return PRIORITY.get(alert.severity, 1)


def default_path(site: str) -> Path:
    """Where the outbox lives unless ``alerts.webhook_queue_path`` says: systemd's
    StateDirectory when set, else the user's state folder."""
    state = os.environ.get("STATE_DIRECTORY")
    if state:
        return Path(state.split(":")[0]) / f"webhooks-{site}.sqlite3"
    base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return base / "gudang" / f"webhooks-{site}.sqlite3"


@dataclass(frozen=True, slots=True)
class Delivery:
    """One queued POST."""

    seq: int
    url: str
    priority: int
    body: bytes


class Outbox:
    """Deliveries waiting, per URL, in SQLite (WAL): shared by the ingest and the senders."""

    def __init__(self, path: Path) -> None:
        self.path = path
        if str(path) != ":memory:":
            path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS outbox ("
                " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
                " url TEXT NOT NULL, priority INTEGER NOT NULL, body BLOB NOT NULL)"
            )
            self._db.execute("CREATE INDEX IF NOT EXISTS outbox_url ON outbox (url, priority, seq)")

    def put(self, url: str, prio: int, body: bytes, bound: int) -> Delivery | None:
        """Queue a delivery; past ``bound`` the one dropped is returned (the new one or an
        older one of a lower priority), else None."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                dropped: Delivery | None = None
                (count,) = self._db.execute(
                    "SELECT COUNT(*) FROM outbox WHERE url = ?", (url,)
                ).fetchone()
                if count >= bound:
                    row = self._db.execute(
                        "SELECT seq, url, priority, body FROM outbox WHERE url = ? AND priority < ?"
                        " ORDER BY priority, seq LIMIT 1",
                        (url, prio),
                    ).fetchone()
                    if row is None:
                        self._db.execute("COMMIT")
                        return Delivery(0, url, prio, body)
                    dropped = Delivery(int(row[0]), str(row[1]), int(row[2]), bytes(row[3]))
                    self._db.execute("DELETE FROM outbox WHERE seq = ?", (dropped.seq,))
                self._db.execute(
                    "INSERT INTO outbox (url, priority, body) VALUES (?, ?, ?)", (url, prio, body)
                )
                self._db.execute("COMMIT")
                return dropped
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    def oldest(self, url: str) -> Delivery | None:
        """The next delivery for ``url``."""
        with self._lock:
            row = self._db.execute(
                "SELECT seq, url, priority, body FROM outbox WHERE url = ? ORDER BY seq LIMIT 1",
                (url,),
            ).fetchone()
        return (
            None if row is None else Delivery(int(row[0]), str(row[1]), int(row[2]), bytes(row[3]))
        )

    def done(self, seq: int) -> None:
        """Forget a delivery: sent, or given up."""
        with self._lock:
            self._db.execute("DELETE FROM outbox WHERE seq = ?", (seq,))

    def count(self, url: str | None = None) -> int:
        """Deliveries waiting (for one URL, or all)."""
        with self._lock:
            if url is None:
                return int(self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
            return int(
                self._db.execute("SELECT COUNT(*) FROM outbox WHERE url = ?", (url,)).fetchone()[0]
            )

    def forget_others(self, urls: list[str]) -> int:
        """Drop deliveries for URLs no longer configured; how many."""
        with self._lock:
            marks = ",".join("?" * len(urls))
            cur = self._db.execute(
                f"DELETE FROM outbox WHERE url NOT IN ({marks})" if urls else "DELETE FROM outbox",
                urls,
            )
            return int(cur.rowcount)

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()
