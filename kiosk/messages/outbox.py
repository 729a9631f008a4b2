"""The on-disk outbox: every event is written here before it is published, and deleted only when
the broker acknowledges it (QoS 1 PUBACK). A broker outage, a kiosk crash or a power cut therefore
loses nothing; after a restart the backlog is sent again, in order (consumers de-duplicate by event id).

SQLite in WAL mode with synchronous=FULL: a committed row survives a power cut. Bounded by rows and
age; when it must drop, it drops the oldest and counts them.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ..closing import Closing
from ..errors import KioskError


@dataclass(frozen=True)
class Row:
    """One stored message; `created` is time.time() of put()."""

    id: int
    topic: str
    payload: bytes
    qos: int
    created: float


class Outbox(Closing):
    """The SQLite file at `path`, opened (and created) at once. Thread-safe. A context manager."""

    def __init__(self, path: Path, max_rows: int = 10000, max_age_s: float = 7 * 86400) -> None:
        self.path = path
        self.max_rows = max_rows
        self.max_age_s = max_age_s
        self._lock = threading.Lock()
        self._closed = False
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL,"
                " payload BLOB NOT NULL, qos INTEGER NOT NULL, created REAL NOT NULL)")
            self._db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)")
        except (sqlite3.Error, OSError) as exc:
            raise KioskError(f"outbox {path}: {exc}") from None

    def put(self, topic: str, payload: bytes, qos: int = 1, now: float | None = None) -> tuple[int, int]:
        """Store a message durably; returns (row id, how many old rows were dropped to make room)."""
        now = time.time() if now is None else now
        with self._lock:
            cur = self._db.execute("INSERT INTO outbox (topic, payload, qos, created) VALUES (?, ?, ?, ?)",
                                   (topic, payload, qos, now))
            row_id = int(cur.lastrowid)
            dropped = self._enforce_limits(now)
        return row_id, dropped

    def _enforce_limits(self, now: float) -> int:
        dropped = self._db.execute("DELETE FROM outbox WHERE created < ?", (now - self.max_age_s,)).rowcount
        (count,) = self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()
        if count > self.max_rows:
            dropped += self._db.execute(
                "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox ORDER BY id LIMIT ?)",
                (count - self.max_rows,)).rowcount
        if dropped:
            self._db.execute("INSERT INTO meta (key, value) VALUES ('dropped', ?) "
                             "ON CONFLICT(key) DO UPDATE SET value = value + excluded.value", (dropped,))
        return dropped

    def ack(self, row_id: int) -> None:
        """The broker has the message: forget it."""
        with self._lock:
            self._db.execute("DELETE FROM outbox WHERE id = ?", (row_id,))

    def pending(self) -> list[Row]:
        """Every stored message, oldest first."""
        with self._lock:
            rows = self._db.execute("SELECT id, topic, payload, qos, created FROM outbox ORDER BY id").fetchall()
        return [Row(int(r[0]), r[1], bytes(r[2]), int(r[3]), float(r[4])) for r in rows]

    def dropped_total(self) -> int:
        """How many messages the limits have dropped since the file was made."""
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = 'dropped'").fetchone()
        return int(row[0]) if row else 0

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])

    def close(self) -> None:
        """Close the file (what is stored stays for the next start); again is a no-op."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._db.close()
