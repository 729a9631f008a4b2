"""The recent decisions, kept in a bounded JSON-lines file in the state directory (no images).

Appends happen on the log's own thread, so the frame loop never waits for the disk. The file is
rewritten to the newest `keep` entries when it has grown to twice that, so it stays bounded however
long the kiosk runs; a line that does not parse (a torn write at power loss) is skipped on reading.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import queue
import threading
from collections import deque
from pathlib import Path
from typing import Any

log = logging.getLogger("kiosk.web")

CSV_COLUMNS = ("ts", "decision", "reason", "track", "labels", "scores", "latency_ms", "id")


def log_entry(event: dict[str, Any]) -> dict[str, Any]:
    """What the log keeps of an event: time, decision, reason, person, labels and scores; no boxes, no images."""
    entry = {k: event.get(k) for k in ("id", "ts", "decision", "reason", "latency_ms")}
    if event.get("track") is not None:
        entry["track"] = event["track"]
    entry["faces"] = [{"label": f.get("label"), "score": f.get("score")} for f in event.get("faces", [])]
    return entry


class EventLog:
    """The newest `keep` decisions, in memory and in `path`; `add` never blocks on the disk."""

    def __init__(self, path: Path, keep: int) -> None:
        self.path = path
        self.keep = keep
        self._lock = threading.Lock()
        self._recent: deque[dict[str, Any]] = deque(maxlen=keep)
        self._lines = 0
        self._queue: "queue.Queue[dict[str, Any] | None]" = queue.Queue()
        self.write_errors = 0
        path.parent.mkdir(parents=True, exist_ok=True)
        self._load()
        self._written = deque(self._recent, maxlen=keep)  # what the file holds (the writer's own)
        self._thread = threading.Thread(target=self._writer, name="web-eventlog", daemon=True)
        self._thread.start()

    def _load(self) -> None:
        try:
            with self.path.open("r", encoding="utf-8", errors="replace") as f:
                for line in f:
                    self._lines += 1
                    try:
                        entry = json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(entry, dict):
                        self._recent.append(entry)
        except FileNotFoundError:
            pass

    def add(self, event: dict[str, Any]) -> None:
        """Keep one decision (from the frame loop: memory now, disk on the log's thread)."""
        entry = log_entry(event)
        with self._lock:
            self._recent.append(entry)
        self._queue.put(entry)

    def recent(self, limit: int | None = None) -> list[dict[str, Any]]:
        """The newest entries, oldest first."""
        with self._lock:
            items = list(self._recent)
        return items[-limit:] if limit else items

    def csv(self) -> str:
        """The recent entries as CSV (one face's label and score per `;`-separated item)."""
        out = io.StringIO()
        w = csv.writer(out, lineterminator="\r\n")
        w.writerow(CSV_COLUMNS)
        for e in self.recent():
            faces = e.get("faces") or []
            w.writerow([e.get("ts"), e.get("decision"), e.get("reason"), e.get("track", ""),
                        ";".join(str(f.get("label")) for f in faces),
                        ";".join(str(f.get("score")) for f in faces), e.get("latency_ms"), e.get("id")])
        return out.getvalue()

    def _writer(self) -> None:
        while True:
            entry = self._queue.get()
            if entry is None:
                return
            if "__flush__" in entry:
                entry["__flush__"].set()
                continue
            try:
                self._append(entry)
            except OSError as exc:
                self.write_errors += 1
                log.warning("web: cannot write the event log %s: %s", self.path, exc.strerror)

    def _append(self, entry: dict[str, Any]) -> None:
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(entry, separators=(",", ":")) + "\n")
        self._lines += 1
        self._written.append(entry)
        if self._lines >= 2 * self.keep:
            tmp = self.path.with_suffix(".tmp")
            kept = list(self._written)  # not recent(): it may hold entries still queued
            with tmp.open("w", encoding="utf-8") as f:
                for e in kept:
                    f.write(json.dumps(e, separators=(",", ":")) + "\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
            self._lines = len(kept)

    def flush(self, timeout: float = 5.0) -> None:
        """Wait until what was added is on disk (tests, close)."""
        done = threading.Event()
        self._queue.put({"__flush__": done})  # type: ignore[dict-item]
        done.wait(timeout)

    def close(self) -> None:
        """Write what is queued, then stop the writer; again is a no-op."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(5)
