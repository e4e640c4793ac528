"""Daily (rpd) counters of the in-process store, kept in a small SQLite file so a gateway restart
does not hand out a day's quota twice. Writes are batched and run in a worker thread."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

_SCHEMA = "CREATE TABLE IF NOT EXISTS daily (dep TEXT, day TEXT, count INTEGER, updated REAL, PRIMARY KEY (dep, day))"


class DailyFile:
    def __init__(self, path: str) -> None:
        self.path = path
        self.counts: dict[tuple[str, str], int] = {}
        self._dirty: dict[tuple[str, str], int] = {}
        self._load()

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=5)
        con.execute(_SCHEMA)
        return con

    def _load(self) -> None:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        con = self._connect()
        try:
            # Vendor days last at most ~25 h; older rows can go.
            con.execute("DELETE FROM daily WHERE updated < ?", (time.time() - 3 * 86400,))
            con.commit()
            for dep, day, count in con.execute("SELECT dep, day, count FROM daily"):
                self.counts[(dep, day)] = int(count)
        finally:
            con.close()

    def mark(self, dep: str, day: str, count: int) -> None:
        self._dirty[(dep, day)] = count

    def _write(self, rows: dict[tuple[str, str], int]) -> None:
        con = self._connect()
        try:
            now = time.time()
            # max(): a second process on the same file never moves a counter backwards.
            con.executemany(
                "INSERT INTO daily (dep, day, count, updated) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (dep, day) DO UPDATE SET count = max(count, excluded.count), updated = excluded.updated",
                [(d, day, c, now) for (d, day), c in rows.items()])
            con.commit()
        finally:
            con.close()

    def flush_sync(self) -> None:
        if self._dirty:
            rows, self._dirty = self._dirty, {}
            self._write(rows)

    async def flush(self) -> None:
        if self._dirty:
            rows, self._dirty = self._dirty, {}
            await asyncio.to_thread(self._write, rows)
