"""Which one-time changes to Home Assistant's discovery this kiosk has made, kept in its state folder.

The move from the per-entity topics and the removal of retired components (kiosk/messages/discovery.py) are
needed once. Sent at every connection, each migration message reached a Home Assistant that had moved
the entity long ago, and it logged a "conflicting discovery" line for each (16 per reconnect). So a
step counts as done only when the broker has acknowledged the last message of its sequence (QoS 1
PUBACK), and is remembered in `ha-discovery.json` beside the outbox: a reconnect or a restart does not
send it again, and a kiosk that stopped before the acknowledgement sends it at the next connection.

The file is ours, but a disk fills or a card gets corrupted: anything unreadable counts as nothing done
(Home Assistant copes with a repeated migration; it only logs), and a write that fails is logged, never
fatal.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path
from typing import Iterable

log = logging.getLogger("kiosk.mqtt")

FILE_NAME = "ha-discovery.json"
# Bounds on what is read back: the real file holds a dozen short keys.
MAX_FILE_BYTES = 64 * 1024
MAX_KEYS = 1000
MAX_KEY_CHARS = 300


class MigrationRecord:
    """The keys (kiosk/messages/discovery.py, migration_keys) of the steps done. With `path` None it lives in
    memory only: reconnects are covered, restarts are not (tests and tools that keep no state)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._done: set[str] = self._load() if path is not None else set()

    def _load(self) -> set[str]:
        assert self.path is not None
        try:
            with open(self.path, "rb") as f:
                raw = f.read(MAX_FILE_BYTES + 1)
        except FileNotFoundError:
            return set()
        except OSError as exc:
            log.warning("mqtt: cannot read %s (%s); Home Assistant's discovery migration is sent again",
                        self.path, exc.strerror)
            return set()
        try:
            if len(raw) > MAX_FILE_BYTES:
                raise ValueError(f"larger than {MAX_FILE_BYTES} bytes")
            done = json.loads(raw.decode("utf-8"))["done"]
            if not isinstance(done, list) or len(done) > MAX_KEYS or not all(
                    isinstance(k, str) and len(k) <= MAX_KEY_CHARS for k in done):
                raise ValueError("'done' is not a short list of short strings")
        except (ValueError, KeyError, TypeError, UnicodeDecodeError, RecursionError) as exc:
            log.warning("mqtt: %s is damaged (%s); Home Assistant's discovery migration is sent again",
                        self.path, type(exc).__name__)
            return set()
        return set(done)

    def pending(self, keys: Iterable[str]) -> list[str]:
        """`keys`, in their order, less those done."""
        with self._lock:
            return [k for k in keys if k not in self._done]

    def mark(self, keys: Iterable[str]) -> None:
        """Record `keys` as done (paho's network thread, on the PUBACK): in memory, then on disk."""
        with self._lock:
            self._done.update(keys)
            done = sorted(self._done)[:MAX_KEYS]
        if self.path is None:
            return
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump({"done": done}, f, indent=1)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)  # a power cut leaves the old file or the new one, never half
        except OSError as exc:
            log.warning("mqtt: cannot write %s (%s); Home Assistant's discovery migration will be sent "
                        "again at the next start", self.path, exc.strerror)
